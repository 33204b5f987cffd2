package volumeserver

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
