package volume

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume/volumetest"
)

// base is the append time the sync tests start from.
const base = uint64(1_700_000_000) * 1e9

// sec returns base plus s seconds.
func sec(s float64) uint64 { return base + uint64(s*1e9) }

// writeAt writes the test needle of key k with append time ts.
func writeAt(t testing.TB, v *Volume, k needle.Key, ts uint64) {
	t.Helper()
	n := volumetest.Needle(k, 0, volumetest.SizeOf(k))
	n.AppendAtNs = ts
	mustWrite(t, v, n)
}

// deleteAt deletes key k with tombstone time ts.
func deleteAt(t testing.TB, v *Volume, k needle.Key, ts uint64) {
	t.Helper()
	if _, err := v.Delete(k, volumetest.CookieOf(k), ts); err != nil {
		t.Fatalf("delete %x: %v", uint64(k), err)
	}
}

// createVolIn creates volume 1 (replication 001) in a directory of its own.
func createVolIn(t testing.TB, dir string, opts Options) *Volume {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	checkAtCleanup(t, dir)
	v, err := Create(dir, "", 1, needle.Placement{SameRack: 1}, needle.TTL{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func TestRecordsSince(t *testing.T) {
	forEachMap(t, func(t *testing.T, opts Options) {
		v := createVolIn(t, t.TempDir(), opts)
		var times []uint64
		var keys []needle.Key
		for i := 1; i <= 600; i++ {
			ts := sec(float64(i) * 2)
			if i%50 == 0 {
				// Out of order by 31 s, inside the search margin.
				ts -= 31e9
			}
			k := needle.Key(i)
			writeAt(t, v, k, ts)
			times, keys = append(times, ts), append(keys, k)
			if i%7 == 0 {
				deleteAt(t, v, k, ts+1)
				times, keys = append(times, ts+1), append(keys, k)
			}
		}
		for _, since := range []uint64{0, sec(1), sec(333), sec(998), sec(999), sec(1190), sec(1200), sec(5000)} {
			got, err := v.RecordsSince(since)
			if err != nil {
				t.Fatal(err)
			}
			var want []uint64
			for _, ts := range times {
				if ts >= since {
					want = append(want, ts)
				}
			}
			var gotTimes []uint64
			for _, r := range got {
				gotTimes = append(gotTimes, r.AppendAtNs)
				if i := slices.Index(times, r.AppendAtNs); i < 0 || keys[i] != r.Key {
					t.Fatalf("since %d: record %+v was not written", since, r)
				}
			}
			if !slices.Equal(gotTimes, want) {
				t.Fatalf("since %d: %d records, want %d", since-base, len(gotTimes), len(want))
			}
		}
		last, err := v.LastAppendAtNs()
		if err != nil || last != times[len(times)-1] {
			t.Fatalf("LastAppendAtNs = %d, %v; want %d", last, err, times[len(times)-1])
		}
	})
}

func TestDigestAndKeyStates(t *testing.T) {
	dir := t.TempDir()
	a := createVolIn(t, filepath.Join(dir, "a"), Options{})
	b := createVolIn(t, filepath.Join(dir, "b"), Options{})
	for k := needle.Key(1); k <= 300; k++ {
		writeAt(t, a, k, sec(float64(k)))
	}
	// b gets the same live set in another order, with garbage on the way.
	for k := needle.Key(300); k >= 1; k-- {
		writeAt(t, b, k, sec(float64(k)))
		if k%10 == 0 {
			writeAt(t, b, k+1000, sec(float64(k)))
			deleteAt(t, b, k+1000, sec(float64(k))+1)
		}
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if diff := da.Differing(&db); len(diff) != 0 {
		t.Fatalf("equal live sets, differing buckets %v", diff)
	}
	deleteAt(t, b, 42, sec(500))
	db, _ = b.Digest()
	diff := da.Differing(&db)
	if !slices.Equal(diff, []int{DigestBucket(42)}) {
		t.Fatalf("differing buckets %v, want [%d]", diff, DigestBucket(42))
	}
	ka, err := a.KeyStates(diff)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := b.KeyStates(diff)
	if err != nil {
		t.Fatal(err)
	}
	find := func(recs []RecordInfo, k needle.Key) (RecordInfo, bool) {
		i := slices.IndexFunc(recs, func(r RecordInfo) bool { return r.Key == k })
		if i < 0 {
			return RecordInfo{}, false
		}
		return recs[i], true
	}
	if r, ok := find(ka, 42); !ok || r.Tombstone || r.AppendAtNs != sec(42) {
		t.Errorf("a's state of 42: %+v %v", r, ok)
	}
	if r, ok := find(kb, 42); !ok || !r.Tombstone || r.AppendAtNs != sec(500) {
		t.Errorf("b's state of 42: %+v %v, want its tombstone", r, ok)
	}
	for _, r := range kb {
		if DigestBucket(r.Key) != diff[0] {
			t.Errorf("key %x is not in bucket %d", uint64(r.Key), diff[0])
		}
	}
}

func TestApplyRecords(t *testing.T) {
	forEachMap(t, func(t *testing.T, opts Options) {
		dir := t.TempDir()
		a := createVolIn(t, filepath.Join(dir, "a"), opts)
		b := createVolIn(t, filepath.Join(dir, "b"), opts)
		writeAt(t, a, 1, sec(1))
		writeAt(t, a, 2, sec(2))
		writeAt(t, b, 2, sec(2))
		deleteAt(t, a, 2, sec(3))
		rec := func(v *Volume, k needle.Key) []byte {
			t.Helper()
			recs, err := v.KeyStates([]int{DigestBucket(k)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.Key == k {
					b, err := v.ReadRecord(r.Offset)
					if err != nil {
						t.Fatal(err)
					}
					return b
				}
			}
			t.Fatalf("no record of %x", uint64(k))
			return nil
		}
		// A key b never saw needs AllowNew.
		res, err := b.ApplyRecords([][]byte{rec(a, 1)}, ApplyOptions{})
		if err != nil || res.Applied != 0 || res.Skipped != 1 {
			t.Fatalf("new key without AllowNew: %+v %v", res, err)
		}
		if res, err = b.ApplyRecords([][]byte{rec(a, 1)}, ApplyOptions{AllowNew: true}); err != nil || res.Applied != 1 {
			t.Fatalf("new key with AllowNew: %+v %v", res, err)
		}
		expectNeedle(t, b, 1, volumetest.Payload(1, 0, volumetest.SizeOf(1)))
		// The tombstone beats b's older needle; the needle cannot come back.
		old := rec(b, 2)
		if res, err = b.ApplyRecords([][]byte{rec(a, 2)}, ApplyOptions{}); err != nil || res.Applied != 1 {
			t.Fatalf("tombstone: %+v %v", res, err)
		}
		expectGone(t, b, 2)
		if res, err = b.ApplyRecords([][]byte{old}, ApplyOptions{AllowNew: true}); err != nil || res.Applied != 0 {
			t.Fatalf("older needle after its tombstone: %+v %v", res, err)
		}
		expectGone(t, b, 2)
		// Applying again changes nothing.
		if res, err = b.ApplyRecords([][]byte{rec(a, 1), rec(a, 2)}, ApplyOptions{AllowNew: true}); err != nil || res.Applied != 0 {
			t.Fatalf("again: %+v %v", res, err)
		}
		// A replicated delete of a key b does not hold leaves a tombstone
		// that keeps an older copy out.
		writeAt(t, a, 3, sec(4))
		if _, err := b.DeleteReplica(3, volumetest.CookieOf(3), sec(5)); !errors.Is(err, needle.ErrNotFound) {
			t.Fatalf("DeleteReplica of a missing key: %v", err)
		}
		if res, err = b.ApplyRecords([][]byte{rec(a, 3)}, ApplyOptions{AllowNew: true}); err != nil || res.Applied != 0 {
			t.Fatalf("needle older than the replica's tombstone: %+v %v", res, err)
		}
		expectGone(t, b, 3)
		if _, err := b.ApplyRecords([][]byte{[]byte("not a record at all")}, ApplyOptions{}); !errors.Is(err, ErrBadRecord) {
			t.Fatalf("garbage: %v, want ErrBadRecord", err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		mustCheck(t, filepath.Join(dir, "b"))
		b2, err := Open(filepath.Join(dir, "b"), "", 1, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer b2.Close()
		expectNeedle(t, b2, 1, volumetest.Payload(1, 0, volumetest.SizeOf(1)))
		expectGone(t, b2, 2)
		expectGone(t, b2, 3)
	})
}

func TestApplyRepairsDamagedNeedle(t *testing.T) {
	dir := t.TempDir()
	a := createVolIn(t, filepath.Join(dir, "a"), Options{})
	bdir := filepath.Join(dir, "b")
	b := createVolIn(t, bdir, Options{})
	for k := needle.Key(1); k <= 3; k++ {
		writeAt(t, a, k, sec(float64(k)))
		writeAt(t, b, k, sec(float64(k)))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// Flip a data byte of key 1 (not the last record: a load would cut it).
	nv := func() needle.Value {
		f, err := os.Open(filepath.Join(bdir, "1.idx"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var v needle.Value
		needle.WalkIdx(f, func(e needle.IdxEntry) error {
			if e.Key == 1 {
				v = needle.Value{Offset: e.Offset, Size: e.Size}
			}
			return nil
		})
		return v
	}()
	f, err := os.OpenFile(filepath.Join(bdir, "1.dat"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	pos := needle.OffsetBytes(nv.Offset) + needle.HeaderSize + 4
	var c [1]byte
	f.ReadAt(c[:], pos)
	c[0] ^= 1
	f.WriteAt(c[:], pos)
	f.Close()
	b = openVol(t, bdir, Options{})
	if _, _, err := b.Read(1, volumetest.CookieOf(1), nil); !errors.Is(err, needle.ErrCRC) {
		t.Fatalf("read of the damaged needle: %v, want ErrCRC", err)
	}
	damaged, err := b.Scrub(context.Background(), nil)
	if err != nil || !slices.Equal(damaged, []needle.Key{1}) {
		t.Fatalf("Scrub = %v, %v; want [1]", damaged, err)
	}
	good, err := a.LiveRecord(1)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := b.ApplyRecords([][]byte{good}, ApplyOptions{}); err != nil || res.Applied != 0 {
		t.Fatalf("same time without Repair: %+v %v", res, err)
	}
	if res, err := b.ApplyRecords([][]byte{good}, ApplyOptions{Repair: true}); err != nil || res.Applied != 1 {
		t.Fatalf("repair: %+v %v", res, err)
	}
	expectNeedle(t, b, 1, volumetest.Payload(1, 0, volumetest.SizeOf(1)))
	if _, err := b.LiveRecord(1); err != nil {
		t.Fatalf("live record after the repair: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, bdir)
}

func TestDeleteNewestBeatsSkewedWrite(t *testing.T) {
	v := createVolIn(t, t.TempDir(), Options{})
	future := uint64(time.Now().Add(time.Hour).UnixNano())
	writeAt(t, v, 5, future)
	_, ts, err := v.DeleteNewest(5, volumetest.CookieOf(5))
	if err != nil || ts != future+1 {
		t.Fatalf("DeleteNewest = %d, %v; want %d", ts, err, future+1)
	}
	recs, _ := v.RecordsSince(future)
	if len(recs) != 2 || !recs[1].Tombstone || !Newer(recs[1].State(), recs[0].State()) {
		t.Fatalf("records %+v: the tombstone must win", recs)
	}
}

func TestSplitRecords(t *testing.T) {
	a := TombstoneRecord(1, 2, 3)
	b := TombstoneRecord(4, 5, 6)
	recs, err := SplitRecords(JoinRecords([][]byte{a, b}))
	if err != nil || len(recs) != 2 || string(recs[0]) != string(a) || string(recs[1]) != string(b) {
		t.Fatalf("SplitRecords: %d records, %v", len(recs), err)
	}
	if _, err := SplitRecords(append(JoinRecords([][]byte{a}), 1, 2, 3)); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("trailing bytes: %v", err)
	}
}
