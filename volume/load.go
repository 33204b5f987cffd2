package volume

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
)

// Create makes a new, empty volume (version 3) in dir and opens it. It
// fails with ErrVolumeExists if the .dat is already there; a stale .idx,
// bolt map or compaction file of the same name is replaced.
func Create(dir, collection string, id needle.VolumeID, rp needle.Placement, ttl needle.TTL, opts Options) (*Volume, error) {
	if err := CheckCollection(collection); err != nil {
		return nil, err
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	if !validPlacement(rp) {
		return nil, fmt.Errorf("create volume %d: %w: %+v", id, needle.ErrBadPlacement, rp)
	}
	v := newVolume(dir, collection, id, opts)
	sb := superBlock{version: needle.CurrentVersion, placement: rp, ttl: ttl}
	dat, err := os.OpenFile(v.base+".dat", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create volume %d: %w: %s.dat", id, ErrVolumeExists, v.base)
	}
	if err != nil {
		return nil, fmt.Errorf("create volume %d: %w", id, err)
	}
	fail := func(err error) (*Volume, error) {
		dat.Close()
		os.Remove(v.base + ".dat")
		return nil, fmt.Errorf("create volume %d: %w", id, err)
	}
	if _, err := dat.Write(sb.bytes()); err != nil {
		return fail(err)
	}
	if err := dat.Sync(); err != nil {
		return fail(err)
	}
	for _, ext := range []string{".cpx", ".cpd", ".cpb", ".bdb"} {
		if err := os.Remove(v.base + ext); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fail(err)
		}
	}
	idx, err := os.OpenFile(v.base+".idx", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fail(err)
	}
	nm, _, err := v.openMap(idx, 0, 0, true)
	if err != nil {
		idx.Close()
		return fail(err)
	}
	if err := syncDir(dir); err != nil {
		glog.Warningf("create volume %d: %v", id, err)
	}
	v.setOpened(dat, idx, nm, sb, sb.dataStart(), 0, needle.IdxStats{})
	glog.V(1).Infof("volume %d: created %s.dat (replication %s, ttl %q)", id, v.base, rp, ttl)
	return v, nil
}

func validPlacement(rp needle.Placement) bool {
	ok := func(d int) bool { return d >= 0 && d <= 9 }
	return ok(rp.DiffDataCenter) && ok(rp.DiffRack) && ok(rp.SameRack) &&
		rp.DiffDataCenter*100+rp.DiffRack*10+rp.SameRack <= 255
}

// Open loads an existing volume and recovers it from a crash: leftover
// compaction files are resolved (finished or discarded), a torn .idx entry
// is cut, trailing .idx entries that do not match the .dat are dropped,
// records in the .dat past the last index entry are indexed, damaged
// records among them are skipped (and logged) with every intact record
// after them kept, and a torn or corrupt .dat tail is cut (and logged). A missing .dat is an error
// wrapping os.ErrNotExist.
func Open(dir, collection string, id needle.VolumeID, opts Options) (*Volume, error) {
	if err := CheckCollection(collection); err != nil {
		return nil, err
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	v := newVolume(dir, collection, id, opts)
	if err := resolveCompaction(v.base); err != nil {
		return nil, fmt.Errorf("open volume %d: %w", id, err)
	}
	if err := v.load(); err != nil {
		return nil, fmt.Errorf("open volume %d (%s): %w", id, v.base, err)
	}
	return v, nil
}

// setOpened installs freshly opened files and map and starts the group
// committer. The caller holds mu and fileMu, or nobody else can see v.
func (v *Volume) setOpened(dat, idx *os.File, nm needle.Map, sb superBlock, end, idxSize int64, st needle.IdxStats) {
	v.dat, v.idx, v.nm, v.sb = dat, idx, nm, sb
	if v.version == 0 {
		// First open. These never change (a compaction keeps them) and
		// are read without locks.
		v.version, v.placement, v.ttl = sb.version, sb.placement, sb.ttl
	}
	v.end.Store(end)
	v.idxSize = idxSize
	v.idxBuf = v.idxBuf[:0]
	v.stats = st
	v.maxKeyFloor = max(v.maxKeyFloor, st.MaxKey)
	v.closed = false
	if wm, ok := nm.(needle.IdxWatermarker); ok {
		wm.SetIdxWatermark(needle.IdxWatermark{Offset: idxSize, Stats: st})
	}
	if v.opts.Fsync && v.gsync == nil {
		v.gsync = newGroupSync(v.fsyncDat)
	}
}

// fsyncDat is the group committer's fsync of whatever .dat is current.
func (v *Volume) fsyncDat() error {
	v.fileMu.RLock()
	defer v.fileMu.RUnlock()
	if v.closed {
		return ErrClosed
	}
	return v.dat.Sync()
}

// resolveCompaction settles the files a crash during vacuum left behind.
// Commit renames .cpd to .dat and then .cpx to .idx, and every removal
// takes .cpx first, so: both present means the commit did not happen
// (discard both); only .cpx means the .dat is already the compacted one
// (finish by renaming .cpx to .idx); only .cpd is an unfinished Compact
// (discard). A .cpb (bolt map being built) is always discarded.
func resolveCompaction(base string) error {
	exists := func(p string) bool {
		_, err := os.Stat(p)
		return err == nil
	}
	cpd, cpx := exists(base+".cpd"), exists(base+".cpx")
	if err := removeIfExists(base + ".cpb"); err != nil {
		return err
	}
	switch {
	case cpd && cpx:
		if err := removeIfExists(base + ".cpx"); err != nil {
			return err
		}
		if err := removeIfExists(base + ".cpd"); err != nil {
			return err
		}
		glog.Warningf("%s: discarded an uncommitted compaction (.cpd and .cpx)", base)
	case cpx:
		// The bolt map (if any) describes the old .idx: Commit removes it
		// before the renames, remove it again to be sure.
		if err := removeIfExists(base + ".bdb"); err != nil {
			return err
		}
		if err := os.Rename(base+".cpx", base+".idx"); err != nil {
			return fmt.Errorf("finish compaction: %w", err)
		}
		glog.Warningf("%s: finished an interrupted compaction commit (renamed .cpx to .idx)", base)
	case cpd:
		if err := removeIfExists(base + ".cpd"); err != nil {
			return err
		}
		glog.Warningf("%s: discarded an unfinished compaction (.cpd)", base)
	}
	return nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// load opens the volume's files, repairs them as Open describes and builds
// the map. It sets v's fields only on success. The caller holds mu and
// fileMu, or nobody else can see v.
func (v *Volume) load() (err error) {
	dat, err := os.OpenFile(v.base+".dat", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	var idx *os.File
	defer func() {
		if err != nil {
			dat.Close()
			if idx != nil {
				idx.Close()
			}
		}
	}()
	fi, err := dat.Stat()
	if err != nil {
		return err
	}
	datSize := fi.Size()
	sb, err := readSuperBlock(dat, datSize)
	if err != nil {
		return err
	}
	idx, err = os.OpenFile(v.base+".idx", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if fi, err = idx.Stat(); err != nil {
		return err
	}
	idxSize := fi.Size()
	repaired := false
	if rem := idxSize % needle.IdxEntrySize; rem != 0 {
		if err := idx.Truncate(idxSize - rem); err != nil {
			return fmt.Errorf("truncate partial .idx entry: %w", err)
		}
		glog.Warningf("volume %d: cut a partial .idx entry (%d bytes) at offset %d", v.id, rem, idxSize-rem)
		idxSize -= rem
		repaired = true
	}

	keep, scanFrom, err := verifyIdxTail(idx, idxSize, dat, datSize, sb)
	if err != nil {
		return err
	}
	if keep < idxSize {
		if err := idx.Truncate(keep); err != nil {
			return fmt.Errorf("truncate .idx: %w", err)
		}
		glog.Warningf("volume %d: dropped %d trailing .idx entries that do not match the .dat; the .dat scan redoes them",
			v.id, (idxSize-keep)/needle.IdxEntrySize)
		idxSize = keep
		repaired = true
	}
	verifiedIdxSize := idxSize

	datEnd, idxSize, cut, err := recoverTail(v.id, dat, datSize, sb, scanFrom, idx, idxSize)
	if err != nil {
		return err
	}
	nm, st, err := v.openMap(idx, verifiedIdxSize, idxSize, repaired || cut)
	if err != nil {
		return err
	}
	v.setOpened(dat, idx, nm, sb, max(datEnd, sb.dataStart()), idxSize, st)
	glog.V(1).Infof("volume %d: loaded %s: version %d, %d bytes, %d live needles", v.id, v.base, sb.version, datEnd, nm.Len())
	return nil
}

// verifyIdxTail checks the .idx entries from the end backwards against the
// .dat until it finds one that names a matching record (same key, and size
// for a put; complete; valid CRC). It returns how many bytes of .idx to
// keep (the bad trailing entries are dropped: the .dat scan redoes them)
// and where the .dat scan starts: the end of that good entry's record, or
// the first record offset if there is none. Entries with offset 0 (old
// deletes) name no record and are skipped.
func verifyIdxTail(idx io.ReaderAt, idxSize int64, dat io.ReaderAt, datSize int64, sb superBlock) (keep, scanFrom int64, err error) {
	const chunk = 256 * needle.IdxEntrySize
	buf := make([]byte, chunk)
	var rec []byte
	keep = idxSize
	for pos := idxSize; pos > 0; {
		n := min(pos, chunk)
		b := buf[:n]
		if _, err := idx.ReadAt(b, pos-n); err != nil {
			return 0, 0, fmt.Errorf("read .idx: %w", err)
		}
		for i := n - needle.IdxEntrySize; i >= 0; i -= needle.IdxEntrySize {
			e, _ := needle.ParseIdxEntry(b[i:])
			if e.Offset == 0 {
				continue
			}
			var end int64
			if end, rec, err = checkEntry(dat, datSize, sb, e, rec); err != nil {
				return 0, 0, err
			}
			if end > 0 {
				return keep, end, nil
			}
			keep = pos - n + i
		}
		pos -= n
	}
	return keep, sb.dataStart(), nil
}

// checkEntry reads the record an .idx entry with a non-zero offset names
// and returns the end of that record, or 0 if it does not match: wrong
// key, wrong size (puts), incomplete, or failing to parse. Only read errors
// other than a short file are returned as errors.
func checkEntry(dat io.ReaderAt, datSize int64, sb superBlock, e needle.IdxEntry, rec []byte) (int64, []byte, error) {
	off := needle.OffsetBytes(e.Offset)
	if off < sb.dataStart() || off+needle.HeaderSize > datSize {
		return 0, rec, nil
	}
	var hb [needle.HeaderSize]byte
	if _, err := dat.ReadAt(hb[:], off); err != nil {
		return 0, rec, fmt.Errorf("read .dat: %w", err)
	}
	h, _ := needle.ParseHeader(hb[:])
	if h.Key != e.Key || h.Size == needle.TombstoneSize || (!e.IsDelete() && h.Size != e.Size) {
		return 0, rec, nil
	}
	end := off + needle.RecordLen(h.Size, sb.version)
	if end > datSize {
		return 0, rec, nil
	}
	if h.Size == 0 {
		return end, rec, nil
	}
	l := needle.RecordLenUnpadded(h.Size, sb.version)
	if int64(cap(rec)) < l {
		rec = make([]byte, l)
	}
	rec = rec[:l]
	if _, err := dat.ReadAt(rec, off); err != nil {
		return 0, rec, fmt.Errorf("read .dat: %w", err)
	}
	var n needle.Needle
	if n.ParseRecord(rec, sb.version) != nil {
		return 0, rec, nil
	}
	return end, rec, nil
}

// errZeroHeader marks a record header of all zero bytes, which weed never
// writes (key 0 with cookie 0 tombstoned): it is what a file extended by a
// crash looks like, so scans stop there.
var errZeroHeader = fmt.Errorf("%w: all-zero record header", needle.ErrCorrupt)

// recordFunc gets each record a scan finds: its offset, the parsed needle
// and the whole record, padding included. n and rec are valid only during
// the call.
type recordFunc func(off int64, n *needle.Needle, rec []byte) error

// badRecordFunc is asked about a complete record that fails to parse
// (checksum or body), given its header and bytes (valid only during the
// call): true skips it and the scan goes on, false stops the scan there.
type badRecordFunc func(off int64, h needle.Header, rec []byte, perr error) bool

// skipFunc is told about each damaged stretch a salvaging scan steps over.
type skipFunc func(d damagedSpan)

// scanRecords walks the records of r in [from, to) in order, reading in
// large chunks, and calls fn for each complete record that parses (live
// needles with a valid CRC, and tombstones). It returns where it stopped:
// to when every byte was consumed, or the offset of the first record that
// is torn (runs past to), has an all-zero header or does not parse (unless
// bad says to skip it), with that reason. An error from fn or a read error
// is returned as err.
func scanRecords(r io.ReaderAt, from, to int64, version uint8, fn recordFunc, bad badRecordFunc) (stop int64, reason, err error) {
	return salvageRecords(r, from, to, version, fn, bad, nil)
}

// salvageRecords is scanRecords that, given skip, steps over damage
// instead of stopping at it: where scanRecords would stop, it looks for
// the next whole valid record (see recordProbe.resumeAfter), tells skip about the
// stretch in between and goes on from there. It stops only where no valid
// record follows (a torn or damaged tail), returning that offset and the
// reason as scanRecords does.
func salvageRecords(r io.ReaderAt, from, to int64, version uint8, fn recordFunc, bad badRecordFunc, skip skipFunc) (stop int64, reason, err error) {
	if from >= to {
		return from, nil, nil
	}
	br := bufio.NewReaderSize(io.NewSectionReader(r, from, to-from), 1<<20)
	var (
		rec   []byte
		n     needle.Needle
		probe *recordProbe
	)
	off := from
	for off < to {
		var (
			h       needle.Header
			damaged error
		)
		if to-off < needle.HeaderSize {
			damaged = fmt.Errorf("%w: %d bytes, less than a record header", needle.ErrCorrupt, to-off)
		} else {
			hb, err := br.Peek(needle.HeaderSize)
			if err != nil {
				return off, nil, fmt.Errorf("read .dat at %d: %w", off, err)
			}
			h, _ = needle.ParseHeader(hb)
			switch l := needle.RecordLen(h.Size, version); {
			case h == (needle.Header{}):
				damaged = errZeroHeader
			case h.Size == needle.TombstoneSize:
				damaged = fmt.Errorf("%w: record size 0x%x", needle.ErrCorrupt, h.Size)
			case l > to-off:
				damaged = fmt.Errorf("%w: record of %d bytes runs past the end (%d bytes left)", needle.ErrCorrupt, l, to-off)
			default:
				if int64(cap(rec)) < l {
					rec = make([]byte, l)
				}
				rec = rec[:l]
				if _, err := io.ReadFull(br, rec); err != nil {
					return off, nil, fmt.Errorf("read .dat at %d: %w", off, err)
				}
				if perr := n.ParseRecord(rec, version); perr != nil {
					if bad == nil || !bad(off, h, rec, perr) {
						damaged = perr
					}
				} else if err := fn(off, &n, rec); err != nil {
					return off, nil, err
				}
				if damaged == nil {
					off += l
					continue
				}
			}
		}
		if skip == nil {
			return off, damaged, nil
		}
		if probe == nil {
			probe = newRecordProbe(r, to, version)
		}
		next, err := probe.resumeAfter(off, h)
		if err != nil {
			return off, nil, err
		}
		if next >= to {
			return off, damaged, nil
		}
		skip(damagedSpan{Off: off, Len: next - off, Header: h, Reason: damaged})
		off = next
		br.Reset(io.NewSectionReader(r, off, to-off))
	}
	return off, nil, nil
}

// entryFor returns the .idx entry of a record found at off.
func entryFor(off int64, n *needle.Needle) needle.IdxEntry {
	e := needle.IdxEntry{Key: n.Key, Offset: uint32(off / needle.PaddingSize), Size: n.Size}
	if n.IsTombstone() {
		e.Size = needle.TombstoneSize
	}
	return e
}

// recoverTail scans the .dat from scanFrom, appends an .idx entry for every
// complete, valid record it finds (tombstones included), steps over
// damaged records to the next valid one (logged once, not indexed: the
// key keeps what the .idx had) and cuts the .dat only at a torn or damaged
// tail that no valid record follows. It returns the .dat's new size, the
// .idx's new size and whether anything was cut.
func recoverTail(id needle.VolumeID, dat *os.File, datSize int64, sb superBlock, scanFrom int64, idx *os.File, idxSize int64) (int64, int64, bool, error) {
	if scanFrom < sb.dataStart() {
		scanFrom = sb.dataStart()
	}
	if scanFrom >= datSize {
		// Nothing past the index (verifyIdxTail never names an end past
		// datSize; an empty volume whose superblock extra bytes are not
		// padded yet starts its records past the end).
		return datSize, idxSize, false, nil
	}
	w := bufio.NewWriterSize(io.NewOffsetWriter(idx, idxSize), 64<<10)
	found := 0
	var skipped []damagedSpan
	stop, reason, err := salvageRecords(dat, scanFrom, datSize, sb.version, func(off int64, n *needle.Needle, _ []byte) error {
		var b [needle.IdxEntrySize]byte
		entryFor(off, n).Put(b[:])
		found++
		_, err := w.Write(b[:])
		return err
	}, nil, func(d damagedSpan) { skipped = append(skipped, d) })
	if err != nil {
		return 0, 0, false, err
	}
	if len(skipped) > 0 {
		glog.Errorf("volume %d: skipped damaged records in the .dat past the .idx, keeping the intact ones after them: %s",
			id, describeSpans(skipped))
	}
	if err := w.Flush(); err != nil {
		return 0, 0, false, fmt.Errorf("append recovered .idx entries: %w", err)
	}
	idxSize += int64(found) * needle.IdxEntrySize
	if found > 0 {
		if err := idx.Sync(); err != nil {
			return 0, 0, false, fmt.Errorf("fsync .idx: %w", err)
		}
		glog.Warningf("volume %d: indexed %d records found in the .dat past the .idx", id, found)
	}
	cut := stop < datSize
	if cut {
		if err := dat.Truncate(stop); err != nil {
			return 0, 0, false, fmt.Errorf("cut .dat tail: %w", err)
		}
		if err := dat.Sync(); err != nil {
			return 0, 0, false, fmt.Errorf("fsync .dat: %w", err)
		}
		glog.Warningf("volume %d: cut %d bytes of torn or corrupt .dat tail at offset %d: %v", id, datSize-stop, stop, reason)
	}
	return stop, idxSize, cut, nil
}

// openMap builds the needle map from the first idxSize bytes of idx and
// returns it with the replay counters. A bolt map resumes from its
// watermark unless rebuild is set or the watermark does not fit the .idx
// (verifiedSize is the .idx size before recovered entries were appended);
// then it is rebuilt from scratch.
func (v *Volume) openMap(idx *os.File, verifiedSize, idxSize int64, rebuild bool) (needle.Map, needle.IdxStats, error) {
	var st needle.IdxStats
	if v.opts.MapKind != MapBolt {
		m := needle.NewCompactMap()
		if err := needle.LoadIdx(io.NewSectionReader(idx, 0, idxSize), m, &st); err != nil {
			return nil, st, err
		}
		return m, st, nil
	}
	path := v.base + ".bdb"
	bm, err := needle.OpenBoltMap(path, nil)
	if err != nil {
		glog.Warningf("volume %d: %v: rebuilding it", v.id, err)
		if err := removeIfExists(path); err != nil {
			return nil, st, err
		}
		if bm, err = needle.OpenBoltMap(path, nil); err != nil {
			return nil, st, err
		}
	}
	wm := bm.IdxWatermark()
	why := ""
	switch {
	case rebuild && (wm.Offset > 0 || bm.Len() > 0):
		why = "the .idx or .dat was repaired"
	case wm.Offset > verifiedSize:
		why = fmt.Sprintf("the .idx (%d bytes) is shorter than the map's watermark (%d)", verifiedSize, wm.Offset)
	case wm.Offset%needle.IdxEntrySize != 0 || wm.Stats.Entries*needle.IdxEntrySize != wm.Offset:
		why = "its watermark is inconsistent"
	case wm.Offset == 0 && bm.Len() > 0:
		why = "it holds entries but no watermark"
	case wm.Offset > 0:
		var b [needle.IdxEntrySize]byte
		if _, err := idx.ReadAt(b[:], wm.Offset-needle.IdxEntrySize); err != nil {
			why = err.Error()
		} else if e, _ := needle.ParseIdxEntry(b[:]); e.Offset != 0 && e != wm.Stats.LastEntry {
			why = "it does not match the .idx"
		}
	}
	if why != "" {
		glog.Warningf("volume %d: rebuilding the bolt needle map: %s", v.id, why)
		if err := bm.Close(); err != nil {
			glog.Warningf("volume %d: %v", v.id, err)
		}
		if err := removeIfExists(path); err != nil {
			return nil, st, err
		}
		if bm, err = needle.OpenBoltMap(path, nil); err != nil {
			return nil, st, err
		}
		wm = needle.IdxWatermark{}
	}
	st = wm.Stats
	if err := needle.LoadIdx(io.NewSectionReader(idx, wm.Offset, idxSize-wm.Offset), replayMap{bm}, &st); err != nil {
		bm.Close()
		return nil, st, err
	}
	return bm, st, nil
}

// replayMap replays .idx entries into a persistent map that may already
// hold some of them (committed after its watermark was set): a put that
// finds its own value already stored counts as new rather than as an
// overwrite.
type replayMap struct{ needle.Map }

func (m replayMap) Put(k needle.Key, v needle.Value) (needle.Value, bool, error) {
	old, had, err := m.Map.Put(k, v)
	if had && old == v {
		return needle.Value{}, false, err
	}
	return old, had, err
}
