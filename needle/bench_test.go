package needle_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/weedfs/weed/needle"
)

func benchNeedle(size int) needle.Needle {
	return needle.Needle{
		Cookie: 0xfc4a422c, Key: 12345, Data: bytes.Repeat([]byte("x"), size),
		Name: []byte("photo.jpg"), Mime: []byte("image/jpeg"), LastModified: 1700000000, AppendAtNs: 1,
	}
}

func BenchmarkAppendRecord(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			n := benchNeedle(size)
			buf := make([]byte, 0, size+1024)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = n.AppendRecord(buf[:0], needle.Version3); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseRecord(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			n := benchNeedle(size)
			rec, err := n.AppendRecord(nil, needle.Version3)
			if err != nil {
				b.Fatal(err)
			}
			var got needle.Needle
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := got.ParseRecord(rec, needle.Version3); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func byteSize(n int) string { return fmt.Sprintf("%dKiB", n>>10) }

func BenchmarkCompactMapPut(b *testing.B) {
	b.Run("ascending", func(b *testing.B) {
		m := needle.NewCompactMap()
		b.ReportAllocs()
		k := needle.Key(0)
		for b.Loop() {
			k++
			m.Put(k, needle.Value{Offset: uint32(k), Size: 100})
		}
	})
	b.Run("random", func(b *testing.B) {
		m := needle.NewCompactMap()
		r := rand.New(rand.NewPCG(1, 1))
		b.ReportAllocs()
		for b.Loop() {
			m.Put(needle.Key(r.Uint64N(1<<40)), needle.Value{Offset: 1, Size: 100})
		}
	})
}

// fillMap puts n ascending keys and returns them shuffled.
func fillMap(b *testing.B, m needle.Map, n int) []needle.Key {
	keys := make([]needle.Key, n)
	for i := range keys {
		keys[i] = needle.Key(i*2 + 1)
		if _, _, err := m.Put(keys[i], needle.Value{Offset: uint32(i + 1), Size: 100}); err != nil {
			b.Fatal(err)
		}
	}
	rand.New(rand.NewPCG(2, 2)).Shuffle(n, func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	return keys
}

func BenchmarkCompactMapGet(b *testing.B) {
	m := needle.NewCompactMap()
	keys := fillMap(b, m, 1_000_000)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := m.Get(keys[i%len(keys)]); !ok {
				b.Fatal("missing key")
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(len(keys))
			for pb.Next() {
				if _, ok := m.Get(keys[i%len(keys)]); !ok {
					b.Error("missing key")
					return
				}
				i++
			}
		})
	})
}

func openBenchBolt(b *testing.B, noSync bool) *needle.BoltMap {
	m, err := needle.OpenBoltMap(filepath.Join(b.TempDir(), "bench.bdb"), &needle.BoltMapOptions{NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

func BenchmarkBoltMapPut(b *testing.B) {
	for _, tc := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		b.Run(tc.name, func(b *testing.B) {
			m := openBenchBolt(b, tc.noSync)
			b.ReportAllocs()
			k := needle.Key(0)
			for b.Loop() {
				k++
				if _, _, err := m.Put(k, needle.Value{Offset: uint32(k), Size: 100}); err != nil {
					b.Fatal(err)
				}
			}
			if err := m.Sync(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

func BenchmarkBoltMapGet(b *testing.B) {
	m := openBenchBolt(b, true)
	keys := fillMap(b, m, 200_000)
	if err := m.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := m.Get(keys[i%len(keys)]); !ok {
			b.Fatal("missing key")
		}
		i++
	}
}

func BenchmarkWalkIdx(b *testing.B) {
	var idx bytes.Buffer
	writeTestIdx(&idx, 1_000_000)
	data := idx.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := needle.WalkIdx(bytes.NewReader(data), func(needle.IdxEntry) error { n++; return nil }); err != nil || n != 1_000_000 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkLoadIdx10M loads a 10,000,000-entry .idx file (written once)
// into a fresh CompactMap per iteration. ns/op is the load time; bytes/needle
// is the heap the loaded map holds (after GC) per live needle.
func BenchmarkLoadIdx10M(b *testing.B) {
	const entries = 10_000_000
	path := filepath.Join(b.TempDir(), "10m.idx")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	writeTestIdx(f, entries)
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	var perNeedle float64
	var live int
	for b.Loop() {
		b.StopTimer()
		before := heapAlloc()
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		m := needle.NewCompactMap()
		var st needle.IdxStats
		if err := needle.LoadIdx(f, m, &st); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		f.Close()
		if st.Entries != entries {
			b.Fatalf("loaded %d entries", st.Entries)
		}
		after := heapAlloc()
		live = m.Len()
		perNeedle = float64(int64(after)-int64(before)) / float64(live)
		runtime.KeepAlive(m)
		m.Close()
		b.StartTimer()
	}
	b.ReportMetric(perNeedle, "bytes/needle")
	b.ReportMetric(float64(live), "live")
}
