package volume

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/weedfs/weed/internal/httpx/httpxtest"
	"github.com/weedfs/weed/needle"
)

func reportNeedles(b *testing.B, perOp float64) {
	b.ReportMetric(perOp*float64(b.N)/b.Elapsed().Seconds(), "needles/s")
}

func benchNeedle(k needle.Key) *needle.Needle {
	return &needle.Needle{
		Key: k, Cookie: cookieOf(k), Data: payload(k, 0, 1024),
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
			n, got, err := v.Read(k, cookieOf(k), buf)
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
		n.Key, n.Cookie, n.AppendAtNs = k, cookieOf(k), 0
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

// BenchmarkWrite1KiB uploads 1 KiB raw bodies over loopback HTTP, in
// parallel, to a volume without replication.
func BenchmarkWrite1KiB(b *testing.B) {
	benchmarkWrite(b, "")
}

// BenchmarkWriteReplicated1KiB is BenchmarkWrite1KiB on a volume with two
// copies: every write is also sent to the second server.
func BenchmarkWriteReplicated1KiB(b *testing.B) {
	benchmarkWrite(b, "001")
}

func benchmarkWrite(b *testing.B, rp string) {
	m := newFakeMaster(b)
	ts := startServer(b, []string{m.addr()})
	ts.addVolume(b, 1, rp)
	if rp != "" {
		peer := startServer(b, []string{m.addr()})
		peer.addVolume(b, 1, rp)
		m.setLocations(1, ts.addr, peer.addr)
	}
	data := bytes.Repeat([]byte{0x5a}, 1024)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := needle.Key(next.Add(1))
			resp, err := client.Post(ts.url+"/"+fidOf(1, key, 0x01020304), "application/octet-stream", bytes.NewReader(data))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("write %d: %d", key, resp.StatusCode)
				return
			}
		}
	})
}

// benchClient keeps enough connections alive for parallel benchmarks.
var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}

// BenchmarkRead1KiB reads 1 KiB files over loopback HTTP, in parallel.
func BenchmarkRead1KiB(b *testing.B) {
	m := newFakeMaster(b)
	ts := startServer(b, []string{m.addr()})
	ts.addVolume(b, 1, "")
	const files = 1000
	data := bytes.Repeat([]byte{0xa5}, 1024)
	for i := 1; i <= files; i++ {
		r := do(b, http.MethodPost, ts.url+"/"+fidOf(1, needle.Key(i), 0x01020304), bytes.NewReader(data), nil)
		if r.status != http.StatusCreated {
			b.Fatal(r.status)
		}
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := needle.Key(next.Add(1)%files + 1)
			resp, err := benchClient.Get(ts.url + "/" + fidOf(1, key, 0x01020304))
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || n != int64(len(data)) {
				b.Errorf("read %d: %d, %d bytes", key, resp.StatusCode, n)
				return
			}
		}
	})
}

// benchBoundary is the multipart boundary of the benchmark uploads.
const benchBoundary = "0123456789abcdef0123456789abcdef"

// benchUpload returns the multipart body `weed benchmark` sends for data
// (package client's shape: one part named "file", file name "benchmark").
func benchUpload(data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("--" + benchBoundary + "\r\n")
	b.WriteString("Content-Disposition: form-data; name=\"file\"; filename=\"benchmark\"\r\n")
	b.WriteString("Content-Type: application/octet-stream\r\n\r\n")
	b.Write(data)
	b.WriteString("\r\n--" + benchBoundary + "--\r\n")
	return b.Bytes()
}

// benchHandlerServer returns a server (not listening) holding volume 1,
// replication 000.
func benchHandlerServer(b *testing.B) *testServer {
	b.Helper()
	m := newFakeMaster(b)
	ts := startServer(b, []string{m.addr()})
	ts.addVolume(b, 1, "")
	return ts
}

// benchPath returns "/1,<key><cookie>" for key.
func benchPath(key needle.Key) string {
	return "/" + fidOf(1, key, 0x01020304)
}

// BenchmarkHandlerWrite1K posts the 1 KiB multipart upload of `weed
// benchmark` (plus its Content-Type) to the volume server's handler in
// process, in parallel: parsing, needle building, the append and the JSON
// reply, without the network. Building each request costs the benchmark
// itself 3 allocations.
func BenchmarkHandlerWrite1K(b *testing.B) {
	ts := benchHandlerServer(b)
	h := ts.Handler()
	body := benchUpload(bytes.Repeat([]byte{0x5a}, 1024))
	header := http.Header{"Content-Type": {"multipart/form-data; boundary=" + benchBoundary}}
	var next atomic.Uint64
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := httpxtest.NewDiscardWriter()
		rd := bytes.NewReader(body)
		for pb.Next() {
			rd.Reset(body)
			r := &http.Request{
				Method: http.MethodPost, URL: &url.URL{Path: benchPath(needle.Key(next.Add(1)))},
				Header: header, Body: io.NopCloser(rd), ContentLength: int64(len(body)), RemoteAddr: "127.0.0.1:40000",
			}
			w.Reset()
			h.ServeHTTP(w, r)
			if w.Status != http.StatusCreated {
				b.Errorf("write: status %d", w.Status)
				return
			}
		}
	})
}

// BenchmarkHandlerRead1K reads random 1 KiB files (written as `weed
// benchmark` writes them) through the volume server's handler in process,
// in parallel: routing, the needle read, the headers and the body write,
// without the network.
func BenchmarkHandlerRead1K(b *testing.B) {
	ts := benchHandlerServer(b)
	h := ts.Handler()
	const files = 1000
	body := benchUpload(bytes.Repeat([]byte{0xa5}, 1024))
	header := http.Header{"Content-Type": {"multipart/form-data; boundary=" + benchBoundary}}
	urls := make([]*url.URL, files)
	w := httpxtest.NewDiscardWriter()
	for i := range urls {
		urls[i] = &url.URL{Path: benchPath(needle.Key(i + 1))}
		r := &http.Request{Method: http.MethodPost, URL: urls[i], Header: header,
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), RemoteAddr: "127.0.0.1:40000"}
		w.Reset()
		h.ServeHTTP(w, r)
		if w.Status != http.StatusCreated {
			b.Fatalf("write %d: status %d", i+1, w.Status)
		}
	}
	var seed atomic.Uint64
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(seed.Add(1), 0))
		w := httpxtest.NewDiscardWriter()
		reqs := make([]http.Request, files)
		for i := range reqs {
			reqs[i] = http.Request{Method: http.MethodGet, URL: urls[i], Header: http.Header{}, RemoteAddr: "127.0.0.1:40000"}
		}
		for pb.Next() {
			i := rng.IntN(files)
			r := reqs[i]
			w.Reset()
			h.ServeHTTP(w, &r)
			if w.Status != http.StatusOK || w.N != 1024 {
				b.Errorf("read %d: status %d, %d bytes", i+1, w.Status, w.N)
				return
			}
		}
	})
}
