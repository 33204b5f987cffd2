package volume

import (
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume/volumetest"
)

func reportNeedles(b *testing.B, perOp float64) {
	b.ReportMetric(perOp*float64(b.N)/b.Elapsed().Seconds(), "needles/s")
}

func benchNeedle(k needle.Key) *needle.Needle {
	return &needle.Needle{
		Key: k, Cookie: volumetest.CookieOf(k), Data: volumetest.Payload(k, 0, 1024),
		Name: []byte("bench.bin"), Mime: []byte("application/octet-stream"), LastModified: 1700000000,
	}
}

// benchWrite appends 1 KiB needles from b.N operations, serially or with
// parallel writers.
func benchWrite(b *testing.B, opts Options, parallel bool) {
	v, err := Create(b.TempDir(), "", 1, needle.Placement{}, needle.TTL{}, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		n := benchNeedle(1)
		for i := 0; i < b.N; i++ {
			n.Key = needle.Key(i + 1)
			n.AppendAtNs = 0
			if _, err := v.Write(n); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		var next atomic.Uint64
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			n := benchNeedle(1)
			for pb.Next() {
				n.Key = needle.Key(next.Add(1))
				n.AppendAtNs = 0
				if _, err := v.Write(n); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	reportNeedles(b, 1)
}

// BenchmarkWrite1K: one writer, memory map, no fsync (the default).
func BenchmarkWrite1K(b *testing.B) { benchWrite(b, Options{}, false) }

// BenchmarkWrite1KParallel: 16×GOMAXPROCS writers, memory map, no fsync.
func BenchmarkWrite1KParallel(b *testing.B) { benchWrite(b, Options{}, true) }

// BenchmarkWrite1KBolt: one writer, bolt map.
func BenchmarkWrite1KBolt(b *testing.B) { benchWrite(b, Options{MapKind: MapBolt}, false) }

// BenchmarkWrite1KFsync: one writer waiting for an fsync per write.
func BenchmarkWrite1KFsync(b *testing.B) { benchWrite(b, Options{Fsync: true}, false) }

// BenchmarkWrite1KFsyncParallel: 16×GOMAXPROCS writers sharing fsyncs
// (group commit).
func BenchmarkWrite1KFsyncParallel(b *testing.B) { benchWrite(b, Options{Fsync: true}, true) }

// BenchmarkRead1K reads random 1 KiB needles of a 10000-needle volume in
// parallel, each reader reusing its buffer.
func BenchmarkRead1K(b *testing.B) {
	v, err := Create(b.TempDir(), "", 1, needle.Placement{}, needle.TTL{}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	const count = 10000
	for k := needle.Key(1); k <= count; k++ {
		if _, err := v.Write(benchNeedle(k)); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	var seed atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(seed.Add(1), 0))
		buf := make([]byte, 0, 2048)
		for pb.Next() {
			k := needle.Key(r.IntN(count) + 1)
			n, got, err := v.Read(k, volumetest.CookieOf(k), buf)
			if err != nil || len(n.Data) != 1024 {
				b.Errorf("read %d: %v", k, err)
				return
			}
			buf = got[:0]
		}
	})
	b.StopTimer()
	reportNeedles(b, 1)
}

const loadNeedles = 1_000_000

// buildLoadVolume writes a volume of 1M small needles (about 64 MB of
// .dat, 16 MB of .idx) into dir.
func buildLoadVolume(b *testing.B, dir string) {
	v, err := Create(dir, "", 1, needle.Placement{}, needle.TTL{}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	n := &needle.Needle{Data: make([]byte, 16)}
	for k := needle.Key(1); k <= loadNeedles; k++ {
		n.Key, n.Cookie, n.AppendAtNs = k, volumetest.CookieOf(k), 0
		if _, err := v.Write(n); err != nil {
			b.Fatal(err)
		}
	}
	if err := v.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkOpen1M opens (loads) a volume of 1M needles: into the memory
// map (replaying the whole .idx), and with an up-to-date bolt map (which
// resumes from its watermark).
func BenchmarkOpen1M(b *testing.B) {
	src := b.TempDir()
	buildLoadVolume(b, src)
	for _, kind := range mapKinds {
		b.Run(string(kind), func(b *testing.B) {
			dir := b.TempDir()
			copyFiles(b, src, dir, nil)
			if kind == MapBolt {
				v, err := Open(dir, "", 1, Options{MapKind: kind})
				if err != nil {
					b.Fatal(err)
				}
				v.Close()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				v, err := Open(dir, "", 1, Options{MapKind: kind})
				if err != nil {
					b.Fatal(err)
				}
				if v.nm.Len() != loadNeedles {
					b.Fatalf("%d needles loaded", v.nm.Len())
				}
				b.StopTimer()
				v.Close()
				b.StartTimer()
			}
			b.StopTimer()
			reportNeedles(b, loadNeedles)
		})
	}
}

// benchClient keeps enough connections alive for parallel benchmarks.
var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}

// benchBoundary is the multipart boundary of the benchmark uploads.
const benchBoundary = "0123456789abcdef0123456789abcdef"
