package volume

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
)

// recordPool holds buffers for encoding records, so a write allocates
// nothing for its record.
var recordPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 16<<10)
	return &b
}}

// maxPooledRecord keeps very large records' buffers out of the pool.
const maxPooledRecord = 4 << 20

// Write appends n and indexes it. n.Cookie, n.Key and the body fields are
// the caller's; Write stamps n.AppendAtNs with the current time when it is
// zero and leaves it alone otherwise (replicas store the primary's
// timestamp, so replica records are byte-identical). It also sets n.Size,
// n.Flags and n.Checksum as needle.AppendRecord does. Returns the stored
// data size (len(n.Data), i.e. after any gzip).
//
// A version 2 volume stores the record in version 2 (without the
// timestamp). Errors: ErrReadOnly (version 1, marked, or at the size
// limit), ErrVolumeFull (past the 32 GiB offset limit), ErrClosed,
// needle.ErrTooLarge for fields that do not fit. With Options.Fsync it
// returns after the record is on disk.
func (v *Volume) Write(n *needle.Needle) (size uint32, err error) {
	return v.write(n, false)
}

// write is Write, and WriteReplica when replica is set.
func (v *Volume) write(n *needle.Needle, replica bool) (size uint32, err error) {
	if n.IsTombstone() {
		return 0, fmt.Errorf("volume %d: write of a tombstone for key %x (use Delete)", v.id, uint64(n.Key))
	}
	if v.version == needle.Version1 {
		return 0, fmt.Errorf("volume %d: %w: version 1", v.id, ErrReadOnly)
	}
	if n.AppendAtNs == 0 {
		n.AppendAtNs = uint64(time.Now().UnixNano())
	}
	if len(n.Data) > maxPooledRecord {
		return v.writeLarge(n)
	}
	bp := recordPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledRecord {
			recordPool.Put(bp)
		}
	}()
	rec, err := n.AppendRecord((*bp)[:0], v.version)
	if err != nil {
		return 0, fmt.Errorf("volume %d: encode needle %x: %w", v.id, uint64(n.Key), err)
	}
	*bp = rec

	v.mu.Lock()
	if replica && v.rolledBackN > 0 && v.refuseRolledBackLocked(n) {
		v.mu.Unlock()
		return 0, fmt.Errorf("volume %d: key %x written at %d: %w", v.id, uint64(n.Key), n.AppendAtNs, ErrRolledBack)
	}
	seq, err := v.writeLocked(rec, needle.IdxEntry{Key: n.Key, Size: n.Size})
	v.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if err := v.waitSynced(seq); err != nil {
		return 0, err
	}
	return uint32(len(n.Data)), nil
}

// writeLarge is Write for a file too large to copy into a record buffer:
// the record goes to the .dat in three writes (the bytes before the data,
// the caller's data, the bytes after it), so the file is held in memory once.
// A crash between them leaves a torn record at the end, which a load cuts
// like any other.
func (v *Volume) writeLarge(n *needle.Needle) (uint32, error) {
	parts, at, err := n.AppendRecordParts(nil, v.version)
	if err != nil {
		return 0, fmt.Errorf("volume %d: encode needle %x: %w", v.id, uint64(n.Key), err)
	}
	v.mu.Lock()
	var seq uint64
	if err = v.writableLocked(); err == nil {
		seq, err = v.appendPartsLocked(parts[:at], n.Data, parts[at:], needle.IdxEntry{Key: n.Key, Size: n.Size}, "write:dat")
	}
	v.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if err := v.waitSynced(seq); err != nil {
		return 0, err
	}
	return uint32(len(n.Data)), nil
}

// writeLocked checks that the volume takes writes, then appends a live
// record; the caller holds mu.
func (v *Volume) writeLocked(rec []byte, e needle.IdxEntry) (uint64, error) {
	if err := v.writableLocked(); err != nil {
		return 0, err
	}
	if v.lowOnSpace() {
		return 0, fmt.Errorf("volume %d: %w: %w in %s", v.id, ErrReadOnly, ErrNoSpace, v.dir)
	}
	return v.appendLocked(rec, e, "write:dat")
}

// writableLocked returns why the volume takes no writes now, or nil; the
// caller holds mu.
func (v *Volume) writableLocked() error {
	if v.closed {
		return fmt.Errorf("volume %d: %w", v.id, ErrClosed)
	}
	if v.readOnly.Load() {
		return fmt.Errorf("volume %d: %w", v.id, ErrReadOnly)
	}
	if limit := v.sizeLimit.Load(); limit > 0 && uint64(v.end.Load()) >= limit {
		return fmt.Errorf("volume %d: %w: size %d reached the limit %d", v.id, ErrReadOnly, v.end.Load(), limit)
	}
	return nil
}

// appendLocked writes rec at the end of the .dat with one WriteAt, then
// applies e (its Offset filled in here) to the map, the counters and the
// .idx buffer; the caller holds mu and has checked that the volume is open.
// It returns the write's sequence number for group commit.
//
// If the WriteAt or the map fails, the end offset does not move: the next
// append overwrites whatever was written, and a load cuts it. A WriteAt that
// fails for lack of space makes the store directory low on space at once.
func (v *Volume) appendLocked(rec []byte, e needle.IdxEntry, point string) (uint64, error) {
	return v.appendPartsLocked(rec, nil, nil, e, point)
}

// appendPartsLocked is appendLocked of the record head+data+tail, written
// with one WriteAt per part that is not empty.
func (v *Volume) appendPartsLocked(head, data, tail []byte, e needle.IdxEntry, point string) (uint64, error) {
	off := v.end.Load()
	recLen := int64(len(head)) + int64(len(data)) + int64(len(tail))
	if off+recLen > needle.MaxVolumeBytes {
		return 0, fmt.Errorf("volume %d: %w: %d bytes, a record of %d does not fit", v.id, ErrVolumeFull, off, recLen)
	}
	units, err := needle.OffsetUnits(off)
	if err != nil {
		return 0, fmt.Errorf("volume %d: %w", v.id, err)
	}
	if fault := appendFault.Load(); fault != nil {
		err = (*fault)()
	}
	at := off
	for _, part := range [3][]byte{head, data, tail} {
		if err != nil {
			break
		}
		if len(part) == 0 {
			continue
		}
		_, err = v.dat.WriteAt(part, at)
		at += int64(len(part))
	}
	if err != nil {
		if v.space != nil && IsNoSpace(err) {
			v.space.outOfSpace(int(recLen), err)
		}
		return 0, fmt.Errorf("volume %d: append to .dat: %w", v.id, err)
	}
	if err := failAt(point); err != nil {
		return 0, err
	}
	e.Offset = units
	// The end moves before the entry is visible: a reader that finds the
	// entry finds the record inside the end (Read checks it).
	v.end.Store(off + recLen)
	old, had, err := needle.Apply(v.nm, e)
	if err != nil {
		v.end.Store(off)
		return 0, fmt.Errorf("volume %d: index key %x: %w", v.id, uint64(e.Key), err)
	}
	v.stats.Count(e, old, had)
	v.idxBuf = e.AppendTo(v.idxBuf)
	if len(v.idxBuf) >= idxFlushBytes {
		if err := v.flushIdxLocked(); err != nil {
			// The .dat has the record; the entry stays buffered and a
			// later flush (or the next load) writes it.
			glog.Errorf("%v (will retry)", err)
		}
	}
	v.armFlushLocked()
	v.writeSeq++
	return v.writeSeq, nil
}

// Delete appends a tombstone (stamped appendAtNs, or now when 0) and an
// .idx delete entry, and returns the deleted needle's stored data size.
// Missing or already deleted: needle.ErrNotFound. Wrong cookie:
// needle.ErrCookieMismatch (nothing deleted). A volume at its size limit
// still takes deletes; a version 1 or marked read-only one does not
// (ErrReadOnly). With Options.Fsync it returns after the tombstone is on
// disk.
func (v *Volume) Delete(key needle.Key, cookie needle.Cookie, appendAtNs uint64) (size uint32, err error) {
	if v.version == needle.Version1 {
		return 0, fmt.Errorf("volume %d: %w: version 1", v.id, ErrReadOnly)
	}
	if appendAtNs == 0 {
		appendAtNs = uint64(time.Now().UnixNano())
	}
	tomb := needle.Tombstone(key, cookie, appendAtNs)
	var buf [64]byte
	rec, err := tomb.AppendRecord(buf[:0], v.version)
	if err != nil {
		return 0, fmt.Errorf("volume %d: encode tombstone: %w", v.id, err)
	}

	v.mu.Lock()
	size, seq, err := v.deleteLocked(key, cookie, rec)
	v.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if err := v.waitSynced(seq); err != nil {
		return 0, err
	}
	return size, nil
}

func (v *Volume) deleteLocked(key needle.Key, cookie needle.Cookie, rec []byte) (uint32, uint64, error) {
	if v.closed {
		return 0, 0, fmt.Errorf("volume %d: %w", v.id, ErrClosed)
	}
	if v.readOnly.Load() {
		return 0, 0, fmt.Errorf("volume %d: %w", v.id, ErrReadOnly)
	}
	nv, ok := v.nm.Get(key)
	if !ok {
		return 0, 0, fmt.Errorf("volume %d: key %x: %w", v.id, uint64(key), needle.ErrNotFound)
	}
	// Read the live needle's header (and data size) to check the cookie.
	var hb [needle.HeaderSize + 4]byte
	head := hb[:needle.HeaderSize]
	if v.version >= needle.Version2 && nv.Size >= 4 {
		head = hb[:]
	}
	off := needle.OffsetBytes(nv.Offset)
	if _, err := v.dat.ReadAt(head, off); err != nil {
		return 0, 0, fmt.Errorf("volume %d: read needle %x at %d: %w", v.id, uint64(key), off, err)
	}
	h, _ := needle.ParseHeader(head)
	if h.Key != key || h.Size != nv.Size {
		return 0, 0, fmt.Errorf("volume %d: %w: record at %d is key %x size %d, index says key %x size %d",
			v.id, needle.ErrCorrupt, off, uint64(h.Key), h.Size, uint64(key), nv.Size)
	}
	if h.Cookie != cookie {
		return 0, 0, fmt.Errorf("volume %d: key %x: %w", v.id, uint64(key), needle.ErrCookieMismatch)
	}
	size := nv.Size
	if len(head) > needle.HeaderSize {
		size = binary.BigEndian.Uint32(head[needle.HeaderSize:])
	}
	seq, err := v.appendLocked(rec, needle.IdxEntry{Key: key, Size: needle.TombstoneSize}, "delete:dat")
	if err != nil {
		return 0, 0, err
	}
	return size, seq, nil
}

// groupSync makes writers wait until their record is fsynced, sharing
// fsyncs: a background goroutine fsyncs the .dat whenever some writer
// waits, and one fsync covers every write made before it started.
type groupSync struct {
	fsync func() error

	mu      sync.Mutex
	cond    sync.Cond
	want    uint64 // highest write sequence waiting for an fsync
	done    uint64 // every write up to done is on disk
	err     error  // sticky fsync failure
	stopped bool
	exited  chan struct{}
}

func newGroupSync(fsync func() error) *groupSync {
	g := &groupSync{fsync: fsync, exited: make(chan struct{})}
	g.cond.L = &g.mu
	go g.loop()
	return g
}

func (g *groupSync) loop() {
	defer close(g.exited)
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		for !g.stopped && g.err == nil && g.want <= g.done {
			g.cond.Wait()
		}
		if g.stopped || g.err != nil {
			return
		}
		target := g.want
		g.mu.Unlock()
		err := g.fsync()
		g.mu.Lock()
		if err != nil {
			g.err = fmt.Errorf("fsync .dat: %w", err)
			glog.Errorf("%v: writes waiting for it fail from now on", g.err)
		} else if target > g.done {
			g.done = target
		}
		g.cond.Broadcast()
	}
}

// waitSynced returns once write seq is on disk when the volume fsyncs its
// writes (group sync), at once otherwise; or the fsync error.
func (v *Volume) waitSynced(seq uint64) error {
	if v.gsync == nil {
		return nil
	}
	if err := v.gsync.wait(seq); err != nil {
		return fmt.Errorf("volume %d: %w", v.id, err)
	}
	return nil
}

// wait returns once write seq is on disk, or the fsync error.
func (g *groupSync) wait(seq uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if seq > g.want {
		g.want = seq
		g.cond.Broadcast()
	}
	for g.done < seq && g.err == nil && !g.stopped {
		g.cond.Wait()
	}
	switch {
	case g.done >= seq:
		return nil
	case g.err != nil:
		return g.err
	default:
		return ErrClosed
	}
}

// markDone records that writes up to seq are on disk (after an fsync made
// elsewhere: Sync, Close, a compaction commit).
func (g *groupSync) markDone(seq uint64) {
	g.mu.Lock()
	if seq > g.done {
		g.done = seq
		g.cond.Broadcast()
	}
	g.mu.Unlock()
}

// stop ends the background goroutine; writers still waiting get ErrClosed.
func (g *groupSync) stop() {
	g.mu.Lock()
	g.stopped = true
	g.cond.Broadcast()
	g.mu.Unlock()
	<-g.exited
}
