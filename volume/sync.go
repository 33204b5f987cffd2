package volume

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
)

// The storage side of replica sync (docs/consistency.md): listing the
// records appended since a time, reading raw records, per-bucket digests of
// the live set, the latest record of chosen keys, and applying records
// taken from another replica under the newest-wins rule.

// ErrNotSyncable means the volume cannot take part in replica sync: its
// records carry no append timestamp (needle version 1 or 2).
var ErrNotSyncable = errors.New("volume records carry no append time (needle version below 3)")

// ErrBadRecord means a record handed to ApplyRecords, or asked for by
// offset, is not one whole valid version 3 record.
var ErrBadRecord = errors.New("bad needle record")

// sinceSearchMargin widens the binary search of RecordsSince: records are
// appended in arrival order but stamped by different primaries, so their
// times are only roughly ordered.
const sinceSearchMargin = 60 * time.Second

// RecordInfo describes one record of a volume: a live needle or a
// tombstone. Its JSON is what /admin/sync/since and /admin/sync/keys list.
type RecordInfo struct {
	Key        needle.Key    `json:"key"`
	Cookie     needle.Cookie `json:"cookie"`
	AppendAtNs uint64        `json:"ts"`
	// Size is the record's body size; 0 for a tombstone.
	Size      uint32 `json:"size"`
	Tombstone bool   `json:"tombstone,omitempty"`
	// Offset is the record's byte offset in the .dat.
	Offset int64 `json:"offset"`
}

// State returns the newest-wins view of the record.
func (ri RecordInfo) State() RecordState {
	return RecordState{Present: true, Tombstone: ri.Tombstone, AppendAtNs: ri.AppendAtNs}
}

// Syncable reports whether the volume can take part in replica sync (its
// records are needle version 3, which carry their append time).
func (v *Volume) Syncable() bool { return v.version == needle.Version3 }

func (v *Volume) checkSyncable() error {
	if !v.Syncable() {
		return fmt.Errorf("volume %d: %w", v.id, ErrNotSyncable)
	}
	return nil
}

// recordHead is the fixed part of a record: its header and append time.
type recordHead struct {
	h  needle.Header
	ts uint64
}

// readRecordHead reads the header and (version 3) the append time of the
// record at off, which must end by end.
func readRecordHead(dat io.ReaderAt, off, end int64, version uint8) (recordHead, error) {
	var hb [needle.HeaderSize]byte
	if off < 0 || off+needle.HeaderSize > end {
		return recordHead{}, fmt.Errorf("%w: record at %d past the end %d", needle.ErrCorrupt, off, end)
	}
	if _, err := dat.ReadAt(hb[:], off); err != nil {
		return recordHead{}, fmt.Errorf("read record header at %d: %w", off, err)
	}
	h, _ := needle.ParseHeader(hb[:])
	if h.Size == needle.TombstoneSize || off+needle.RecordLen(h.Size, version) > end {
		return recordHead{}, fmt.Errorf("%w: record at %d of size %d runs past the end %d", needle.ErrCorrupt, off, h.Size, end)
	}
	rh := recordHead{h: h}
	if version == needle.Version3 {
		var tb [needle.TimestampSize]byte
		if _, err := dat.ReadAt(tb[:], off+needle.HeaderSize+int64(h.Size)+needle.ChecksumSize); err != nil {
			return recordHead{}, fmt.Errorf("read record time at %d: %w", off, err)
		}
		rh.ts = binary.BigEndian.Uint64(tb[:])
	}
	return rh, nil
}

// snapshot flushes the .idx buffer and returns the sizes of the .idx and
// .dat with fileMu read-locked, so that no compaction swaps the files until
// the caller calls the returned release.
func (v *Volume) snapshot() (idxSize, end int64, release func(), err error) {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return 0, 0, nil, fmt.Errorf("volume %d: %w", v.id, ErrClosed)
	}
	if err := v.flushIdxLocked(); err != nil {
		v.mu.Unlock()
		return 0, 0, nil, err
	}
	idxSize, end = v.idxSize, v.end.Load()
	v.fileMu.RLock()
	v.mu.Unlock()
	return idxSize, end, v.fileMu.RUnlock, nil
}

// idxEntryAt reads .idx entry i.
func (v *Volume) idxEntryAt(i int64) (needle.IdxEntry, error) {
	var b [needle.IdxEntrySize]byte
	if _, err := v.idx.ReadAt(b[:], i*needle.IdxEntrySize); err != nil {
		return needle.IdxEntry{}, fmt.Errorf("volume %d: read .idx entry %d: %w", v.id, i, err)
	}
	e, _ := needle.ParseIdxEntry(b[:])
	return e, nil
}

// LastAppendAtNs returns the append time of the last record of the volume
// (0 for an empty one). Records are appended in arrival order, so this is
// about the time the replica last took a write or delete.
func (v *Volume) LastAppendAtNs() (uint64, error) {
	if err := v.checkSyncable(); err != nil {
		return 0, err
	}
	idxSize, end, release, err := v.snapshot()
	if err != nil {
		return 0, err
	}
	defer release()
	// The last few entries, in case the very last one names no record
	// (an old-style delete with offset 0).
	for i := idxSize/needle.IdxEntrySize - 1; i >= 0 && i >= idxSize/needle.IdxEntrySize-64; i-- {
		e, err := v.idxEntryAt(i)
		if err != nil {
			return 0, err
		}
		if e.Offset == 0 {
			continue
		}
		rh, err := readRecordHead(v.dat, needle.OffsetBytes(e.Offset), end, v.version)
		if err != nil {
			return 0, fmt.Errorf("volume %d: %w", v.id, err)
		}
		return rh.ts, nil
	}
	return 0, nil
}

// RecordsSince lists, in .dat order, every record appended with an append
// time at or after since. It finds where to start with a binary search over
// the .idx entries on their records' times (widened by a margin, since
// times are only roughly ordered), then scans the .dat from there.
// Damaged records whose bounds the index confirms (live needles) are
// listed from their header with append time 0, so that a peer's good copy
// wins and repairs them; the scan steps over every other damaged record
// (no longer live) to the next valid one, and fails only at a torn tail.
func (v *Volume) RecordsSince(since uint64) ([]RecordInfo, error) {
	if err := v.checkSyncable(); err != nil {
		return nil, err
	}
	idxSize, end, release, err := v.snapshot()
	if err != nil {
		return nil, err
	}
	defer release()
	target := since
	if margin := uint64(sinceSearchMargin); target > margin {
		target -= margin
	} else {
		target = 0
	}
	start, err := v.searchTime(idxSize/needle.IdxEntrySize, end, target)
	if err != nil {
		return nil, err
	}
	var (
		out     []RecordInfo
		skipped []damagedSpan
	)
	stop, reason, err := salvageRecords(v.dat, start, end, v.version, func(off int64, n *needle.Needle, _ []byte) error {
		if n.AppendAtNs >= since {
			out = append(out, RecordInfo{Key: n.Key, Cookie: n.Cookie, AppendAtNs: n.AppendAtNs, Size: n.Size, Tombstone: n.IsTombstone(), Offset: off})
		}
		return nil
	}, func(off int64, h needle.Header, rec []byte, _ error) bool {
		nv, ok := v.nm.Get(h.Key)
		if !ok || needle.OffsetBytes(nv.Offset) != off || nv.Size != h.Size {
			return false
		}
		// A damaged live needle is listed with time 0: any good copy of
		// it on the peer is newer, and its pull repairs this one.
		ts := binary.BigEndian.Uint64(rec[needle.HeaderSize+int(h.Size)+needle.ChecksumSize:])
		if ts >= since {
			out = append(out, RecordInfo{Key: h.Key, Cookie: h.Cookie, Size: h.Size, Offset: off})
		}
		return true
	}, func(d damagedSpan) { skipped = append(skipped, d) })
	if err != nil {
		return nil, fmt.Errorf("volume %d: %w", v.id, err)
	}
	if len(skipped) > 0 {
		glog.V(1).Infof("volume %d: records since %d: stepped over records no longer live: %s", v.id, since, describeSpans(skipped))
	}
	if stop < end {
		return nil, fmt.Errorf("volume %d: record at %d: %w", v.id, stop, reason)
	}
	return out, nil
}

// searchTime returns the .dat offset of the first record, in .idx order,
// whose append time is at or after target, assuming times grow with the
// order (the caller widens target for the records that break it). With no
// such entry it returns where the records after the last entry begin.
func (v *Volume) searchTime(entries, end int64, target uint64) (int64, error) {
	// timeAt returns the time and offset of the record named by entry i or
	// the first entry after it that names one.
	timeAt := func(i int64) (uint64, int64, bool, error) {
		for ; i < entries; i++ {
			e, err := v.idxEntryAt(i)
			if err != nil {
				return 0, 0, false, err
			}
			if e.Offset == 0 {
				continue
			}
			off := needle.OffsetBytes(e.Offset)
			rh, err := readRecordHead(v.dat, off, end, v.version)
			if err != nil {
				return 0, 0, false, fmt.Errorf("volume %d: .idx entry %d: %w", v.id, i, err)
			}
			return rh.ts, off, true, nil
		}
		return 0, 0, false, nil
	}
	lo, hi := int64(0), entries
	for lo < hi {
		mid := lo + (hi-lo)/2
		ts, _, ok, err := timeAt(mid)
		if err != nil {
			return 0, err
		}
		if !ok || ts >= target {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if _, off, ok, err := timeAt(lo); err != nil || ok {
		return off, err
	}
	// Every entry is older: start after the last record an entry names.
	for i := entries - 1; i >= 0; i-- {
		e, err := v.idxEntryAt(i)
		if err != nil {
			return 0, err
		}
		if e.Offset != 0 {
			return e.RecordEnd(v.version), nil
		}
	}
	return v.sb.dataStart(), nil
}

// ReadRecord returns the whole record (padding included) that starts at
// byte offset off, after checking that it parses (CRC included for a live
// needle). Errors: ErrBadRecord for an offset that names no valid record,
// ErrClosed, ErrNotSyncable.
func (v *Volume) ReadRecord(off int64) ([]byte, error) {
	if err := v.checkSyncable(); err != nil {
		return nil, err
	}
	v.fileMu.RLock()
	defer v.fileMu.RUnlock()
	if v.closed {
		return nil, fmt.Errorf("volume %d: %w", v.id, ErrClosed)
	}
	return v.readRecordLocked(off, v.end.Load())
}

// readRecordLocked reads and checks the record at off; the caller holds
// fileMu (read) or mu.
func (v *Volume) readRecordLocked(off, end int64) ([]byte, error) {
	if off < v.sb.dataStart() || off%needle.PaddingSize != 0 {
		return nil, fmt.Errorf("volume %d: %w: offset %d", v.id, ErrBadRecord, off)
	}
	rh, err := readRecordHead(v.dat, off, end, v.version)
	if err != nil {
		return nil, fmt.Errorf("volume %d: %w: %w", v.id, ErrBadRecord, err)
	}
	rec := make([]byte, needle.RecordLen(rh.h.Size, v.version))
	if _, err := v.dat.ReadAt(rec, off); err != nil {
		return nil, fmt.Errorf("volume %d: read record at %d: %w", v.id, off, err)
	}
	var n needle.Needle
	if err := n.ParseRecord(rec, v.version); err != nil {
		return nil, fmt.Errorf("volume %d: %w: record at %d: %w", v.id, ErrBadRecord, off, err)
	}
	return rec, nil
}

// LiveRecord returns the whole record of the live needle key after
// checking its CRC; needle.ErrNotFound when there is none, ErrBadRecord when
// it is damaged.
func (v *Volume) LiveRecord(key needle.Key) ([]byte, error) {
	if err := v.checkSyncable(); err != nil {
		return nil, err
	}
	v.fileMu.RLock()
	defer v.fileMu.RUnlock()
	if v.closed {
		return nil, fmt.Errorf("volume %d: %w", v.id, ErrClosed)
	}
	nv, ok := v.nm.Get(key)
	if !ok || nv.Size == 0 || nv.Size == needle.TombstoneSize {
		return nil, fmt.Errorf("volume %d: key %x: %w", v.id, uint64(key), needle.ErrNotFound)
	}
	rec, err := v.readRecordLocked(needle.OffsetBytes(nv.Offset), v.end.Load())
	if err != nil {
		return nil, err
	}
	if h, _ := needle.ParseHeader(rec); h.Key != key {
		return nil, fmt.Errorf("volume %d: %w: index names key %x, record holds %x", v.id, ErrBadRecord, uint64(key), uint64(h.Key))
	}
	return rec, nil
}

// DigestBuckets is how many key ranges a Digest has.
const DigestBuckets = 256

// BucketDigest summarizes the live needles of one key bucket.
type BucketDigest struct {
	Count uint32 `json:"n"`
	Hash  uint64 `json:"h"`
}

// Digest summarizes a volume's live set: per bucket of keys, how many live
// needles and an order-independent hash over their (key, size). Two
// replicas with the same live set have equal digests.
type Digest [DigestBuckets]BucketDigest

// Differing returns the buckets in which d and o differ, ascending.
func (d *Digest) Differing(o *Digest) []int {
	var out []int
	for i := range d {
		if d[i] != o[i] {
			out = append(out, i)
		}
	}
	return out
}

// mix64 is the splitmix64 finalizer: a cheap, well-spread 64-bit hash.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// DigestBucket returns the digest bucket of a key.
func DigestBucket(k needle.Key) int { return int(mix64(uint64(k)) >> 56) }

// Digest computes the volume's digest from its needle map (no .dat reads).
func (v *Volume) Digest() (Digest, error) {
	var d Digest
	v.fileMu.RLock()
	defer v.fileMu.RUnlock()
	if v.closed {
		return d, fmt.Errorf("volume %d: %w", v.id, ErrClosed)
	}
	err := v.nm.Range(func(k needle.Key, nv needle.Value) error {
		if nv.Size == 0 || nv.Size == needle.TombstoneSize {
			return nil
		}
		b := &d[DigestBucket(k)]
		b.Count++
		b.Hash += mix64(uint64(k) ^ mix64(uint64(nv.Size)))
		return nil
	})
	if err != nil {
		return d, fmt.Errorf("volume %d: digest: %w", v.id, err)
	}
	return d, nil
}

// KeyStates returns the latest record of every key in the given digest
// buckets that the volume knows: the live needle, or else the tombstone of
// its last delete still in the .idx (compaction drops tombstones), sorted
// by key. Old-style deletes that name no record are left out.
func (v *Volume) KeyStates(buckets []int) ([]RecordInfo, error) {
	if err := v.checkSyncable(); err != nil {
		return nil, err
	}
	var want [DigestBuckets]bool
	for _, b := range buckets {
		if b >= 0 && b < DigestBuckets {
			want[b] = true
		}
	}
	idxSize, end, release, err := v.snapshot()
	if err != nil {
		return nil, err
	}
	defer release()
	live := make(map[needle.Key]needle.Value)
	err = v.nm.Range(func(k needle.Key, nv needle.Value) error {
		if want[DigestBucket(k)] && nv.Size != 0 && nv.Size != needle.TombstoneSize {
			live[k] = nv
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("volume %d: %w", v.id, err)
	}
	last := make(map[needle.Key]needle.IdxEntry)
	err = needle.WalkIdx(io.NewSectionReader(v.idx, 0, idxSize), func(e needle.IdxEntry) error {
		if want[DigestBucket(e.Key)] {
			if _, ok := live[e.Key]; !ok {
				last[e.Key] = e
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, needle.ErrIdxPartialEntry) {
		return nil, fmt.Errorf("volume %d: read .idx: %w", v.id, err)
	}
	out := make([]RecordInfo, 0, len(live)+len(last))
	for k, nv := range live {
		off := needle.OffsetBytes(nv.Offset)
		rh, err := readRecordHead(v.dat, off, end, v.version)
		if err != nil || rh.h.Key != k {
			// A damaged record: its time is unknown, so any copy wins.
			out = append(out, RecordInfo{Key: k, Size: nv.Size, Offset: off})
			continue
		}
		out = append(out, RecordInfo{Key: k, Cookie: rh.h.Cookie, AppendAtNs: rh.ts, Size: nv.Size, Offset: off})
	}
	for k, e := range last {
		if !e.IsDelete() || e.Offset == 0 {
			continue
		}
		off := needle.OffsetBytes(e.Offset)
		rh, err := readRecordHead(v.dat, off, end, v.version)
		if err != nil || rh.h.Key != k {
			continue
		}
		out = append(out, RecordInfo{Key: k, Cookie: rh.h.Cookie, AppendAtNs: rh.ts, Tombstone: true, Offset: off})
	}
	slices.SortFunc(out, func(a, b RecordInfo) int {
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	return out, nil
}

// ApplyOptions say how ApplyRecords treats records.
type ApplyOptions struct {
	// AllowNew lets a live record be applied for a key the volume has no
	// record of at all (no live needle, no tombstone). Replica sync sets it
	// only when the record comes from a replica not marked stale.
	AllowNew bool
	// Repair also applies a live record whose time equals the local live
	// needle's when the local copy is damaged (read repair).
	Repair bool
}

// ApplyResult counts what ApplyRecords did.
type ApplyResult struct {
	Applied int `json:"applied"`
	Skipped int `json:"skipped"`
}

// localState is what the volume holds for a key, found under mu.
type localState struct {
	RecordState
	damaged bool
}

// ApplyRecords appends records taken from another replica of the volume
// (whole version 3 records, live needles or tombstones, as ReadRecord
// returns them), each only if it is newer than what the volume holds for
// its key (newest appendAtNs wins; at equal times a tombstone beats a live
// needle), and keeps their bytes and append times. See ApplyOptions for
// keys the volume never saw and damaged local copies. Records go in even
// when the volume is read-only or at its size limit: replicas must agree.
// Errors: ErrBadRecord, ErrNotSyncable, ErrClosed, ErrVolumeFull.
func (v *Volume) ApplyRecords(recs [][]byte, opts ApplyOptions) (ApplyResult, error) {
	var res ApplyResult
	if err := v.checkSyncable(); err != nil {
		return res, err
	}
	type incoming struct {
		rec []byte
		n   needle.Needle
	}
	in := make([]incoming, 0, len(recs))
	keys := make(map[needle.Key]bool, len(recs))
	for _, rec := range recs {
		var n needle.Needle
		if err := n.ParseRecord(rec, needle.Version3); err != nil {
			return res, fmt.Errorf("volume %d: %w: %w", v.id, ErrBadRecord, err)
		}
		if int64(len(rec)) != needle.RecordLen(n.Size, needle.Version3) {
			return res, fmt.Errorf("volume %d: %w: %d bytes for a body of %d", v.id, ErrBadRecord, len(rec), n.Size)
		}
		in = append(in, incoming{rec: rec, n: n})
		keys[n.Key] = true
	}
	if len(in) == 0 {
		return res, nil
	}

	// The .idx history of these keys, most of it read without the write
	// lock; what was appended meanwhile is read under it below.
	idxSize, _, release, err := v.snapshot()
	if err != nil {
		return res, err
	}
	last, err := v.lastEntries(keys, 0, idxSize)
	release()
	if err != nil {
		return res, err
	}

	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return res, fmt.Errorf("volume %d: %w", v.id, ErrClosed)
	}
	if v.idxSize > idxSize {
		more, err := v.lastEntries(keys, idxSize, v.idxSize)
		if err != nil {
			v.mu.Unlock()
			return res, err
		}
		for k, e := range more {
			last[k] = e
		}
	}
	for i := 0; i+needle.IdxEntrySize <= len(v.idxBuf); i += needle.IdxEntrySize {
		e, _ := needle.ParseIdxEntry(v.idxBuf[i:])
		if keys[e.Key] {
			last[e.Key] = e
		}
	}
	var seq uint64
	for _, x := range in {
		local, err := v.localStateLocked(x.n.Key, last, opts.Repair)
		if err != nil {
			v.mu.Unlock()
			return res, err
		}
		inc := RecordState{Present: true, Tombstone: x.n.IsTombstone(), AppendAtNs: x.n.AppendAtNs}
		if !shouldApply(inc, local.RecordState, local.damaged, opts) {
			res.Skipped++
			continue
		}
		off := v.end.Load()
		units, err := needle.OffsetUnits(off)
		if err != nil {
			v.mu.Unlock()
			return res, fmt.Errorf("volume %d: %w", v.id, err)
		}
		e := needle.IdxEntry{Key: x.n.Key, Size: x.n.Size}
		if x.n.IsTombstone() {
			e.Size = needle.TombstoneSize
		}
		if seq, err = v.appendLocked(x.rec, e, "sync:dat"); err != nil {
			v.mu.Unlock()
			return res, err
		}
		e.Offset = units
		last[e.Key] = e
		res.Applied++
	}
	v.mu.Unlock()
	if err := v.waitSynced(seq); err != nil {
		return res, err
	}
	return res, nil
}

// shouldApply is the newest-wins decision for one incoming record against
// the local state of its key.
func shouldApply(inc, local RecordState, damaged bool, opts ApplyOptions) bool {
	if !local.Present {
		return inc.Tombstone || opts.AllowNew
	}
	if Newer(inc, local) {
		return true
	}
	return opts.Repair && damaged && !inc.Tombstone && !local.Tombstone && inc.AppendAtNs == local.AppendAtNs
}

// lastEntries returns the last .idx entry of each key of keys among the
// entries in bytes [from, to) of the .idx file. The caller keeps the files
// stable (mu or fileMu held).
func (v *Volume) lastEntries(keys map[needle.Key]bool, from, to int64) (map[needle.Key]needle.IdxEntry, error) {
	last := make(map[needle.Key]needle.IdxEntry)
	if to <= from {
		return last, nil
	}
	err := needle.WalkIdx(io.NewSectionReader(v.idx, from, to-from), func(e needle.IdxEntry) error {
		if keys[e.Key] {
			last[e.Key] = e
		}
		return nil
	})
	if err != nil && !errors.Is(err, needle.ErrIdxPartialEntry) {
		return nil, fmt.Errorf("volume %d: read .idx: %w", v.id, err)
	}
	return last, nil
}

// localStateLocked returns what the volume holds for key: the live needle
// in the map, else the tombstone named by the key's last .idx entry (in
// last). With checkCRC a live needle is read whole to tell whether it is
// damaged. The caller holds mu.
func (v *Volume) localStateLocked(key needle.Key, last map[needle.Key]needle.IdxEntry, checkCRC bool) (localState, error) {
	end := v.end.Load()
	if nv, ok := v.nm.Get(key); ok && nv.Size != 0 && nv.Size != needle.TombstoneSize {
		off := needle.OffsetBytes(nv.Offset)
		rh, err := readRecordHead(v.dat, off, end, v.version)
		if err != nil || rh.h.Key != key || rh.h.Size != nv.Size {
			// Unreadable header: time unknown, any copy is better.
			return localState{RecordState: RecordState{Present: true}, damaged: true}, nil
		}
		st := localState{RecordState: RecordState{Present: true, AppendAtNs: rh.ts}}
		if checkCRC {
			if _, err := v.readRecordLocked(off, end); err != nil {
				if !errors.Is(err, ErrBadRecord) {
					return st, err
				}
				st.damaged = true
			}
		}
		return st, nil
	}
	e, ok := last[key]
	if !ok || !e.IsDelete() {
		return localState{}, nil
	}
	if e.Offset == 0 {
		// An old-style delete with no record: its time is unknown, so no
		// copy from elsewhere may bring the needle back.
		return localState{RecordState: RecordState{Present: true, Tombstone: true, AppendAtNs: math.MaxUint64}}, nil
	}
	rh, err := readRecordHead(v.dat, needle.OffsetBytes(e.Offset), end, v.version)
	if err != nil || rh.h.Key != key {
		return localState{RecordState: RecordState{Present: true, Tombstone: true, AppendAtNs: math.MaxUint64}}, nil
	}
	return localState{RecordState: RecordState{Present: true, Tombstone: true, AppendAtNs: rh.ts}}, nil
}

// DeleteNewest deletes a live needle like Delete, stamping the tombstone
// with the current time or, when the needle's own append time is not
// older (clock skew between primaries), one nanosecond after it, so that
// the tombstone always wins over the needle it deletes. It returns the
// deleted needle's stored data size and the tombstone's time.
func (v *Volume) DeleteNewest(key needle.Key, cookie needle.Cookie) (size uint32, ts uint64, err error) {
	ts = uint64(time.Now().UnixNano())
	if v.version == needle.Version3 {
		v.fileMu.RLock()
		if !v.closed {
			if nv, ok := v.nm.Get(key); ok && nv.Size != 0 && nv.Size != needle.TombstoneSize {
				if rh, err := readRecordHead(v.dat, needle.OffsetBytes(nv.Offset), v.end.Load(), v.version); err == nil && rh.h.Key == key && rh.ts >= ts {
					ts = rh.ts + 1
				}
			}
		}
		v.fileMu.RUnlock()
	}
	size, err = v.Delete(key, cookie, ts)
	return size, ts, err
}

// DeleteReplica applies one replica's part of a delete (tombstone time ts):
// like Delete, but a key the volume holds no live needle of still gets the
// tombstone, so that a copy of the needle taken from another replica later
// cannot bring it back; the result is then needle.ErrNotFound. A wrong
// cookie deletes nothing (needle.ErrCookieMismatch).
func (v *Volume) DeleteReplica(key needle.Key, cookie needle.Cookie, ts uint64) (uint32, error) {
	size, err := v.Delete(key, cookie, ts)
	if err == nil || !errors.Is(err, needle.ErrNotFound) || !v.Syncable() {
		return size, err
	}
	tomb := needle.Tombstone(key, cookie, ts)
	rec, terr := tomb.AppendRecord(nil, v.version)
	if terr != nil {
		return 0, fmt.Errorf("volume %d: encode tombstone: %w", v.id, terr)
	}
	if _, aerr := v.ApplyRecords([][]byte{rec}, ApplyOptions{}); aerr != nil {
		return 0, aerr
	}
	return 0, err
}

// TombstoneRecord returns the encoded version 3 tombstone of key at time ts.
func TombstoneRecord(key needle.Key, cookie needle.Cookie, ts uint64) []byte {
	tomb := needle.Tombstone(key, cookie, ts)
	rec, _ := tomb.AppendRecord(nil, needle.Version3)
	return rec
}

// SplitRecords splits a concatenation of whole version 3 records (as the
// sync endpoints send them) into the records. The records alias b.
func SplitRecords(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < needle.HeaderSize {
			return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadRecord, len(b))
		}
		h, _ := needle.ParseHeader(b)
		if h.Size == needle.TombstoneSize {
			return nil, fmt.Errorf("%w: size 0x%x", ErrBadRecord, h.Size)
		}
		l := needle.RecordLen(h.Size, needle.Version3)
		if int64(len(b)) < l {
			return nil, fmt.Errorf("%w: record of %d bytes, %d left", ErrBadRecord, l, len(b))
		}
		out = append(out, b[:l:l])
		b = b[l:]
	}
	return out, nil
}

// JoinRecords concatenates records for a sync request or reply.
func JoinRecords(recs [][]byte) []byte { return bytes.Join(recs, nil) }

// OpenDat returns a reader of the volume's .dat as it is now (every record
// appended so far, none appended later) and its size. It reads its own
// handle of the file, so a compaction committed meanwhile does not change
// what it returns. The caller closes it.
func (v *Volume) OpenDat() (io.ReadCloser, int64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil, 0, fmt.Errorf("volume %d: %w", v.id, ErrClosed)
	}
	f, err := os.Open(v.base + ".dat")
	if err != nil {
		return nil, 0, fmt.Errorf("volume %d: %w", v.id, err)
	}
	end := v.end.Load()
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, 0, end), f}, end, nil
}
