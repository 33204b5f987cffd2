package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// Sentinel errors (errors.Is). Reads and deletes also return
// needle.ErrNotFound, needle.ErrDeleted, needle.ErrCookieMismatch and
// needle.ErrCRC.
var (
	// ErrReadOnly means the volume takes no writes: it reached the size
	// limit, is version 1, was marked read-only, or its directory is low
	// on disk space (then the error wraps ErrNoSpace too).
	ErrReadOnly = errors.New("volume is read-only")
	// ErrVolumeNotFound means the store has no volume with that id.
	ErrVolumeNotFound = errors.New("volume not found")
	// ErrVolumeExists means AddVolume (or Create) found the volume already
	// there.
	ErrVolumeExists = errors.New("volume already exists")
	// ErrNoFreeSlot means every location of the store is at its -max.
	ErrNoFreeSlot = errors.New("no free volume slot")
	// ErrVolumeFull means the write would pass the 32 GiB offset limit.
	ErrVolumeFull = errors.New("volume is full")
	// ErrCompacting means a second Compact while one runs, a Commit while a
	// Compact runs, or a Commit with no compaction to commit.
	ErrCompacting = errors.New("compaction in the wrong state")
	// ErrClosed means the volume was closed (or destroyed) before the call.
	ErrClosed = errors.New("volume is closed")
	// ErrBadCollection means a collection name is not 1 to 128 letters,
	// digits, '_' or '-' (the empty name is the default collection).
	ErrBadCollection = errors.New("malformed collection name")
	// ErrBadOptions means an Options field has an unknown value.
	ErrBadOptions = errors.New("bad volume options")
)

// MapKind chooses the needle map: "memory" (default, needle.CompactMap) or
// "bolt" (needle.BoltMap in N.bdb next to N.idx).
type MapKind string

// The needle map kinds.
const (
	MapMemory MapKind = "memory"
	MapBolt   MapKind = "bolt"
)

// Options apply to every volume of a store.
type Options struct {
	// MapKind is the needle map; empty means MapMemory.
	MapKind MapKind
	// Fsync makes Write/Delete return only after the .dat record is on disk;
	// concurrent writers share one fsync (group commit).
	Fsync bool
	// MinFreeSpace is the free space of a store directory below which its
	// volumes take no new needles (-minFreeSpace); the zero value sets no
	// threshold. Volumes outside a store ignore it.
	MinFreeSpace MinFreeSpace
}

func (o Options) check() error {
	switch o.MapKind {
	case "", MapMemory, MapBolt:
	default:
		return fmt.Errorf("%w: map kind %q (want %q or %q)", ErrBadOptions, o.MapKind, MapMemory, MapBolt)
	}
	return o.MinFreeSpace.check()
}

// idxFlushInterval is how long an .idx entry may wait in memory before it
// is written to the .idx file.
var idxFlushInterval = 200 * time.Millisecond

// idxFlushBytes makes a write flush the .idx buffer at once when it holds
// this much, so a burst of writes never builds a large buffer.
const idxFlushBytes = 64 << 10

// maxCollectionLen bounds collection names (they become file names).
const maxCollectionLen = 128

// CheckCollection returns nil if name is a valid collection name: empty
// (the default collection) or 1 to 128 ASCII letters, digits, '_' or '-'.
// Anything else is ErrBadCollection, so a name can never leave its
// directory.
func CheckCollection(name string) error {
	if len(name) > maxCollectionLen {
		return fmt.Errorf("%w: %d bytes, max %d", ErrBadCollection, len(name), maxCollectionLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q", ErrBadCollection, name)
		}
	}
	return nil
}

// FileBase returns the path of a volume's files without extension:
// dir/N or dir/collection_N.
func FileBase(dir, collection string, id needle.VolumeID) string {
	if collection == "" {
		return filepath.Join(dir, id.String())
	}
	return filepath.Join(dir, collection+"_"+id.String())
}

// Volume is one .dat/.idx pair with its needle map. Safe for concurrent use:
// writes serialize on a short per-volume lock, reads run in parallel.
//
// Locking: mu serializes appends (Write, Delete), the .idx buffer and the
// counters; fileMu guards the open files and the map against a compaction
// swap or Close. Readers take only fileMu's read lock. Whoever replaces dat,
// idx, nm, sb or closed holds mu and then fileMu; so holding either one
// makes them stable.
type Volume struct {
	id         needle.VolumeID
	collection string
	dir        string
	base       string
	opts       Options

	// Fixed when the volume is opened.
	version   uint8
	placement needle.Placement
	ttl       needle.TTL

	fileMu sync.RWMutex
	dat    *os.File
	idx    *os.File
	nm     needle.Map
	sb     superBlock
	closed bool

	mu          sync.Mutex
	end         atomic.Int64 // .dat size: where the next record goes; written under mu
	idxSize     int64        // bytes in the .idx file
	idxBuf      []byte       // .idx entries not yet written to the file
	stats       needle.IdxStats
	maxKeyFloor needle.Key // largest key ever seen, kept across compactions
	writeSeq    uint64     // appends so far; group commit waits on it
	flushTimer  *time.Timer
	flushArmed  bool
	// Replicated writes rolled back here (DeleteRolledBack), refused by
	// WriteReplica if they arrive within rolledBackKeep.
	rolledBack       map[needle.Key][]rolledBackWrite
	rolledBackN      int
	rolledBackExpiry time.Time // when the oldest of them may be forgotten

	readOnly  atomic.Bool   // marked read-only by SetReadOnly
	sizeLimit atomic.Uint64 // 0: none
	// space is the store directory's space state (nil outside a store):
	// while it is low the volume takes no new needles. Set before the
	// volume is shared.
	space *dirSpace

	gsync *groupSync // nil unless Options.Fsync

	compactMu    sync.Mutex // held by Compact, CommitCompact and CleanupCompact
	compactAbort atomic.Bool
	compaction   *compaction // a finished Compact waiting for its commit; under compactMu
}

func newVolume(dir, collection string, id needle.VolumeID, opts Options) *Volume {
	if opts.MapKind == "" {
		opts.MapKind = MapMemory
	}
	return &Volume{
		id:         id,
		collection: collection,
		dir:        dir,
		base:       FileBase(dir, collection, id),
		opts:       opts,
	}
}

// ID returns the volume id.
func (v *Volume) ID() needle.VolumeID { return v.id }

// Collection returns the collection name ("" for the default collection).
func (v *Volume) Collection() string { return v.collection }

// Placement returns the replication policy stored in the superblock.
func (v *Volume) Placement() needle.Placement { return v.placement }

// TTL returns the volume's ttl (the zero TTL for none).
func (v *Volume) TTL() needle.TTL { return v.ttl }

// Version returns the needle version of the volume's records (1, 2 or 3).
func (v *Volume) Version() uint8 { return v.version }

// Size returns the size of the .dat in bytes.
func (v *Volume) Size() uint64 { return uint64(v.end.Load()) }

// ReadOnly reports whether writes are refused: version 1, marked with
// SetReadOnly, at or above the size limit, or in a store directory low on
// disk space (which clears by itself when space returns).
func (v *Volume) ReadOnly() bool {
	if v.version == needle.Version1 || v.readOnly.Load() || v.lowOnSpace() {
		return true
	}
	limit := v.sizeLimit.Load()
	return limit > 0 && uint64(v.end.Load()) >= limit
}

// lowOnSpace reports whether the volume's store directory is low on disk
// space.
func (v *Volume) lowOnSpace() bool { return v.space != nil && v.space.low.Load() }

// SetReadOnly marks the volume read-only (or clears the mark). A version 1
// volume stays read-only, and the size limit still applies.
func (v *Volume) SetReadOnly(ro bool) { v.readOnly.Store(ro) }

// SetSizeLimit sets the size in bytes at or above which writes are refused
// with ErrReadOnly (0 means no limit). Deletes are still taken.
func (v *Volume) SetSizeLimit(bytes uint64) { v.sizeLimit.Store(bytes) }

// MaxFileKey returns the largest needle key the volume has ever held
// (deleted ones included), so that the master never hands it out again.
func (v *Volume) MaxFileKey() needle.Key {
	v.mu.Lock()
	defer v.mu.Unlock()
	return max(v.stats.MaxKey, v.maxKeyFloor)
}

// Info returns the volume's /status and heartbeat entry.
func (v *Volume) Info() wire.VolumeInfo {
	v.mu.Lock()
	st := v.stats
	rev := v.sb.compactRevision
	v.mu.Unlock()
	return wire.VolumeInfo{
		ID:               v.id,
		Size:             v.Size(),
		ReplicaPlacement: v.placement,
		TTL:              v.ttl.String(),
		Collection:       v.collection,
		Version:          v.version,
		FileCount:        uint64(max(st.FileCount, 0)),
		DeleteCount:      uint64(max(st.DeleteCount, 0)),
		DeletedByteCount: st.DeletedByteCount,
		ReadOnly:         v.ReadOnly(),
		CompactRevision:  rev,
	}
}

// GarbageRatio returns the share of the .dat taken by records that are no
// longer live (deleted or overwritten needles and tombstones), from 0 to 1.
// The record lengths are derived from the counters, padding estimated.
func (v *Volume) GarbageRatio() float64 {
	v.mu.Lock()
	st := v.stats
	v.mu.Unlock()
	size := v.end.Load()
	if size <= 0 {
		return 0
	}
	g := garbageBytes(st, v.version)
	if g >= size {
		return 1
	}
	return float64(g) / float64(size)
}

// garbageBytes estimates the bytes of dead records from replay counters:
// the bodies of removed needles plus their fixed parts (and 4 bytes of
// padding on average), plus one tombstone record per delete entry.
func garbageBytes(st needle.IdxStats, version uint8) int64 {
	overhead := needle.RecordLenUnpadded(0, version) + needle.PaddingSize/2
	deletes := max(st.Entries-st.FileCount, 0)
	return int64(st.DeletedByteCount) + max(st.DeleteCount, 0)*overhead + deletes*needle.RecordLen(0, version)
}

// Sync writes the buffered .idx entries and fsyncs the .dat, the .idx and
// (with the bolt map) the map.
func (v *Volume) Sync() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return fmt.Errorf("volume %d: %w", v.id, ErrClosed)
	}
	seq := v.writeSeq
	err := v.flushIdxLocked()
	if serr := v.dat.Sync(); serr != nil {
		err = errors.Join(err, fmt.Errorf("volume %d: fsync .dat: %w", v.id, serr))
	} else if v.gsync != nil {
		v.gsync.markDone(seq)
	}
	if serr := v.idx.Sync(); serr != nil {
		err = errors.Join(err, fmt.Errorf("volume %d: fsync .idx: %w", v.id, serr))
	}
	if s, ok := v.nm.(interface{ Sync() error }); ok {
		if serr := s.Sync(); serr != nil {
			err = errors.Join(err, fmt.Errorf("volume %d: %w", v.id, serr))
		}
	}
	return err
}

// Close flushes the .idx buffer, fsyncs and closes the files and the map.
// Calls after the first return nil.
func (v *Volume) Close() error {
	v.mu.Lock()
	if v.closed {
		// Closed before, or by a failed compaction commit.
		if v.flushTimer != nil {
			v.flushTimer.Stop()
		}
		v.mu.Unlock()
		if v.gsync != nil {
			v.gsync.stop()
		}
		return nil
	}
	seq := v.writeSeq
	err := v.flushIdxLocked()
	datErr := v.dat.Sync()
	if datErr != nil {
		err = errors.Join(err, fmt.Errorf("volume %d: fsync .dat: %w", v.id, datErr))
	}
	if serr := v.idx.Sync(); serr != nil {
		err = errors.Join(err, fmt.Errorf("volume %d: fsync .idx: %w", v.id, serr))
	}
	if v.flushTimer != nil {
		v.flushTimer.Stop()
	}
	v.fileMu.Lock()
	v.closed = true
	err = errors.Join(err, v.closeFilesLocked())
	v.fileMu.Unlock()
	v.mu.Unlock()
	if v.gsync != nil {
		if datErr == nil {
			v.gsync.markDone(seq)
		}
		v.gsync.stop()
	}
	return err
}

// closeFilesLocked closes the map and both files; the caller holds mu and
// fileMu.
func (v *Volume) closeFilesLocked() error {
	var err error
	if v.nm != nil {
		if cerr := v.nm.Close(); cerr != nil {
			err = fmt.Errorf("volume %d: close needle map: %w", v.id, cerr)
		}
	}
	for _, f := range []*os.File{v.dat, v.idx} {
		if f == nil {
			continue
		}
		if cerr := f.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("volume %d: %w", v.id, cerr))
		}
	}
	return err
}

// volumeExts are the extensions of every file a volume may own: data,
// index, bolt map, and the compaction files (.cpb is the bolt map being
// built for a compacted volume).
var volumeExts = []string{".cpx", ".cpd", ".cpb", ".dat", ".idx", ".bdb"}

// RemoveFiles removes every file of the volume whose path without extension
// is base (FileBase), the .dat included; missing files are no error. The
// volume must not be open.
func RemoveFiles(base string) error {
	for _, ext := range volumeExts {
		if err := removeIfExists(base + ext); err != nil {
			return err
		}
	}
	return nil
}

// Destroy closes the volume and removes every file it owns. A compaction in
// progress is stopped first.
func (v *Volume) Destroy() error {
	err := v.Close()
	v.compactAbort.Store(true)
	v.compactMu.Lock()
	defer v.compactMu.Unlock()
	v.compactAbort.Store(false)
	v.compaction = nil
	for _, ext := range volumeExts {
		if rerr := os.Remove(v.base + ext); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("volume %d: %w", v.id, rerr))
		}
	}
	glog.V(1).Infof("volume %d: destroyed %s.*", v.id, v.base)
	return err
}

// flushIdxLocked writes the buffered .idx entries to the file; the caller
// holds mu. With the bolt map it then records the watermark: every entry in
// the file is in the map.
func (v *Volume) flushIdxLocked() error {
	if len(v.idxBuf) == 0 {
		return nil
	}
	if _, err := v.idx.WriteAt(v.idxBuf, v.idxSize); err != nil {
		return fmt.Errorf("volume %d: write .idx: %w", v.id, err)
	}
	v.idxSize += int64(len(v.idxBuf))
	v.idxBuf = v.idxBuf[:0]
	if wm, ok := v.nm.(needle.IdxWatermarker); ok {
		wm.SetIdxWatermark(needle.IdxWatermark{Offset: v.idxSize, Stats: v.stats})
	}
	return nil
}

// armFlushLocked makes sure a timer will flush the .idx buffer; the caller
// holds mu.
func (v *Volume) armFlushLocked() {
	if v.flushArmed {
		return
	}
	v.flushArmed = true
	if v.flushTimer == nil {
		v.flushTimer = time.AfterFunc(idxFlushInterval, v.timedFlush)
	} else {
		v.flushTimer.Reset(idxFlushInterval)
	}
}

func (v *Volume) timedFlush() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.flushArmed = false
	if v.closed {
		return
	}
	if err := v.flushIdxLocked(); err != nil {
		glog.Errorf("%v (will retry)", err)
		v.armFlushLocked()
	}
}

// syncDir fsyncs a directory so that renames and new files in it survive a
// power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
