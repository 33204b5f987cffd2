package volume

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume/volumetest"
)

// salvageBase writes needles 1..6 and deletes needle 6 into a closed
// volume in dir, and returns the [start, end) of each record: six puts,
// then the tombstone.
func salvageBase(t *testing.T, dir string, opts Options) [][2]int64 {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	v := createVol(t, dir, opts)
	var spans [][2]int64
	for k := needle.Key(1); k <= 6; k++ {
		start := int64(v.Size())
		mustWrite(t, v, volumetest.Needle(k, 0, 100+int(k)*50))
		spans = append(spans, [2]int64{start, int64(v.Size())})
	}
	start := int64(v.Size())
	if _, err := v.Delete(6, volumetest.CookieOf(6), 0); err != nil {
		t.Fatal(err)
	}
	spans = append(spans, [2]int64{start, int64(v.Size())})
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	return spans
}

// TestLoadSkipsDamagedRecords damages records of a .dat whose .idx lost
// its entries (a kill -9 in the .idx flush window) and checks that the
// load keeps every intact record, before and after the damage, and cuts
// only a torn final record.
func TestLoadSkipsDamagedRecords(t *testing.T) {
	flip := func(at func(s [][2]int64) int64) func(b []byte, s [][2]int64) []byte {
		return func(b []byte, s [][2]int64) []byte {
			p := at(s)
			for i := int64(0); i < 8; i++ {
				b[p+i] ^= 0x5a
			}
			return b
		}
	}
	dataOf := func(i int) func(s [][2]int64) int64 { return func(s [][2]int64) int64 { return s[i][0] + 40 } }
	setSize := func(i int, size uint32) func(b []byte, s [][2]int64) []byte {
		return func(b []byte, s [][2]int64) []byte {
			binary.BigEndian.PutUint32(b[s[i][0]+12:], size)
			return b
		}
	}
	zero := func(i int) func(b []byte, s [][2]int64) []byte {
		return func(b []byte, s [][2]int64) []byte {
			clear(b[s[i][0]:s[i][1]])
			return b
		}
	}
	zeroHeader := func(i int) func(b []byte, s [][2]int64) []byte {
		return func(b []byte, s [][2]int64) []byte {
			clear(b[s[i][0] : s[i][0]+needle.HeaderSize])
			return b
		}
	}
	both := func(a, b func([]byte, [][2]int64) []byte) func([]byte, [][2]int64) []byte {
		return func(d []byte, s [][2]int64) []byte { return b(a(d, s), s) }
	}
	tests := []struct {
		name string
		// damage patches the .dat given each record's span (puts of keys
		// 1..6 at 0..5, the tombstone of 6 at 6).
		damage func(b []byte, s [][2]int64) []byte
		// lost are the keys whose record is damaged (not served).
		lost []needle.Key
		// cut is whether the .dat loses bytes (only a torn final record).
		cut bool
	}{
		{name: "data of the first record", damage: flip(dataOf(0)), lost: []needle.Key{1}},
		{name: "data of a middle record", damage: flip(dataOf(2)), lost: []needle.Key{3}},
		{name: "data of the last put", damage: flip(dataOf(5))},
		{name: "checksum of the first record", damage: flip(func(s [][2]int64) int64 { return s[0][1] - 24 }), lost: []needle.Key{1}},
		{name: "size of the first record grown", damage: setSize(0, 1<<20), lost: []needle.Key{1}},
		{name: "size of a middle record shrunk", damage: setSize(3, 40), lost: []needle.Key{4}},
		{name: "size past 4 GB", damage: setSize(1, 0xfffffff0), lost: []needle.Key{2}},
		{name: "header of the first record zeroed", damage: zeroHeader(0), lost: []needle.Key{1}},
		{name: "a middle record zeroed", damage: zero(2), lost: []needle.Key{3}},
		{name: "two records in a row", damage: both(flip(dataOf(1)), setSize(2, 7)), lost: []needle.Key{2, 3}},
		{name: "first and middle records", damage: both(flip(dataOf(0)), zeroHeader(3)), lost: []needle.Key{1, 4}},
		{name: "size grown, then damaged data", damage: both(setSize(0, 1<<20), flip(dataOf(3))), lost: []needle.Key{1, 4}},
		{name: "torn final record", damage: func(b []byte, s [][2]int64) []byte { return b[:s[5][0]+100] }, cut: true},
		{name: "damaged record then a torn one", damage: func(b []byte, s [][2]int64) []byte {
			b = flip(dataOf(1))(b, s)
			return b[:s[5][0]+100]
		}, lost: []needle.Key{2}, cut: true},
	}
	forEachMap(t, func(t *testing.T, opts Options) {
		base := filepath.Join(t.TempDir(), "base")
		spans := salvageBase(t, base, opts)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				work := filepath.Join(t.TempDir(), "work")
				replaceFiles(t, base, work, func(b []byte) []byte { return tc.damage(b, spans) }, 0)
				before, err := os.Stat(filepath.Join(work, "1.dat"))
				if err != nil {
					t.Fatal(err)
				}
				v, err := Open(work, "", 1, opts)
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				defer v.Close()
				for k := needle.Key(1); k <= 5; k++ {
					n, _, err := v.Read(k, volumetest.CookieOf(k), nil)
					lost := false
					for _, l := range tc.lost {
						lost = lost || l == k
					}
					switch {
					case lost && err == nil:
						t.Errorf("needle %d: the damaged record is served", k)
					case !lost && err != nil:
						t.Errorf("needle %d: intact record lost: %v", k, err)
					case !lost && !bytes.Equal(n.Data, volumetest.Payload(k, 0, 100+int(k)*50)):
						t.Errorf("needle %d: served other bytes", k)
					}
				}
				// The tombstone after the damage still deletes needle 6
				// (or needle 6 went with the torn tail).
				expectGone(t, v, 6)
				after := int64(v.Size())
				if tc.cut != (after < before.Size()) {
					t.Errorf(".dat %d bytes before the load, %d after; want cut %v", before.Size(), after, tc.cut)
				}
				mustWrite(t, v, volumetest.Needle(7, 0, 64))
				if err := v.Close(); err != nil {
					t.Fatal(err)
				}
				mustCheck(t, work)
				// A second load finds the same needles.
				v = openVol(t, work, opts)
				expectNeedle(t, v, 7, volumetest.Payload(7, 0, 64))
				for k := needle.Key(1); k <= 5; k++ {
					if _, _, err := v.Read(k, volumetest.CookieOf(k), nil); (err == nil) == contains(tc.lost, k) {
						t.Errorf("second load: needle %d: %v", k, err)
					}
				}
			})
		}
	})
}

func contains(keys []needle.Key, k needle.Key) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

// TestLoadIndexedDamagedRecord damages a record the .idx covers: the load
// keeps the index as it is, a read of that needle answers the checksum
// error (read repair takes it from there), the others are served.
func TestLoadIndexedDamagedRecord(t *testing.T) {
	forEachMap(t, func(t *testing.T, opts Options) {
		base := filepath.Join(t.TempDir(), "base")
		spans := salvageBase(t, base, opts)
		for i, at := range []int{0, 2, 4} {
			work := filepath.Join(t.TempDir(), fmt.Sprint(i))
			replaceFiles(t, base, work, func(b []byte) []byte {
				for j := int64(0); j < 8; j++ {
					b[spans[at][0]+40+j] ^= 0x5a
				}
				return b
			}, -1)
			v := openVol(t, work, opts)
			leaveUnchecked(t, work) // the damaged record stays
			damaged := needle.Key(at + 1)
			if _, _, err := v.Read(damaged, volumetest.CookieOf(damaged), nil); !errors.Is(err, needle.ErrCRC) {
				t.Errorf("record %d: read of the damaged needle: %v, want ErrCRC", at, err)
			}
			for k := needle.Key(1); k <= 5; k++ {
				if k != damaged {
					expectNeedle(t, v, k, volumetest.Payload(k, 0, 100+int(k)*50))
				}
			}
			expectGone(t, v, 6)
			v.Close()
		}
	})
}

// TestNextRecordRejectsLookalikes checks that the search for the next
// record after damage takes no tombstone or empty needle that merely looks
// like one, inside needle data, unless a real record follows it.
func TestNextRecordRejectsLookalikes(t *testing.T) {
	tomb := needle.Tombstone(9, 0x1234, 1_700_000_000_000_000_000)
	trec, _ := tomb.AppendRecord(nil, needle.Version3)
	real := volumetest.Needle(3, 0, 50)
	rrec, _ := real.AppendRecord(nil, needle.Version3)
	garbage := bytes.Repeat([]byte{0xee}, 64)
	tests := []struct {
		name string
		b    []byte
		want int64 // offset of the record found; len(b) for none
	}{
		{"nothing", garbage, 64},
		{"a real needle", append(append([]byte{}, garbage...), rrec...), 64},
		{"a tombstone then a needle", append(append(append([]byte{}, garbage...), trec...), rrec...), 64},
		{"a tombstone at the end", append(append([]byte{}, garbage...), trec...), 64},
		{"a lone tombstone lookalike", append(append(append([]byte{}, garbage...), trec...), garbage[:16]...), int64(64 + len(trec) + 16)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := nextRecord(bytes.NewReader(tc.b), 0, int64(len(tc.b)), needle.Version3)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("next record at %d, want %d", got, tc.want)
			}
		})
	}
}

// TestVacuumStepsOverDeadDamage compacts a volume whose .dat holds a
// damaged record that read repair replaced (docs/consistency.md: the bad
// record becomes garbage for the next vacuum): the compaction drops it and
// keeps every live needle. A damaged record the map still names with a
// header that cannot be trusted stops the compaction instead.
func TestVacuumStepsOverDeadDamage(t *testing.T) {
	tests := []struct {
		name     string
		at       int64 // byte of the record of key 3 that is damaged
		repaired bool
		wantErr  bool
	}{
		{"dead record, damaged data", needle.HeaderSize + 20, true, false},
		{"dead record, damaged size", 8, true, false},
		{"live record, damaged data", needle.HeaderSize + 20, false, false},
		{"live record, damaged size", 8, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			v := createVolIn(t, dir, Options{})
			for k := needle.Key(1); k <= 10; k++ {
				writeAt(t, v, k, sec(float64(k)))
			}
			good, err := v.LiveRecord(3)
			if err != nil {
				t.Fatal(err)
			}
			good = append([]byte{}, good...)
			if err := v.Close(); err != nil {
				t.Fatal(err)
			}
			volumetest.DamageRecord(t, dir, 3, tc.at)
			leaveUnchecked(t, dir) // damaged on purpose
			v = openVol(t, dir, Options{})
			if tc.repaired {
				if res, err := v.ApplyRecords([][]byte{good}, ApplyOptions{Repair: true}); err != nil || res.Applied != 1 {
					t.Fatalf("repair: %+v %v", res, err)
				}
			}
			err = v.Compact()
			if tc.wantErr {
				if err == nil {
					t.Fatal("the compaction dropped a live needle it could not read")
				}
				return
			}
			if err != nil {
				t.Fatalf("compact: %v", err)
			}
			if err := v.CommitCompact(); err != nil {
				t.Fatalf("commit: %v", err)
			}
			for k := needle.Key(1); k <= 10; k++ {
				if k == 3 && !tc.repaired {
					if _, _, err := v.Read(3, volumetest.CookieOf(3), nil); !errors.Is(err, needle.ErrCRC) {
						t.Errorf("damaged live needle after the compaction: %v, want ErrCRC", err)
					}
					continue
				}
				expectNeedle(t, v, k, volumetest.Payload(k, 0, volumetest.SizeOf(k)))
			}
			if err := v.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.repaired {
				mustCheck(t, dir)
			}
		})
	}
}

// TestScrubStepsOverDamage scrubs a volume with a record whose size field
// is damaged: the scrub goes on past it, reports the key if that needle is
// live there, and reports nothing once read repair replaced it.
func TestScrubStepsOverDamage(t *testing.T) {
	for _, repaired := range []bool{false, true} {
		t.Run(fmt.Sprintf("repaired=%v", repaired), func(t *testing.T) {
			dir := t.TempDir()
			v := createVolIn(t, dir, Options{})
			for k := needle.Key(1); k <= 10; k++ {
				writeAt(t, v, k, sec(float64(k)))
			}
			good, err := v.LiveRecord(3)
			if err != nil {
				t.Fatal(err)
			}
			good = append([]byte{}, good...)
			if err := v.Close(); err != nil {
				t.Fatal(err)
			}
			volumetest.DamageRecord(t, dir, 3, 8)
			volumetest.DamageRecord(t, dir, 7, needle.HeaderSize+20)
			leaveUnchecked(t, dir) // damaged on purpose
			v = openVol(t, dir, Options{})
			want := []needle.Key{3, 7}
			if repaired {
				if res, err := v.ApplyRecords([][]byte{good}, ApplyOptions{Repair: true}); err != nil || res.Applied != 1 {
					t.Fatalf("repair: %+v %v", res, err)
				}
				want = []needle.Key{7}
			}
			damaged, err := v.Scrub(context.Background(), nil)
			if err != nil {
				t.Fatalf("scrub: %v", err)
			}
			slices.Sort(damaged)
			if !slices.Equal(damaged, want) {
				t.Errorf("scrub found %v, want %v", damaged, want)
			}
		})
	}
}

// TestResumeAfterTornRecord checks where a scan goes on after a record
// whose header says it runs past the end: records found inside it count
// only if whole records follow them up to the end exactly.
func TestResumeAfterTornRecord(t *testing.T) {
	torn := make([]byte, needle.HeaderSize)
	binary.BigEndian.PutUint32(torn[0:], 0x1234)
	binary.BigEndian.PutUint64(torn[4:], 77)
	binary.BigEndian.PutUint32(torn[12:], 4000)
	a, _ := volumetest.Needle(3, 0, 50).AppendRecord(nil, needle.Version3)
	b, _ := volumetest.Needle(4, 0, 90).AppendRecord(nil, needle.Version3)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		b    []byte
		want int64
	}{
		{"torn with nothing after", cat(torn, bytes.Repeat([]byte{7}, 100)), 116},
		{"records up to the end", cat(torn, a, b), needle.HeaderSize},
		{"records, then a torn one", cat(torn, a, b[:40]), int64(needle.HeaderSize + len(a) + 40)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := needle.ParseHeader(tc.b)
			got, err := newRecordProbe(bytes.NewReader(tc.b), int64(len(tc.b)), needle.Version3).resumeAfter(0, h)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("resumes at %d, want %d", got, tc.want)
			}
		})
	}
}
