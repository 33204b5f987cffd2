// Package maptest is the conformance suite every needle.Map implementation
// passes: call Test from the implementation's tests.
package maptest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/weedfs/weed/needle"
)

// Test runs the suite. newMap must return a new, empty map for each call;
// the suite closes it and fails the test if Close returns an error.
func Test(t *testing.T, newMap func(t *testing.T) needle.Map) {
	run := func(name string, f func(t *testing.T, m needle.Map)) {
		t.Run(name, func(t *testing.T) {
			m := newMap(t)
			f(t, m)
			if err := m.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	run("Empty", testEmpty)
	run("PutGet", testPutGet)
	run("Overwrite", testOverwrite)
	run("Delete", testDelete)
	run("ExtremeKeys", testExtremeKeys)
	run("RangeOrder", testRangeOrder)
	run("RangeStops", testRangeStops)
	run("RangeCallsMap", testRangeCallsMap)
	for _, d := range distributions {
		run("Random/"+d.name, func(t *testing.T, m needle.Map) { testRandom(t, m, d) })
	}
	run("LoadIdx", testLoadIdx)
	run("Concurrent", testConcurrent)
}

func mustPut(t *testing.T, m needle.Map, k needle.Key, v needle.Value) (needle.Value, bool) {
	t.Helper()
	old, had, err := m.Put(k, v)
	if err != nil {
		t.Fatalf("Put(%d): %v", k, err)
	}
	return old, had
}

func mustDelete(t *testing.T, m needle.Map, k needle.Key) (needle.Value, bool) {
	t.Helper()
	old, had, err := m.Delete(k)
	if err != nil {
		t.Fatalf("Delete(%d): %v", k, err)
	}
	return old, had
}

func wantGet(t *testing.T, m needle.Map, k needle.Key, want needle.Value, wantOK bool) {
	t.Helper()
	v, ok := m.Get(k)
	if ok != wantOK || v != want {
		t.Fatalf("Get(%d) = %+v, %v; want %+v, %v", k, v, ok, want, wantOK)
	}
}

func testEmpty(t *testing.T, m needle.Map) {
	if n := m.Len(); n != 0 {
		t.Errorf("Len = %d on a new map", n)
	}
	wantGet(t, m, 1, needle.Value{}, false)
	if old, had := mustDelete(t, m, 1); had || old != (needle.Value{}) {
		t.Errorf("Delete of a missing key = %+v, %v", old, had)
	}
	if err := m.Range(func(k needle.Key, v needle.Value) error {
		return fmt.Errorf("visited %d", k)
	}); err != nil {
		t.Error(err)
	}
}

func testPutGet(t *testing.T, m needle.Map) {
	for k := needle.Key(1); k <= 100; k++ {
		if old, had := mustPut(t, m, k, needle.Value{Offset: uint32(k), Size: uint32(k) * 10}); had {
			t.Fatalf("Put(%d) of a new key replaced %+v", k, old)
		}
	}
	for k := needle.Key(1); k <= 100; k++ {
		wantGet(t, m, k, needle.Value{Offset: uint32(k), Size: uint32(k) * 10}, true)
	}
	wantGet(t, m, 0, needle.Value{}, false)
	wantGet(t, m, 101, needle.Value{}, false)
	if n := m.Len(); n != 100 {
		t.Errorf("Len = %d, want 100", n)
	}
}

func testOverwrite(t *testing.T, m needle.Map) {
	mustPut(t, m, 7, needle.Value{Offset: 1, Size: 10})
	old, had := mustPut(t, m, 7, needle.Value{Offset: 2, Size: 20})
	if !had || old != (needle.Value{Offset: 1, Size: 10}) {
		t.Errorf("overwrite returned %+v, %v", old, had)
	}
	wantGet(t, m, 7, needle.Value{Offset: 2, Size: 20}, true)
	if n := m.Len(); n != 1 {
		t.Errorf("Len = %d after an overwrite, want 1", n)
	}
}

func testDelete(t *testing.T, m needle.Map) {
	for k := needle.Key(1); k <= 10; k++ {
		mustPut(t, m, k, needle.Value{Offset: uint32(k), Size: 1})
	}
	old, had := mustDelete(t, m, 5)
	if !had || old != (needle.Value{Offset: 5, Size: 1}) {
		t.Errorf("Delete(5) = %+v, %v", old, had)
	}
	wantGet(t, m, 5, needle.Value{}, false)
	if _, had := mustDelete(t, m, 5); had {
		t.Errorf("second Delete(5) reported a value")
	}
	if n := m.Len(); n != 9 {
		t.Errorf("Len = %d, want 9", n)
	}
	mustPut(t, m, 5, needle.Value{Offset: 50, Size: 2})
	wantGet(t, m, 5, needle.Value{Offset: 50, Size: 2}, true)
	for k := needle.Key(1); k <= 10; k++ {
		mustDelete(t, m, k)
	}
	if n := m.Len(); n != 0 {
		t.Errorf("Len = %d after deleting all, want 0", n)
	}
	for k := needle.Key(1); k <= 10; k++ {
		wantGet(t, m, k, needle.Value{}, false)
	}
}

// testExtremeKeys uses keys at both ends of the 64-bit range and far apart,
// so that no two fit one 32-bit window.
func testExtremeKeys(t *testing.T, m needle.Map) {
	keys := []needle.Key{math.MaxUint64, 0, 1 << 63, 1 << 32, 1<<32 - 1, math.MaxUint64 - 1, 1<<33 + 5, 2}
	for i, k := range keys {
		mustPut(t, m, k, needle.Value{Offset: uint32(i + 1), Size: uint32(i)})
	}
	for i, k := range keys {
		wantGet(t, m, k, needle.Value{Offset: uint32(i + 1), Size: uint32(i)}, true)
	}
	wantGet(t, m, 1<<32+1, needle.Value{}, false)
	got := collect(t, m)
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(keysOf(got), want) {
		t.Errorf("Range keys %v, want %v", keysOf(got), want)
	}
	for _, k := range keys {
		mustDelete(t, m, k)
	}
	if n := m.Len(); n != 0 {
		t.Errorf("Len = %d, want 0", n)
	}
}

type kv struct {
	k needle.Key
	v needle.Value
}

func keysOf(s []kv) []needle.Key {
	out := make([]needle.Key, len(s))
	for i, x := range s {
		out[i] = x.k
	}
	return out
}

func collect(t *testing.T, m needle.Map) []kv {
	t.Helper()
	var out []kv
	if err := m.Range(func(k needle.Key, v needle.Value) error {
		out = append(out, kv{k, v})
		return nil
	}); err != nil {
		t.Fatalf("Range: %v", err)
	}
	return out
}

func testRangeOrder(t *testing.T, m needle.Map) {
	r := rand.New(rand.NewPCG(1, 2))
	want := map[needle.Key]needle.Value{}
	for len(want) < 5000 {
		k := needle.Key(r.Uint64N(20000))
		v := needle.Value{Offset: r.Uint32(), Size: r.Uint32()}
		mustPut(t, m, k, v)
		want[k] = v
	}
	got := collect(t, m)
	if len(got) != len(want) {
		t.Fatalf("Range visited %d keys, want %d", len(got), len(want))
	}
	for i, x := range got {
		if i > 0 && got[i-1].k >= x.k {
			t.Fatalf("Range out of order at %d: %d then %d", i, got[i-1].k, x.k)
		}
		if want[x.k] != x.v {
			t.Fatalf("Range gave %d=%+v, want %+v", x.k, x.v, want[x.k])
		}
	}
}

func testRangeStops(t *testing.T, m needle.Map) {
	for k := needle.Key(1); k <= 3000; k++ {
		mustPut(t, m, k, needle.Value{Offset: 1, Size: 1})
	}
	stop := errors.New("stop")
	visited := 0
	err := m.Range(func(k needle.Key, v needle.Value) error {
		visited++
		if k == 1500 {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Errorf("Range returned %v, want the callback's error unchanged", err)
	}
	if visited != 1500 {
		t.Errorf("Range visited %d keys after the stop at 1500", visited)
	}
}

// testRangeCallsMap checks that the callback may use the map: Range must
// not hold a lock across calls.
func testRangeCallsMap(t *testing.T, m needle.Map) {
	for k := needle.Key(1); k <= 2000; k++ {
		mustPut(t, m, k, needle.Value{Offset: uint32(k), Size: 1})
	}
	visited := 0
	err := m.Range(func(k needle.Key, v needle.Value) error {
		visited++
		if got, ok := m.Get(k); !ok && k%2 == 1 || ok && got != v {
			return fmt.Errorf("Get(%d) inside Range = %+v, %v", k, got, ok)
		}
		if k%2 == 0 && k < 2000 {
			// Delete a later even key, not visited yet.
			if _, _, err := m.Delete(k + 2); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if visited < 1000 || visited > 2000 {
		t.Errorf("visited %d keys", visited)
	}
}

type distribution struct {
	name string
	key  func(r *rand.Rand, i int) needle.Key
}

var distributions = []distribution{
	// The master's sequence, with a few keys arriving late.
	{"Sequence", func(r *rand.Rand, i int) needle.Key {
		if r.IntN(10) == 0 {
			return needle.Key(max(0, i-r.IntN(64)))
		}
		return needle.Key(i)
	}},
	{"Descending", func(r *rand.Rand, i int) needle.Key { return needle.Key(1_000_000 - i) }},
	// Dense keys in a small range: many overwrites, deletes and re-puts.
	{"Dense", func(r *rand.Rand, i int) needle.Key { return needle.Key(r.IntN(3000)) }},
	// Any 64-bit key: segments can never share a 32-bit window.
	{"Wide", func(r *rand.Rand, i int) needle.Key { return needle.Key(r.Uint64() >> r.IntN(64)) }},
	// Clusters of keys around far-apart bases.
	{"Clusters", func(r *rand.Rand, i int) needle.Key {
		return needle.Key(uint64(r.IntN(8))<<40 + r.Uint64N(1<<33))
	}},
}

// testRandom applies a seeded mix of puts, overwrites and deletes and
// compares the map with a Go map along the way.
func testRandom(t *testing.T, m needle.Map, d distribution) {
	const ops = 30000
	r := rand.New(rand.NewPCG(42, uint64(len(d.name))))
	ref := map[needle.Key]needle.Value{}
	var keys []needle.Key // keys ever put, for picking delete victims
	check := func() {
		t.Helper()
		if m.Len() != len(ref) {
			t.Fatalf("Len = %d, want %d", m.Len(), len(ref))
		}
		for k, v := range ref {
			wantGet(t, m, k, v, true)
		}
		got := collect(t, m)
		if len(got) != len(ref) {
			t.Fatalf("Range visited %d keys, want %d", len(got), len(ref))
		}
		for i, x := range got {
			if i > 0 && got[i-1].k >= x.k {
				t.Fatalf("Range out of order: %d then %d", got[i-1].k, x.k)
			}
			if ref[x.k] != x.v {
				t.Fatalf("Range gave %d=%+v, want %+v", x.k, x.v, ref[x.k])
			}
		}
	}
	for i := 0; i < ops; i++ {
		switch p := r.IntN(100); {
		case p < 20 && len(keys) > 0: // delete a key that was put (maybe already deleted)
			k := keys[r.IntN(len(keys))]
			want, wantOK := ref[k]
			old, had := mustDelete(t, m, k)
			if had != wantOK || old != want {
				t.Fatalf("op %d: Delete(%d) = %+v, %v; want %+v, %v", i, k, old, had, want, wantOK)
			}
			delete(ref, k)
		case p < 22: // delete a key that was probably never put
			k := d.key(r, i) ^ 0x5555
			want, wantOK := ref[k]
			old, had := mustDelete(t, m, k)
			if had != wantOK || old != want {
				t.Fatalf("op %d: Delete(%d) = %+v, %v; want %+v, %v", i, k, old, had, want, wantOK)
			}
			delete(ref, k)
		default:
			k := d.key(r, i)
			v := needle.Value{Offset: uint32(i + 1), Size: r.Uint32()}
			want, wantOK := ref[k]
			old, had := mustPut(t, m, k, v)
			if had != wantOK || old != want {
				t.Fatalf("op %d: Put(%d) = %+v, %v; want %+v, %v", i, k, old, had, want, wantOK)
			}
			ref[k] = v
			keys = append(keys, k)
		}
		if i%10000 == 9999 {
			check()
		}
		if i%97 == 0 {
			k := d.key(r, i)
			want, wantOK := ref[k]
			wantGet(t, m, k, want, wantOK)
		}
	}
	check()
	// Delete everything that is left, in random order.
	rest := make([]needle.Key, 0, len(ref))
	for k := range ref {
		rest = append(rest, k)
	}
	slices.Sort(rest)
	r.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	for i, k := range rest {
		if _, had := mustDelete(t, m, k); !had {
			t.Fatalf("Delete(%d) of a live key reported nothing", k)
		}
		delete(ref, k)
		if i%1000 == 0 {
			wantGet(t, m, k, needle.Value{}, false)
		}
	}
	check()
}

// testLoadIdx replays an .idx stream with every kind of entry through
// needle.LoadIdx and checks the map and the counters.
func testLoadIdx(t *testing.T, m needle.Map) {
	entries := []needle.IdxEntry{
		{Key: 1, Offset: 1, Size: 100},
		{Key: 2, Offset: 20, Size: 200},
		{Key: 3, Offset: 50, Size: 300},
		{Key: 1, Offset: 90, Size: 110},                   // overwrite: 100 bytes garbage
		{Key: 2, Offset: 120, Size: needle.TombstoneSize}, // weed delete
		{Key: 3, Offset: 0, Size: 0},                      // SeaweedFS 0.7x delete
		{Key: 9, Offset: 130, Size: needle.TombstoneSize}, // delete of a missing key
		{Key: 4, Offset: 140, Size: 400},
		{Key: 4, Offset: 150, Size: 0}, // size-0 entry: a delete
		{Key: 5, Offset: 160, Size: 500},
		{Key: 7, Offset: 0, Size: 0}, // offset-0 delete of a missing key
	}
	var buf bytes.Buffer
	for _, e := range entries {
		buf.Write(e.AppendTo(nil))
	}
	buf.Write([]byte{1, 2, 3}) // a torn trailing entry
	var st needle.IdxStats
	if err := needle.LoadIdx(&buf, m, &st); err != nil {
		t.Fatalf("LoadIdx: %v", err)
	}
	want := needle.IdxStats{
		Entries:          int64(len(entries)),
		FileCount:        6,
		DeleteCount:      4,
		DeletedByteCount: 100 + 200 + 300 + 400,
		MaxKey:           9,
		LastEntry:        needle.IdxEntry{Key: 5, Offset: 160, Size: 500},
		PartialTail:      true,
	}
	if st != want {
		t.Errorf("stats %+v\nwant  %+v", st, want)
	}
	if int64(m.Len()) != st.FileCount-st.DeleteCount {
		t.Errorf("Len = %d, want FileCount-DeleteCount = %d", m.Len(), st.FileCount-st.DeleteCount)
	}
	wantGet(t, m, 1, needle.Value{Offset: 90, Size: 110}, true)
	wantGet(t, m, 5, needle.Value{Offset: 160, Size: 500}, true)
	for _, k := range []needle.Key{2, 3, 4, 7, 9} {
		wantGet(t, m, k, needle.Value{}, false)
	}
	// Resuming from the stats folds a second stream into the same counters.
	var more bytes.Buffer
	more.Write(needle.IdxEntry{Key: 20, Offset: 170, Size: 5}.AppendTo(nil))
	if err := needle.LoadIdx(&more, m, &st); err != nil {
		t.Fatal(err)
	}
	if st.Entries != int64(len(entries))+1 || st.MaxKey != 20 || st.FileCount != 7 || st.PartialTail {
		t.Errorf("resumed stats %+v", st)
	}
}

// testConcurrent runs readers (Get, Len, Range) against one writer; run it
// with -race. Values are a function of the key, so a reader can check any
// value it sees.
func testConcurrent(t *testing.T, m needle.Map) {
	const keys = 4000
	valueOf := func(k needle.Key, gen uint32) needle.Value {
		return needle.Value{Offset: gen, Size: uint32(k)*7 + gen}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 9))
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				k := needle.Key(r.IntN(keys))
				if v, ok := m.Get(k); ok && v.Size != uint32(k)*7+v.Offset {
					errc <- fmt.Errorf("Get(%d) = %+v, not a value ever written", k, v)
					return
				}
				if n := m.Len(); n < 0 || n > keys {
					errc <- fmt.Errorf("Len = %d", n)
					return
				}
				if i%200 == 0 {
					var prev needle.Key
					first := true
					err := m.Range(func(k needle.Key, v needle.Value) error {
						if !first && k <= prev {
							return fmt.Errorf("Range out of order: %d then %d", prev, k)
						}
						if v.Size != uint32(k)*7+v.Offset {
							return fmt.Errorf("Range gave %d=%+v", k, v)
						}
						prev, first = k, false
						return nil
					})
					if err != nil {
						errc <- err
						return
					}
				}
			}
		}(uint64(g))
	}
	r := rand.New(rand.NewPCG(7, 7))
	ref := map[needle.Key]needle.Value{}
	for i := 0; i < 20000; i++ {
		k := needle.Key(r.IntN(keys))
		if r.IntN(4) == 0 {
			if _, _, err := m.Delete(k); err != nil {
				t.Error(err)
				break
			}
			delete(ref, k)
			continue
		}
		v := valueOf(k, uint32(i+1))
		if _, _, err := m.Put(k, v); err != nil {
			t.Error(err)
			break
		}
		ref[k] = v
	}
	close(done)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if m.Len() != len(ref) {
		t.Errorf("Len = %d, want %d", m.Len(), len(ref))
	}
	for k, v := range ref {
		wantGet(t, m, k, v, true)
	}
}
