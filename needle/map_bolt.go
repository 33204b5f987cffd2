package needle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/golang/glog"
	bolt "go.etcd.io/bbolt"
)

// ErrMapClosed is returned by a BoltMap used after Close.
var ErrMapClosed = errors.New("needle map closed")

var (
	boltNeedles   = []byte("needles")
	boltMeta      = []byte("meta")
	boltCountKey  = []byte("count")
	boltWmarkKey  = []byte("idx-watermark")
	boltRangeStep = 1024 // entries read per bolt read transaction in Range
)

// watermarkFormat is the first byte of an encoded IdxWatermark.
const watermarkFormat = 1

// BoltMapOptions tune a BoltMap. The zero value gives the defaults.
type BoltMapOptions struct {
	// BatchSize is how many pending writes make Put or Delete commit at
	// once (default 4096).
	BatchSize int
	// FlushInterval is how often a background goroutine commits pending
	// writes (default 5ms).
	FlushInterval time.Duration
	// NoSync skips fsync on commit. Faster, but after a power loss (not a
	// process crash) the bolt file may be unusable and must be rebuilt.
	NoSync bool
}

type boltOp struct {
	v   Value
	del bool
}

// BoltMap is a Map kept in a bbolt file (key: 8-byte big-endian needle key,
// value: offset(4) size(4)), for volumes whose index should not live in RAM.
//
// Writes are buffered in memory and committed in batches: when BatchSize
// writes are pending, every FlushInterval, on Sync, Range and Close. Get
// sees pending writes. It implements IdxWatermarker: the watermark is
// committed in the same bolt transaction as the writes made before it was
// set, so after a crash the committed watermark is never ahead of the
// committed entries; the entries after it are replayed from the .idx. If
// the .idx is found shorter than the watermark (its tail was lost with the
// power), the map is ahead of the .idx and should be rebuilt from scratch.
//
// All methods are safe for concurrent use; Put and Delete are serialized.
// A failed commit is sticky: every later write, Sync and Close return it.
// Get returns not found if the bolt file cannot be read.
type BoltMap struct {
	db   *bolt.DB
	opts BoltMapOptions

	writeMu sync.Mutex // serializes Put and Delete (lookup then write)
	flushMu sync.Mutex // serializes commits

	mu          sync.RWMutex // guards the fields below
	pending     map[Key]boltOp
	flushing    map[Key]boltOp // the batch being committed, still visible to Get
	n           int
	wm          IdxWatermark
	committedWM IdxWatermark
	err         error
	closing     bool // Close has started
	closed      bool // the bolt file is closed

	stop chan struct{}
	done chan struct{}
}

var (
	_ Map            = (*BoltMap)(nil)
	_ IdxWatermarker = (*BoltMap)(nil)
)

// OpenBoltMap opens or creates the bolt file at path. opts may be nil. The
// file is locked: a second open of the same path fails after one second.
func OpenBoltMap(path string, opts *BoltMapOptions) (*BoltMap, error) {
	var o BoltMapOptions
	if opts != nil {
		o = *opts
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 4096
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 5 * time.Millisecond
	}
	db, err := bolt.Open(path, 0o644, &bolt.Options{
		Timeout:        time.Second,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		NoSync:         o.NoSync,
		NoGrowSync:     o.NoSync,
	})
	if err != nil {
		return nil, fmt.Errorf("open needle map %s: %w", path, err)
	}
	m := &BoltMap{
		db:      db,
		opts:    o,
		pending: make(map[Key]boltOp),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(boltNeedles)
		if err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(boltMeta)
		if err != nil {
			return err
		}
		if c := meta.Get(boltCountKey); len(c) == 8 {
			m.n = int(binary.BigEndian.Uint64(c))
		} else {
			m.n = b.Stats().KeyN
		}
		if w := meta.Get(boltWmarkKey); w != nil {
			if m.wm, err = decodeWatermark(w); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open needle map %s: %w", path, err)
	}
	m.committedWM = m.wm
	go m.flushLoop()
	return m, nil
}

// Get returns the value for key, pending writes included.
func (m *BoltMap) Get(key Key) (Value, bool) {
	if op, ok := m.pendingOp(key); ok {
		return op.v, !op.del
	}
	v, ok, err := m.stored(key)
	if err != nil {
		return Value{}, false
	}
	return v, ok
}

// Put stores v for key (committed later, see BoltMap).
func (m *BoltMap) Put(key Key, v Value) (Value, bool, error) {
	return m.write(key, boltOp{v: v})
}

// Delete removes key (committed later, see BoltMap).
func (m *BoltMap) Delete(key Key) (Value, bool, error) {
	return m.write(key, boltOp{del: true})
}

func (m *BoltMap) write(key Key, op boltOp) (Value, bool, error) {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	if err := m.failure(); err != nil {
		return Value{}, false, err
	}
	// No other writer runs, so key cannot enter pending or flushing before
	// we write it, and its stored value is stable.
	old, had := Value{}, false
	if p, ok := m.pendingOp(key); ok {
		old, had = p.v, !p.del
	} else {
		var err error
		if old, had, err = m.stored(key); err != nil {
			return Value{}, false, err
		}
	}
	if op.del && !had {
		return Value{}, false, nil
	}
	m.mu.Lock()
	m.pending[key] = op
	switch {
	case op.del:
		m.n--
	case !had:
		m.n++
	}
	full := len(m.pending) >= m.opts.BatchSize
	m.mu.Unlock()
	if full {
		if err := m.flush(); err != nil {
			return old, had, err
		}
	}
	return old, had, nil
}

// Len returns the number of keys, pending writes included.
func (m *BoltMap) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.n
}

// Range commits pending writes, then walks the bolt file in ascending key
// order, boltRangeStep keys per read transaction; fn runs outside any
// transaction or lock.
func (m *BoltMap) Range(fn func(Key, Value) error) error {
	if err := m.flush(); err != nil {
		return err
	}
	type kv struct {
		k Key
		v Value
	}
	buf := make([]kv, 0, boltRangeStep)
	var seek [8]byte
	first := true
	for {
		buf = buf[:0]
		err := m.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(boltNeedles).Cursor()
			k, v := c.Seek(seek[:])
			if !first && len(k) == 8 && [8]byte(k) == seek {
				k, v = c.Next()
			}
			for ; k != nil && len(buf) < boltRangeStep; k, v = c.Next() {
				if len(k) != 8 || len(v) != 8 {
					return fmt.Errorf("%w: bolt entry of %d/%d bytes", ErrCorrupt, len(k), len(v))
				}
				buf = append(buf, kv{Key(binary.BigEndian.Uint64(k)), decodeBoltValue(v)})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("range needle map: %w", err)
		}
		for _, x := range buf {
			if err := fn(x.k, x.v); err != nil {
				return err
			}
		}
		if len(buf) < boltRangeStep {
			return nil
		}
		binary.BigEndian.PutUint64(seek[:], uint64(buf[len(buf)-1].k))
		first = false
	}
}

// Sync commits every pending write and the current watermark.
func (m *BoltMap) Sync() error { return m.flush() }

// IdxWatermark returns the watermark last set, or the committed one right
// after OpenBoltMap.
func (m *BoltMap) IdxWatermark() IdxWatermark {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.wm
}

// SetIdxWatermark records w; it is committed with the next batch.
func (m *BoltMap) SetIdxWatermark(w IdxWatermark) {
	m.mu.Lock()
	m.wm = w
	m.mu.Unlock()
}

// Close commits what is pending and closes the bolt file. A second Close
// returns nil.
func (m *BoltMap) Close() error {
	m.mu.Lock()
	if m.closing {
		m.mu.Unlock()
		return nil
	}
	m.closing = true
	m.mu.Unlock()
	close(m.stop)
	<-m.done
	err := m.flush()
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	if cerr := m.db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close needle map: %w", cerr)
	}
	return err
}

func (m *BoltMap) failure() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrMapClosed
	}
	return m.err
}

func (m *BoltMap) pendingOp(key Key) (boltOp, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if op, ok := m.pending[key]; ok {
		return op, true
	}
	op, ok := m.flushing[key]
	return op, ok
}

// stored reads key's committed value.
func (m *BoltMap) stored(key Key) (v Value, ok bool, err error) {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(key))
	err = m.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(boltNeedles).Get(k[:]); len(b) == 8 {
			v, ok = decodeBoltValue(b), true
		}
		return nil
	})
	if err != nil {
		return Value{}, false, fmt.Errorf("read needle map: %w", err)
	}
	return v, ok, nil
}

// flush commits the pending batch and watermark in one bolt transaction.
// The batch stays visible to Get (as flushing) until the commit is done.
func (m *BoltMap) flush() error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrMapClosed
	}
	if m.err != nil || (len(m.pending) == 0 && m.wm == m.committedWM) {
		err := m.err
		m.mu.Unlock()
		return err
	}
	batch, wm, n := m.pending, m.wm, m.n
	m.flushing = batch
	m.pending = make(map[Key]boltOp, len(batch))
	m.mu.Unlock()

	err := m.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltNeedles)
		keys := make([]Key, 0, len(batch))
		for k := range batch {
			keys = append(keys, k)
		}
		slices.Sort(keys) // bolt inserts fastest in key order
		mem := make([]byte, 16*len(keys))
		for i, k := range keys {
			kb, vb := mem[16*i:16*i+8:16*i+8], mem[16*i+8:16*i+16:16*i+16]
			binary.BigEndian.PutUint64(kb, uint64(k))
			op := batch[k]
			if op.del {
				if err := b.Delete(kb); err != nil {
					return err
				}
				continue
			}
			binary.BigEndian.PutUint32(vb[0:4], op.v.Offset)
			binary.BigEndian.PutUint32(vb[4:8], op.v.Size)
			if err := b.Put(kb, vb); err != nil {
				return err
			}
		}
		meta := tx.Bucket(boltMeta)
		var cnt [8]byte
		binary.BigEndian.PutUint64(cnt[:], uint64(n))
		if err := meta.Put(boltCountKey, cnt[:]); err != nil {
			return err
		}
		return meta.Put(boltWmarkKey, encodeWatermark(wm))
	})

	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		// Keep the batch visible: the map stays readable as it was.
		for k, op := range m.pending {
			batch[k] = op
		}
		m.pending, m.flushing = batch, nil
		m.err = fmt.Errorf("commit needle map: %w", err)
		return m.err
	}
	m.flushing = nil
	m.committedWM = wm
	return nil
}

func (m *BoltMap) flushLoop() {
	defer close(m.done)
	t := time.NewTicker(m.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			if err := m.flush(); err != nil && !errors.Is(err, ErrMapClosed) {
				glog.Errorf("needle map %s: %v", m.db.Path(), err)
				return
			}
		}
	}
}

func decodeBoltValue(b []byte) Value {
	return Value{Offset: binary.BigEndian.Uint32(b[0:4]), Size: binary.BigEndian.Uint32(b[4:8])}
}

const watermarkLen = 1 + 8*6 + IdxEntrySize + 1

func encodeWatermark(w IdxWatermark) []byte {
	b := make([]byte, 0, watermarkLen)
	b = append(b, watermarkFormat)
	b = binary.BigEndian.AppendUint64(b, uint64(w.Offset))
	b = binary.BigEndian.AppendUint64(b, uint64(w.Stats.Entries))
	b = binary.BigEndian.AppendUint64(b, uint64(w.Stats.FileCount))
	b = binary.BigEndian.AppendUint64(b, uint64(w.Stats.DeleteCount))
	b = binary.BigEndian.AppendUint64(b, w.Stats.DeletedByteCount)
	b = binary.BigEndian.AppendUint64(b, uint64(w.Stats.MaxKey))
	b = w.Stats.LastEntry.AppendTo(b)
	partial := byte(0)
	if w.Stats.PartialTail {
		partial = 1
	}
	return append(b, partial)
}

func decodeWatermark(b []byte) (IdxWatermark, error) {
	if len(b) != watermarkLen || b[0] != watermarkFormat {
		return IdxWatermark{}, fmt.Errorf("%w: idx watermark of %d bytes is not format %d", ErrCorrupt, len(b), watermarkFormat)
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(b[1+8*i:]) }
	var w IdxWatermark
	w.Offset = int64(u(0))
	w.Stats.Entries = int64(u(1))
	w.Stats.FileCount = int64(u(2))
	w.Stats.DeleteCount = int64(u(3))
	w.Stats.DeletedByteCount = u(4)
	w.Stats.MaxKey = Key(u(5))
	w.Stats.LastEntry = parseIdxEntry(b[1+8*6:])
	w.Stats.PartialTail = b[watermarkLen-1] == 1
	return w, nil
}
