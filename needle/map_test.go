package needle_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/needle/maptest"
)

func TestCompactMap(t *testing.T) {
	maptest.Test(t, func(t *testing.T) needle.Map { return needle.NewCompactMap() })
}

func TestBoltMap(t *testing.T) {
	maptest.Test(t, func(t *testing.T) needle.Map {
		m, err := needle.OpenBoltMap(filepath.Join(t.TempDir(), "1.bdb"), &needle.BoltMapOptions{BatchSize: 512, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return m
	})
}

// TestBoltMapReopen checks that committed entries, the live count and the
// watermark survive a close and reopen, and that the watermark is only
// committed with the writes made before it.
func TestBoltMapReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "7.bdb")
	m, err := needle.OpenBoltMap(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := m.IdxWatermark(); w != (needle.IdxWatermark{}) {
		t.Errorf("new map watermark %+v", w)
	}
	var st needle.IdxStats
	var idx bytes.Buffer
	for k := needle.Key(1); k <= 10000; k++ {
		idx.Write(needle.IdxEntry{Key: k, Offset: uint32(k), Size: 100}.AppendTo(nil))
	}
	for k := needle.Key(1); k <= 10000; k += 3 {
		idx.Write(needle.IdxEntry{Key: k, Offset: 20000 + uint32(k), Size: needle.TombstoneSize}.AppendTo(nil))
	}
	size := int64(idx.Len())
	if err := needle.LoadIdx(&idx, m, &st); err != nil {
		t.Fatal(err)
	}
	wm := needle.IdxWatermark{Offset: size, Stats: st}
	m.SetIdxWatermark(wm)
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	live := m.Len()
	if live != 10000-3334 {
		t.Fatalf("Len = %d", live)
	}
	// A write after the watermark: committed on Close, watermark unchanged.
	if _, _, err := m.Put(20001, needle.Value{Offset: 99999, Size: 1}); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, _, err := m.Put(1, needle.Value{Offset: 1, Size: 1}); !errors.Is(err, needle.ErrMapClosed) {
		t.Errorf("Put after Close: %v", err)
	}

	m2, err := needle.OpenBoltMap(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	var wmr needle.IdxWatermarker = m2
	if got := wmr.IdxWatermark(); got != wm {
		t.Errorf("reopened watermark %+v\nwant %+v", got, wm)
	}
	if m2.Len() != live+1 {
		t.Errorf("reopened Len = %d, want %d", m2.Len(), live+1)
	}
	for k := needle.Key(1); k <= 10000; k++ {
		v, ok := m2.Get(k)
		if want := k%3 != 1; ok != want || ok && v != (needle.Value{Offset: uint32(k), Size: 100}) {
			t.Fatalf("reopened Get(%d) = %+v, %v", k, v, ok)
		}
	}
	if v, ok := m2.Get(20001); !ok || v.Offset != 99999 {
		t.Errorf("reopened Get(20001) = %+v, %v", v, ok)
	}
}

// TestCompactMapMemory checks the 16 bytes per live needle goal at a size
// cheap enough for every test run; BenchmarkLoadIdx10M measures 10M.
func TestCompactMapMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 1M entries")
	}
	const n = 1_000_000
	var idx bytes.Buffer
	writeTestIdx(&idx, n)
	before := heapAlloc()
	m := needle.NewCompactMap()
	var st needle.IdxStats
	if err := needle.LoadIdx(bytes.NewReader(idx.Bytes()), m, &st); err != nil {
		t.Fatal(err)
	}
	after := heapAlloc()
	runtime.KeepAlive(idx.Bytes())
	per := float64(after-before) / float64(m.Len())
	t.Logf("%d entries, %d live, %.2f bytes/needle", st.Entries, m.Len(), per)
	if per > 16 {
		t.Errorf("%.2f bytes per live needle, want at most 16", per)
	}
	runtime.KeepAlive(m)
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
