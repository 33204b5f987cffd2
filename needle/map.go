package needle

import (
	"errors"
	"fmt"
	"io"
)

// Value is where a live needle sits in its volume's .dat: Offset in 8-byte
// units and the body Size, as in its .idx entry.
type Value struct {
	Offset uint32
	Size   uint32
}

// Map is a volume's index from needle key to the location of its live
// needle. It holds live needles only: Delete removes the key.
//
// Implementations are safe for concurrent use; Get may run in parallel with
// other Gets and with one writer. Methods that touch a disk return errors;
// after Close no method may be called.
type Map interface {
	// Get returns the value stored for key; ok is false if there is none.
	Get(key Key) (v Value, ok bool)
	// Put stores v for key and returns the value it replaced, if any.
	Put(key Key, v Value) (old Value, replaced bool, err error)
	// Delete removes key and returns the value it held, if any. Deleting a
	// missing key is not an error.
	Delete(key Key) (old Value, deleted bool, err error)
	// Len returns the number of keys held.
	Len() int
	// Range calls fn for every key in ascending key order until fn returns
	// an error, which Range returns unchanged. fn runs without the map's
	// locks held, so it may call the map; keys put or deleted during the
	// walk may or may not be visited, every other key is visited once.
	Range(fn func(key Key, v Value) error) error
	// Close releases the map's resources (and, for a persistent map,
	// commits what is pending).
	Close() error
}

// IdxWatermarker is implemented by maps that persist their contents (the
// bolt map), so that a volume restart replays only the .idx tail. A volume
// finds it by type assertion.
type IdxWatermarker interface {
	// IdxWatermark returns the last watermark set (or, right after opening,
	// the one committed): every .idx entry in the first Offset bytes is
	// reflected in the map, and Stats are the volume's counters as of then.
	// A map never committed before returns the zero IdxWatermark.
	IdxWatermark() IdxWatermark
	// SetIdxWatermark records w. Call it only after the Puts and Deletes of
	// every entry below w.Offset. It is committed together with those
	// writes, never ahead of them.
	SetIdxWatermark(w IdxWatermark)
}

// IdxWatermark is how far into its .idx a persistent map is known to be
// applied, with the volume's counters at that point.
type IdxWatermark struct {
	Offset int64
	Stats  IdxStats
}

// IdxStats are the counters a volume derives from replaying its .idx.
// The zero value is the state of an empty volume.
type IdxStats struct {
	// Entries is the number of whole .idx entries applied.
	Entries int64
	// FileCount is the number of put entries (overwrites included).
	FileCount int64
	// DeleteCount is the number of needles made garbage: removed by a delete
	// entry or replaced by a later put. Live = FileCount - DeleteCount.
	DeleteCount int64
	// DeletedByteCount is the body bytes of those needles.
	DeletedByteCount uint64
	// MaxKey is the largest key of any entry, deletes included.
	MaxKey Key
	// LastEntry is the last entry with a non-zero offset (a put, or a delete
	// naming its tombstone record); a .dat scan for unindexed records starts
	// at LastEntry.RecordEnd. Its Offset is 0 if there was none.
	LastEntry IdxEntry
	// PartialTail reports that the last LoadIdx found the .idx ending
	// inside an entry (a torn append); the volume truncates the file to a
	// multiple of 16 bytes.
	PartialTail bool
}

// Count folds one applied entry into s: e is the entry and old/had what the
// map's Put or Delete returned for it. A volume calls it for every write so
// that its counters follow the same rules as a replay.
func (s *IdxStats) Count(e IdxEntry, old Value, had bool) {
	s.Entries++
	if e.Key > s.MaxKey {
		s.MaxKey = e.Key
	}
	if e.Offset != 0 {
		s.LastEntry = e
	}
	if !e.IsDelete() {
		s.FileCount++
	}
	if had {
		s.DeleteCount++
		s.DeletedByteCount += uint64(old.Size)
	}
}

// Apply applies one .idx entry to m (Delete for a delete entry, Put
// otherwise) and returns what the map reported.
func Apply(m Map, e IdxEntry) (old Value, had bool, err error) {
	if e.IsDelete() {
		return m.Delete(e.Key)
	}
	return m.Put(e.Key, Value{Offset: e.Offset, Size: e.Size})
}

// LoadIdx replays an .idx stream into m, folding every entry into st (start
// from the zero IdxStats for a full replay, or from a watermark's Stats to
// resume from its Offset). A partial trailing entry sets st.PartialTail
// (cleared otherwise) and is not an error. A map error or a read error is
// returned wrapped; st then covers the entries applied so far.
//
// Loading a *CompactMap takes its write lock once per 4096 entries rather
// than once per entry.
func LoadIdx(r io.Reader, m Map, st *IdxStats) error {
	st.PartialTail = false
	var err error
	if cm, ok := m.(*CompactMap); ok {
		err = cm.load(r, st)
	} else {
		err = WalkIdx(r, func(e IdxEntry) error {
			old, had, err := Apply(m, e)
			if err != nil {
				return fmt.Errorf("apply .idx entry for key %x: %w", uint64(e.Key), err)
			}
			st.Count(e, old, had)
			return nil
		})
	}
	if errors.Is(err, ErrIdxPartialEntry) {
		st.PartialTail = true
		return nil
	}
	return err
}
