package volume

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
)

// errCompactAborted stops a Compact that CleanupCompact or Destroy cut short.
var errCompactAborted = errors.New("compaction aborted")

// catchUpLocked is how many bytes appended since the last catch-up pass
// CommitCompact is willing to copy while holding the write lock; more than
// that and it runs another pass without the lock first.
const catchUpLocked = 1 << 20

// compaction is a finished Compact waiting for CommitCompact.
type compaction struct {
	snapshot int64      // .dat end when Compact began: every record before it was considered
	sb       superBlock // the .cpd's superblock (compaction revision + 1)
	cpdEnd   int64      // bytes in .cpd
	cpxSize  int64      // bytes in .cpx
	copied   int
}

// Compact writes the live, unexpired needles of the .dat as it was when
// Compact began into N.cpd (its superblock's compaction revision one more),
// with their index in N.cpx, while reads and writes go on; only the start
// (flushing the .idx buffer and noting the end offset) takes the write
// lock. A needle is copied, byte for byte, if the map still points at it
// when the copy reaches it; whatever changes later is caught up by
// CommitCompact. A second Compact while one runs is ErrCompacting; a
// Compact after an uncommitted one starts over.
func (v *Volume) Compact() error {
	if !v.compactMu.TryLock() {
		return fmt.Errorf("volume %d: %w: a compaction is running", v.id, ErrCompacting)
	}
	defer v.compactMu.Unlock()
	v.compaction = nil
	v.compactAbort.Store(false)

	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return fmt.Errorf("volume %d: %w", v.id, ErrClosed)
	}
	if err := v.flushIdxLocked(); err != nil {
		v.mu.Unlock()
		return err
	}
	snap, sb, dat := v.end.Load(), v.sb, v.dat
	v.mu.Unlock()

	start := time.Now()
	c, err := v.compactInto(dat, sb, snap)
	if err != nil {
		err = errors.Join(err, removeIfExists(v.base+".cpx"), removeIfExists(v.base+".cpd"))
		return fmt.Errorf("volume %d: compact: %w", v.id, err)
	}
	if err := failAt("compact:done"); err != nil {
		return err
	}
	v.compaction = c
	glog.Infof("volume %d: compacted %d bytes into %d (%d needles) in %v", v.id, snap, c.cpdEnd, c.copied, time.Since(start))
	return nil
}

// lookup is a map lookup that fails once the volume is closed.
func (v *Volume) lookup(k needle.Key) (needle.Value, bool, error) {
	v.fileMu.RLock()
	defer v.fileMu.RUnlock()
	if v.closed {
		return needle.Value{}, false, fmt.Errorf("volume %d: %w", v.id, ErrClosed)
	}
	nv, ok := v.nm.Get(k)
	return nv, ok, nil
}

// compactInto writes .cpd and .cpx from the records of dat before snap.
func (v *Volume) compactInto(dat io.ReaderAt, sb superBlock, snap int64) (*compaction, error) {
	newSB := sb
	newSB.compactRevision++
	// .cpd first, .cpx second: a crash in between leaves only .cpd, which
	// a load discards.
	cpd, err := os.OpenFile(v.base+".cpd", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer cpd.Close()
	cpx, err := os.OpenFile(v.base+".cpx", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer cpx.Close()

	c := &compaction{snapshot: snap, sb: newSB, cpdEnd: newSB.dataStart()}
	dw := bufio.NewWriterSize(cpd, 1<<20)
	xw := bufio.NewWriterSize(cpx, 64<<10)
	head := newSB.bytes()
	head = append(head, make([]byte, c.cpdEnd-int64(len(head)))...)
	dw.Write(head)
	copyRecord := func(key needle.Key, size uint32, rec []byte) {
		var b [needle.IdxEntrySize]byte
		needle.IdxEntry{Key: key, Offset: uint32(c.cpdEnd / needle.PaddingSize), Size: size}.Put(b[:])
		dw.Write(rec)
		xw.Write(b[:])
		c.cpdEnd += int64(len(rec))
		c.cpxSize += needle.IdxEntrySize
		c.copied++
	}
	now := time.Now()
	var lookupErr error
	live := func(k needle.Key, off int64, size uint32) bool {
		nv, ok, err := v.lookup(k)
		if err != nil {
			lookupErr = err
			return false
		}
		return ok && needle.OffsetBytes(nv.Offset) == off && nv.Size == size
	}
	// Damaged records no live needle is named at (superseded by read
	// repair) are stepped over; one the map still names stops the
	// compaction below.
	var skipped []damagedSpan
	stop, reason, err := salvageRecords(dat, sb.dataStart(), snap, sb.version, func(off int64, n *needle.Needle, rec []byte) error {
		if v.compactAbort.Load() {
			return errCompactAborted
		}
		if n.IsTombstone() || !live(n.Key, off, n.Size) || expired(n, sb.ttl, now) {
			return lookupErr
		}
		if c.cpdEnd+int64(len(rec)) > needle.MaxVolumeBytes {
			return fmt.Errorf("%w: compacted volume too large", ErrVolumeFull)
		}
		copyRecord(n.Key, n.Size, rec)
		return nil
	}, func(off int64, h needle.Header, rec []byte, perr error) bool {
		// A damaged record the index agrees with has trustworthy bounds:
		// keep its bytes as they are (reads keep failing the CRC, as
		// before) and go on.
		if !live(h.Key, off, h.Size) {
			return false
		}
		glog.Errorf("volume %d: compaction copies damaged needle %x at %d as is: %v", v.id, uint64(h.Key), off, perr)
		copyRecord(h.Key, h.Size, rec)
		return true
	}, func(d damagedSpan) { skipped = append(skipped, d) })
	if err == nil {
		err = lookupErr
	}
	if err != nil {
		return nil, err
	}
	if stop < snap {
		return nil, fmt.Errorf("record at offset %d: %w", stop, reason)
	}
	if len(skipped) > 0 {
		live, d, err := v.liveNeedlesIn(skipped)
		if err != nil {
			return nil, err
		}
		if len(live) > 0 {
			// Neither copied nor droppable: read repair or the
			// anti-entropy scrub replaces it first.
			return nil, fmt.Errorf("record at offset %d: live needle %x: %w", d.Off, uint64(live[0]), d.Reason)
		}
		glog.Warningf("volume %d: compaction drops damaged records no needle is live at: %s", v.id, describeSpans(skipped))
	}
	if err := dw.Flush(); err != nil {
		return nil, fmt.Errorf("write .cpd: %w", err)
	}
	if err := xw.Flush(); err != nil {
		return nil, fmt.Errorf("write .cpx: %w", err)
	}
	if err := cpd.Sync(); err != nil {
		return nil, fmt.Errorf("fsync .cpd: %w", err)
	}
	if err := cpx.Sync(); err != nil {
		return nil, fmt.Errorf("fsync .cpx: %w", err)
	}
	return c, nil
}

// liveNeedlesIn returns the live needles of the map whose record starts
// in one of the damaged stretches, with the first such stretch.
func (v *Volume) liveNeedlesIn(spans []damagedSpan) ([]needle.Key, damagedSpan, error) {
	v.fileMu.RLock()
	defer v.fileMu.RUnlock()
	if v.closed {
		return nil, damagedSpan{}, fmt.Errorf("volume %d: %w", v.id, ErrClosed)
	}
	var (
		keys  []needle.Key
		first damagedSpan
	)
	err := v.nm.Range(func(k needle.Key, nv needle.Value) error {
		if nv.Size == 0 || nv.Size == needle.TombstoneSize {
			return nil
		}
		off := needle.OffsetBytes(nv.Offset)
		for _, d := range spans {
			if off >= d.Off && off < d.Off+d.Len {
				if keys == nil {
					first = d
				}
				keys = append(keys, k)
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, first, fmt.Errorf("volume %d: %w", v.id, err)
	}
	return keys, first, nil
}

// catchUp copies the .dat records appended after a compaction's snapshot
// into .cpd/.cpx and the new map, in order: puts as they are, tombstones of
// keys the new map holds.
type catchUp struct {
	version  uint8
	cpd, cpx *os.File
	nm       needle.Map
	st       needle.IdxStats
	cpdEnd   int64
	cpxSize  int64
	from     int64 // next .dat offset to copy
}

func (cu *catchUp) copyUntil(dat io.ReaderAt, to int64) error {
	if to <= cu.from {
		return nil
	}
	dw := bufio.NewWriterSize(io.NewOffsetWriter(cu.cpd, cu.cpdEnd), 1<<20)
	xw := bufio.NewWriterSize(io.NewOffsetWriter(cu.cpx, cu.cpxSize), 64<<10)
	stop, reason, err := scanRecords(dat, cu.from, to, cu.version, func(off int64, n *needle.Needle, rec []byte) error {
		e := needle.IdxEntry{Key: n.Key, Size: n.Size}
		if n.IsTombstone() {
			if _, ok := cu.nm.Get(n.Key); !ok {
				return nil
			}
			e.Size = needle.TombstoneSize
		}
		units, err := needle.OffsetUnits(cu.cpdEnd)
		if err != nil || cu.cpdEnd+int64(len(rec)) > needle.MaxVolumeBytes {
			return fmt.Errorf("%w: compacted volume too large", ErrVolumeFull)
		}
		e.Offset = units
		var b [needle.IdxEntrySize]byte
		e.Put(b[:])
		dw.Write(rec)
		xw.Write(b[:])
		old, had, err := needle.Apply(cu.nm, e)
		if err != nil {
			return err
		}
		cu.st.Count(e, old, had)
		cu.cpdEnd += int64(len(rec))
		cu.cpxSize += needle.IdxEntrySize
		return nil
	}, nil)
	if err != nil {
		return fmt.Errorf("catch up: %w", err)
	}
	if stop < to {
		return fmt.Errorf("catch up: record at offset %d: %w", stop, reason)
	}
	if err := dw.Flush(); err != nil {
		return fmt.Errorf("write .cpd: %w", err)
	}
	if err := xw.Flush(); err != nil {
		return fmt.Errorf("write .cpx: %w", err)
	}
	cu.from = to
	return nil
}

// CommitCompact finishes the compaction: it catches up the records
// appended since Compact's snapshot (writes and tombstones, in order) in
// passes without the lock, then takes the write lock for a short final
// pass, fsyncs, renames .cpd to .dat and .cpx to .idx and swaps the new map
// in. Reads and writes wait only for that final step. Without a finished
// Compact (or while one runs) it returns ErrCompacting. If it fails before
// the renames the volume goes on with its old files (CleanupCompact removes
// the leftovers); after them, it reloads what is on disk.
func (v *Volume) CommitCompact() error {
	if !v.compactMu.TryLock() {
		return fmt.Errorf("volume %d: %w: a compaction is running", v.id, ErrCompacting)
	}
	defer v.compactMu.Unlock()
	c := v.compaction
	if c == nil {
		return fmt.Errorf("volume %d: %w: no compaction to commit", v.id, ErrCompacting)
	}
	v.compaction = nil
	start := time.Now()
	oldSize := v.end.Load()
	if err := v.commit(c); err != nil {
		return fmt.Errorf("volume %d: commit compaction: %w", v.id, err)
	}
	glog.Infof("volume %d: committed compaction: %d bytes now %d, in %v", v.id, oldSize, v.end.Load(), time.Since(start))
	return nil
}

func (v *Volume) commit(c *compaction) (err error) {
	cpd, err := os.OpenFile(v.base+".cpd", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	cpx, err := os.OpenFile(v.base+".cpx", os.O_RDWR, 0)
	if err != nil {
		cpd.Close()
		return err
	}
	nm, st, err := v.compactedMap(cpx, c.cpxSize)
	if err != nil {
		cpd.Close()
		cpx.Close()
		return err
	}
	owned := true // cpd, cpx and nm are ours to close on failure
	defer func() {
		if owned {
			cpd.Close()
			cpx.Close()
			nm.Close()
		}
	}()
	cu := &catchUp{version: c.sb.version, cpd: cpd, cpx: cpx, nm: nm, st: st, cpdEnd: c.cpdEnd, cpxSize: c.cpxSize, from: c.snapshot}

	for range 8 {
		v.mu.Lock()
		closed, to, dat := v.closed, v.end.Load(), v.dat
		v.mu.Unlock()
		if closed {
			return fmt.Errorf("volume %d: %w", v.id, ErrClosed)
		}
		if to-cu.from <= catchUpLocked {
			break
		}
		// dat stays open: only a commit (we hold compactMu) swaps it, and
		// a concurrent Close makes this read fail.
		if err := cu.copyUntil(dat, to); err != nil {
			return err
		}
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return fmt.Errorf("volume %d: %w", v.id, ErrClosed)
	}
	if err := cu.copyUntil(v.dat, v.end.Load()); err != nil {
		return err
	}
	if err := cpd.Sync(); err != nil {
		return fmt.Errorf("fsync .cpd: %w", err)
	}
	if err := cpx.Sync(); err != nil {
		return fmt.Errorf("fsync .cpx: %w", err)
	}
	if err := failAt("commit:synced"); err != nil {
		return err
	}
	if wm, ok := nm.(needle.IdxWatermarker); ok {
		// The bolt map is renamed to .bdb below: close it first.
		wm.SetIdxWatermark(needle.IdxWatermark{Offset: cu.cpxSize, Stats: cu.st})
		if err := nm.Close(); err != nil {
			return err
		}
	}

	v.fileMu.Lock()
	defer v.fileMu.Unlock()
	seq := v.writeSeq
	v.maxKeyFloor = max(v.maxKeyFloor, v.stats.MaxKey)
	if err := v.closeFilesLocked(); err != nil {
		glog.Warningf("volume %d: %v", v.id, err)
	}
	v.dat, v.idx, v.nm = nil, nil, nil
	owned = false
	if err := v.swapFiles(cpd, cpx, nm, c.sb, cu); err != nil {
		cpd.Close()
		cpx.Close()
		nm.Close()
		glog.Errorf("volume %d: commit failed after the old files were closed: %v; reloading from disk", v.id, err)
		rerr := resolveCompaction(v.base)
		if rerr == nil {
			rerr = v.load()
		}
		if rerr != nil {
			v.closed = true
			glog.Errorf("volume %d: reload failed, the volume is closed: %v", v.id, rerr)
			return errors.Join(err, rerr)
		}
		return err
	}
	if v.gsync != nil {
		// Every write so far is in the fsynced .cpd, now the .dat.
		v.gsync.markDone(seq)
	}
	return nil
}

// swapFiles renames the compacted files into place and installs them; the
// caller holds mu and fileMu and has closed the old files. The .cpd and
// .cpx handles become the .dat and .idx handles.
func (v *Volume) swapFiles(cpd, cpx *os.File, nm needle.Map, sb superBlock, cu *catchUp) error {
	if v.opts.MapKind == MapBolt {
		// Never leave a bolt map of the old .idx next to the new one.
		if err := removeIfExists(v.base + ".bdb"); err != nil {
			return err
		}
	}
	if err := os.Rename(v.base+".cpd", v.base+".dat"); err != nil {
		return err
	}
	if err := failAt("commit:renamed-dat"); err != nil {
		return err
	}
	if err := os.Rename(v.base+".cpx", v.base+".idx"); err != nil {
		return err
	}
	if err := syncDir(v.dir); err != nil {
		glog.Warningf("volume %d: %v", v.id, err)
	}
	if v.opts.MapKind == MapBolt {
		if err := os.Rename(v.base+".cpb", v.base+".bdb"); err != nil {
			return err
		}
		bm, err := needle.OpenBoltMap(v.base+".bdb", nil)
		if err != nil {
			return err
		}
		nm = bm
	}
	v.setOpened(cpd, cpx, nm, sb, cu.cpdEnd, cu.cpxSize, cu.st)
	return nil
}

// compactedMap builds the map of a compacted volume from its .cpx: in
// memory, or in N.cpb for the bolt map.
func (v *Volume) compactedMap(cpx *os.File, size int64) (needle.Map, needle.IdxStats, error) {
	var st needle.IdxStats
	var m needle.Map
	if v.opts.MapKind == MapBolt {
		path := v.base + ".cpb"
		if err := removeIfExists(path); err != nil {
			return nil, st, err
		}
		bm, err := needle.OpenBoltMap(path, nil)
		if err != nil {
			return nil, st, err
		}
		m = bm
	} else {
		m = needle.NewCompactMap()
	}
	if err := needle.LoadIdx(io.NewSectionReader(cpx, 0, size), m, &st); err != nil {
		m.Close()
		return nil, st, err
	}
	return m, st, nil
}

// CleanupCompact discards the compaction files (.cpd, .cpx and the bolt
// map being built) after a failure elsewhere, stopping a Compact that is
// still running. It is not an error if there are none.
func (v *Volume) CleanupCompact() error {
	v.compactAbort.Store(true)
	v.compactMu.Lock()
	defer v.compactMu.Unlock()
	v.compactAbort.Store(false)
	v.compaction = nil
	var err error
	for _, ext := range []string{".cpx", ".cpd", ".cpb"} {
		err = errors.Join(err, removeIfExists(v.base+ext))
	}
	if err != nil {
		return fmt.Errorf("volume %d: cleanup compaction: %w", v.id, err)
	}
	return nil
}
