package needle

import (
	"io"
	"math"
	"sync"
)

// Segment sizing of CompactMap. A segment is split when an insert would take
// it past segMax entries and merged into a neighbour when it falls below
// segMin. Inserting into a segment moves at most segMax*12 bytes.
const (
	segMax = 1024
	segMin = segMax / 4
	// rangeBatch is how many entries Range copies out per lock hold.
	rangeBatch = 512
	// loadBatch is how many .idx entries LoadIdx applies per lock hold.
	loadBatch = 4096
)

// compactEntry is one live needle inside a segment: its key minus the
// segment's base, and its Value. 12 bytes, no pointers (the GC never scans
// segment arrays).
type compactEntry struct {
	delta  uint32
	offset uint32
	size   uint32
}

// CompactMap is the default in-memory Map: about 12 bytes per live needle.
//
// Keys live in sorted segments of at most segMax entries; segment i holds
// keys in [bases[i], bases[i]+2^32) and below bases[i+1], each as a 32-bit
// delta from its base. Get is a binary search over the bases and an
// interpolation search inside one segment, under a read lock. Keys
// arriving in ascending order (the master hands out a sequence) append to
// the last segment; other keys are inserted in place, splitting full
// segments. Segments are never empty.
//
// All methods are safe for concurrent use. Put, Delete and Close never fail.
type CompactMap struct {
	mu    sync.RWMutex
	bases []Key
	segs  [][]compactEntry
	n     int
}

var _ Map = (*CompactMap)(nil)

// NewCompactMap returns an empty CompactMap.
func NewCompactMap() *CompactMap { return &CompactMap{} }

// Get returns the value stored for key. It takes only a read lock.
func (m *CompactMap) Get(key Key) (Value, bool) {
	m.mu.RLock()
	v, ok := m.get(key)
	m.mu.RUnlock()
	return v, ok
}

func (m *CompactMap) get(key Key) (Value, bool) {
	i := m.segFor(key)
	if i < 0 {
		return Value{}, false
	}
	d := uint64(key - m.bases[i])
	if d > math.MaxUint32 {
		return Value{}, false
	}
	ents := m.segs[i]
	j := searchDelta(ents, uint32(d))
	if j < len(ents) && ents[j].delta == uint32(d) {
		return Value{Offset: ents[j].offset, Size: ents[j].size}, true
	}
	return Value{}, false
}

// Put stores v for key and returns the value it replaced. It never fails.
func (m *CompactMap) Put(key Key, v Value) (Value, bool, error) {
	m.mu.Lock()
	old, had := m.put(key, v)
	m.mu.Unlock()
	return old, had, nil
}

// Delete removes key and returns the value it held. It never fails.
func (m *CompactMap) Delete(key Key) (Value, bool, error) {
	m.mu.Lock()
	old, had := m.delete(key)
	m.mu.Unlock()
	return old, had, nil
}

// Len returns the number of keys held.
func (m *CompactMap) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.n
}

// Range calls fn for every key in ascending order. It copies up to
// rangeBatch entries at a time under the read lock and calls fn without any
// lock held, so a long walk never stalls writers or readers.
func (m *CompactMap) Range(fn func(Key, Value) error) error {
	type kv struct {
		k Key
		v Value
	}
	buf := make([]kv, 0, rangeBatch)
	from := Key(0)
	for {
		buf = buf[:0]
		m.mu.RLock()
		i := m.segFor(from)
		if i < 0 {
			i = 0
		}
		for ; i < len(m.segs) && len(buf) < rangeBatch; i++ {
			base, ents := m.bases[i], m.segs[i]
			j := 0
			if from > base {
				if d := uint64(from - base); d <= math.MaxUint32 {
					j = searchDelta(ents, uint32(d))
				} else {
					j = len(ents)
				}
			}
			for ; j < len(ents) && len(buf) < rangeBatch; j++ {
				e := ents[j]
				buf = append(buf, kv{base + Key(e.delta), Value{Offset: e.offset, Size: e.size}})
			}
		}
		m.mu.RUnlock()
		if len(buf) == 0 {
			return nil
		}
		for _, x := range buf {
			if err := fn(x.k, x.v); err != nil {
				return err
			}
		}
		last := buf[len(buf)-1].k
		if last == math.MaxUint64 {
			return nil
		}
		from = last + 1
	}
}

// Close drops the map's memory. It never fails.
func (m *CompactMap) Close() error {
	m.mu.Lock()
	m.bases, m.segs, m.n = nil, nil, 0
	m.mu.Unlock()
	return nil
}

// load replays an .idx stream, holding the write lock for loadBatch entries
// at a time instead of once per entry.
func (m *CompactMap) load(r io.Reader, st *IdxStats) error {
	return walkIdxChunks(r, func(chunk []byte) error {
		for len(chunk) > 0 {
			n := min(len(chunk), loadBatch*IdxEntrySize)
			m.mu.Lock()
			for i := 0; i < n; i += IdxEntrySize {
				e := parseIdxEntry(chunk[i : i+IdxEntrySize])
				var (
					old Value
					had bool
				)
				if e.IsDelete() {
					old, had = m.delete(e.Key)
				} else {
					old, had = m.put(e.Key, Value{Offset: e.Offset, Size: e.Size})
				}
				st.Count(e, old, had)
			}
			m.mu.Unlock()
			chunk = chunk[n:]
		}
		return nil
	})
}

// segFor returns the index of the last segment whose base is <= key, or -1.
func (m *CompactMap) segFor(key Key) int {
	lo, hi := 0, len(m.bases)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if m.bases[h] <= key {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo - 1
}

// searchDelta returns the first index whose delta is >= d. Deltas are
// usually spread evenly (keys come from a sequence), so it guesses the
// position by interpolation and gallops from there: typically one or two
// cache lines are touched instead of the ten of a binary search.
func searchDelta(ents []compactEntry, d uint32) int {
	n := len(ents)
	if n == 0 {
		return 0
	}
	first, last := ents[0].delta, ents[n-1].delta
	switch {
	case d <= first:
		return 0
	case d > last:
		return n
	}
	// first < d <= last, so last > first and the answer is in [1, n-1].
	g := 1 + int(uint64(d-first)*uint64(n-2)/uint64(last-first))
	var lo, hi int // the answer is in (lo, hi]: ents[lo] < d <= ents[hi]
	if ents[g].delta < d {
		lo, hi = g, g+1
		for step := 1; ents[hi].delta < d; step *= 2 {
			lo = hi
			hi = min(hi+step, n-1)
		}
	} else {
		lo, hi = g-1, g
		for step := 1; ents[lo].delta >= d; step *= 2 {
			hi = lo
			lo = max(lo-step, 0)
		}
	}
	for hi-lo > 1 {
		h := int(uint(lo+hi) >> 1)
		if ents[h].delta < d {
			lo = h
		} else {
			hi = h
		}
	}
	return hi
}

func (m *CompactMap) lastKey(i int) Key {
	ents := m.segs[i]
	return m.bases[i] + Key(ents[len(ents)-1].delta)
}

func (m *CompactMap) put(key Key, v Value) (Value, bool) {
	last := len(m.segs) - 1
	if last < 0 {
		m.insertSegment(0, key, v)
		return Value{}, false
	}
	// Fast path: a key above every key held, the usual case.
	if key > m.lastKey(last) {
		ents := m.segs[last]
		if d := uint64(key - m.bases[last]); d <= math.MaxUint32 && len(ents) < segMax {
			m.segs[last] = insertEntry(ents, len(ents), compactEntry{uint32(d), v.Offset, v.Size}, segMax)
			m.n++
			return Value{}, false
		}
		m.insertSegment(last+1, key, v)
		return Value{}, false
	}
	i := m.segFor(key)
	if i >= 0 {
		if d := uint64(key - m.bases[i]); d <= math.MaxUint32 {
			ents := m.segs[i]
			j := searchDelta(ents, uint32(d))
			if j < len(ents) && ents[j].delta == uint32(d) {
				old := Value{Offset: ents[j].offset, Size: ents[j].size}
				ents[j].offset, ents[j].size = v.Offset, v.Size
				return old, true
			}
			// A key past the end of a full segment goes to the front of the
			// next one when it can: keys arriving slightly out of order
			// then never split segments.
			if j < len(ents) || len(ents) < segMax || !m.prependTo(i+1, key, v) {
				m.insertAt(i, j, compactEntry{uint32(d), v.Offset, v.Size})
			}
			m.n++
			return Value{}, false
		}
	}
	// key is below every base (i < 0) or beyond the reach of segment i.
	if m.prependTo(i+1, key, v) {
		m.n++
	} else {
		m.insertSegment(i+1, key, v)
	}
	return Value{}, false
}

// prependTo puts key, which must be below every key of segment i and above
// every key of segment i-1, at the front of segment i by lowering its base.
// It reports false if segment i does not exist, is full, or would then span
// more than 2^32 keys. It does not change m.n.
func (m *CompactMap) prependTo(i int, key Key, v Value) bool {
	if i >= len(m.segs) || len(m.segs[i]) >= segMax || uint64(m.lastKey(i)-key) > math.MaxUint32 {
		return false
	}
	shift := uint32(m.bases[i] - key)
	ents := m.segs[i]
	for j := range ents {
		ents[j].delta += shift
	}
	m.bases[i] = key
	m.insertAt(i, 0, compactEntry{0, v.Offset, v.Size})
	return true
}

// insertAt inserts e at position j of segment i, splitting the segment in
// two if it is full.
func (m *CompactMap) insertAt(i, j int, e compactEntry) {
	ents := m.segs[i]
	if len(ents) < segMax {
		limit := len(ents) + len(ents)/8 + 4
		if i == len(m.segs)-1 {
			limit = segMax // the last segment is where appends land
		}
		m.segs[i] = insertEntry(ents, j, e, limit)
		return
	}
	h := len(ents) / 2
	left := cloneEntries(ents[:h], h+h/8)
	rbase := m.bases[i] + Key(ents[h].delta)
	right := cloneEntries(ents[h:], len(ents)-h+(len(ents)-h)/8)
	shift := ents[h].delta
	for k := range right {
		right[k].delta -= shift
	}
	m.segs[i] = left
	m.bases = insertAtIndex(m.bases, i+1, rbase)
	m.segs = insertAtIndex(m.segs, i+1, right)
	if j <= h { // ents[j] is the first key above e's, so j == h appends to left
		m.segs[i] = insertEntry(left, j, e, segMax)
	} else {
		e.delta -= shift
		m.segs[i+1] = insertEntry(right, j-h, e, segMax)
	}
}

// insertSegment creates a one-entry segment at index i with base key.
func (m *CompactMap) insertSegment(i int, key Key, v Value) {
	c := 4
	if i == len(m.segs) {
		c = segMax // a new last segment: ascending keys will fill it
	}
	ents := cloneEntries(nil, c)
	ents = append(ents, compactEntry{0, v.Offset, v.Size})
	m.bases = insertAtIndex(m.bases, i, key)
	m.segs = insertAtIndex(m.segs, i, ents)
	m.n++
}

func (m *CompactMap) delete(key Key) (Value, bool) {
	i := m.segFor(key)
	if i < 0 {
		return Value{}, false
	}
	d := uint64(key - m.bases[i])
	if d > math.MaxUint32 {
		return Value{}, false
	}
	ents := m.segs[i]
	j := searchDelta(ents, uint32(d))
	if j >= len(ents) || ents[j].delta != uint32(d) {
		return Value{}, false
	}
	old := Value{Offset: ents[j].offset, Size: ents[j].size}
	copy(ents[j:], ents[j+1:])
	ents = ents[:len(ents)-1]
	m.n--
	switch {
	case len(ents) == 0:
		m.bases = removeAtIndex(m.bases, i)
		m.segs = removeAtIndex(m.segs, i)
		return old, true
	case cap(ents) > 16 && len(ents) < cap(ents)-cap(ents)/8 && i < len(m.segs)-1:
		// Give back memory once 1/8 of the array is unused (except in the
		// last segment, where appends land). A shrink copies the segment
		// after about len/16 deletes, so deletes stay O(1) amortized.
		ents = cloneEntries(ents, len(ents)+len(ents)/16)
	}
	m.segs[i] = ents
	if len(ents) < segMin {
		if !m.merge(i) && i > 0 {
			m.merge(i - 1)
		}
	}
	return old, true
}

// merge moves segment i+1 into segment i if the result stays well below
// segMax and within 2^32 keys of segment i's base.
func (m *CompactMap) merge(i int) bool {
	if i+1 >= len(m.segs) {
		return false
	}
	a, b := m.segs[i], m.segs[i+1]
	total := len(a) + len(b)
	if total > segMax/2 || uint64(m.lastKey(i+1)-m.bases[i]) > math.MaxUint32 {
		return false
	}
	shift := uint32(m.bases[i+1] - m.bases[i])
	merged := cloneEntries(a, total+total/8)
	for _, e := range b {
		e.delta += shift
		merged = append(merged, e)
	}
	m.segs[i] = merged
	m.bases = removeAtIndex(m.bases, i+1)
	m.segs = removeAtIndex(m.segs, i+1)
	return true
}

// cloneEntries returns a fresh array holding src with room for at least
// capHint entries. Capacity is rounded up to the allocator's size class, so
// the slot's spare bytes are usable instead of wasted.
func cloneEntries(src []compactEntry, capHint int) []compactEntry {
	c := max(capHint, len(src))
	out := append([]compactEntry(nil), make([]compactEntry, c)...)
	return append(out[:0], src...)
}

// insertEntry inserts e at position j, growing the array to about 1/8 more
// (but at most limit, and at least one more) when it is full.
func insertEntry(ents []compactEntry, j int, e compactEntry, limit int) []compactEntry {
	if len(ents) == cap(ents) {
		c := min(len(ents)+len(ents)/8+4, limit)
		ents = cloneEntries(ents, max(c, len(ents)+1))
	}
	ents = ents[:len(ents)+1]
	copy(ents[j+1:], ents[j:])
	ents[j] = e
	return ents
}

func insertAtIndex[T any](s []T, i int, x T) []T {
	var zero T
	s = append(s, zero)
	copy(s[i+1:], s[i:])
	s[i] = x
	return s
}

func removeAtIndex[T any](s []T, i int) []T {
	copy(s[i:], s[i+1:])
	var zero T
	s[len(s)-1] = zero
	return s[:len(s)-1]
}
