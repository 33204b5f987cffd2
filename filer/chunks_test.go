package filer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/weedfs/weed/client/clienttest"
	"github.com/weedfs/weed/filer"
)

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestChunkedFile stores a 5 MB file with -maxMB=1 as six chunks and reads
// it back whole, by ranges (across chunk boundaries, suffix, open-ended)
// and conditionally.
func TestChunkedFile(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{VolumeServers: 2, Volumes: 4, Copies: 2})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{MaxMB: 1})
	const size = 5<<20 + 12345
	data := randomBytes(size, 1)

	r := tf.postFiles("/big/", filePart{name: "five.bin", data: data})
	mustStatus(t, "POST 5 MB", r, http.StatusCreated)
	if got := strings.TrimSpace(string(r.body)); got != fmt.Sprintf(`{"name":"five.bin","size":%d}`, size) {
		t.Fatalf("POST reply = %s", got)
	}
	e := tf.findEntry("/big/five.bin")
	if len(e.Chunks) != 6 || e.Size != size {
		t.Fatalf("entry has %d chunks and size %d, want 6 and %d", len(e.Chunks), e.Size, size)
	}
	var off int64
	for i, c := range e.Chunks {
		want := uint64(1 << 20)
		if i == 5 {
			want = 12345
		}
		f, ok := cluster.File(c.Fid)
		if c.Offset != off || c.Size != want || c.ETag == "" || !ok || !bytes.Equal(f.Data, data[off:off+int64(want)]) {
			t.Fatalf("chunk %d = %+v (stored %v)", i, c, ok)
		}
		off += int64(c.Size)
	}

	r = tf.get("/big/five.bin", nil)
	if r.status != http.StatusOK || !bytes.Equal(r.body, data) {
		t.Fatalf("GET whole file: status %d, %d bytes, equal %v", r.status, len(r.body), bytes.Equal(r.body, data))
	}
	etag := r.header.Get("Etag")
	if etag == "" || r.header.Get("Content-Length") != strconv.Itoa(size) || r.header.Get("Accept-Ranges") != "bytes" ||
		r.header.Get("Last-Modified") == "" || r.header.Get("Content-Disposition") != `inline; filename="five.bin"` {
		t.Errorf("GET headers = %v", r.header)
	}
	head := tf.do(http.MethodHead, "/big/five.bin", nil, nil)
	if head.status != http.StatusOK || head.header.Get("Content-Length") != strconv.Itoa(size) || len(head.body) != 0 {
		t.Errorf("HEAD = %v %v", head, head.header)
	}

	const mb = 1 << 20
	for _, tc := range []struct {
		rng        string
		start, end int // [start, end)
	}{
		{"bytes=0-0", 0, 1},
		{"bytes=10-99", 10, 100},
		{fmt.Sprintf("bytes=%d-%d", mb-100, mb+99), mb - 100, mb + 100},      // across one boundary
		{fmt.Sprintf("bytes=%d-%d", mb/2, 4*mb+7), mb / 2, 4*mb + 8},         // across four
		{fmt.Sprintf("bytes=%d-%d", 2*mb, 3*mb-1), 2 * mb, 3 * mb},           // exactly one chunk
		{fmt.Sprintf("bytes=%d-", 5*mb-3), 5*mb - 3, size},                   // open-ended
		{"bytes=-1000", size - 1000, size},                                   // suffix
		{"bytes=-20000", size - 20000, size},                                 // suffix across the last boundary
		{fmt.Sprintf("bytes=%d-%d", size-1, size+500), size - 1, size},       // end clamped
		{fmt.Sprintf("bytes=%d-%d", 3*mb-1, 3*mb), 3*mb - 1, 3*mb + 1},       // two bytes, two chunks
		{fmt.Sprintf("bytes=%d-%d", 5*mb, 5*mb+12344), 5 * mb, 5*mb + 12345}, // the last chunk
		{fmt.Sprintf("bytes=%d-%d", 4*mb+5, 4*mb+5), 4*mb + 5, 4*mb + 6},     // one byte inside a chunk
		{fmt.Sprintf("bytes=%d-%d", mb-1, 2*mb), mb - 1, 2*mb + 1},           // a chunk plus one byte each side
	} {
		r := tf.get("/big/five.bin", map[string]string{"Range": tc.rng})
		wantCR := fmt.Sprintf("bytes %d-%d/%d", tc.start, tc.end-1, size)
		if r.status != http.StatusPartialContent || r.header.Get("Content-Range") != wantCR || !bytes.Equal(r.body, data[tc.start:tc.end]) {
			t.Errorf("Range %s: status %d, Content-Range %q (want %q), %d bytes, equal %v",
				tc.rng, r.status, r.header.Get("Content-Range"), wantCR, len(r.body), bytes.Equal(r.body, data[tc.start:tc.end]))
		}
	}
	if r := tf.get("/big/five.bin", map[string]string{"Range": fmt.Sprintf("bytes=%d-", size)}); r.status != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("Range past the end: %v", r)
	}

	// Two ranges at once: a multipart/byteranges reply.
	r = tf.get("/big/five.bin", map[string]string{"Range": fmt.Sprintf("bytes=0-9,%d-%d", 3*mb-5, 3*mb+4)})
	if r.status != http.StatusPartialContent || !strings.HasPrefix(r.header.Get("Content-Type"), "multipart/byteranges") {
		t.Fatalf("two ranges: %v %v", r, r.header)
	}
	_, params, _ := strings.Cut(r.header.Get("Content-Type"), "boundary=")
	mr := multipart.NewReader(bytes.NewReader(r.body), params)
	for _, want := range [][]byte{data[:10], data[3*mb-5 : 3*mb+5]} {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("two ranges: %v", err)
		}
		got, _ := io.ReadAll(p)
		if !bytes.Equal(got, want) {
			t.Errorf("two ranges: part of %d bytes differs", len(got))
		}
	}

	for _, h := range []map[string]string{
		{"If-None-Match": etag},
		{"If-None-Match": strings.Trim(etag, `"`)},
		{"If-Modified-Since": head.header.Get("Last-Modified")},
	} {
		if r := tf.get("/big/five.bin", h); r.status != http.StatusNotModified || len(r.body) != 0 {
			t.Errorf("GET with %v = %v", h, r)
		}
	}
	if r := tf.get("/big/five.bin", map[string]string{"If-None-Match": `"other"`}); r.status != http.StatusOK {
		t.Errorf("GET with a stale etag = %d", r.status)
	}

	// A raw PUT of the same bytes chunks the same way; DELETE removes every
	// chunk of both.
	mustStatus(t, "PUT 5 MB", tf.put("/big/raw.bin", data), http.StatusCreated)
	if r := tf.get("/big/raw.bin", nil); !bytes.Equal(r.body, data) {
		t.Fatalf("GET raw.bin differs (%d bytes)", len(r.body))
	}
	if n := cluster.FileCount(); n != 12 {
		t.Errorf("cluster holds %d needles, want 12", n)
	}
	mustStatus(t, "DELETE", tf.do(http.MethodDelete, "/big/?recursive=true", nil, nil), http.StatusAccepted)
	if n := cluster.FileCount(); n != 0 {
		t.Errorf("cluster holds %d needles after DELETE", n)
	}
}

// TestChunkBoundaries stores files of sizes around the chunk size.
func TestChunkBoundaries(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{MaxMB: 1})
	for _, tc := range []struct{ size, chunks int }{
		{1, 1}, {1<<20 - 1, 1}, {1 << 20, 1}, {1<<20 + 1, 2}, {2 << 20, 2}, {2<<20 + 1, 3},
	} {
		data := randomBytes(tc.size, uint64(tc.size))
		p := fmt.Sprintf("/b/%d", tc.size)
		mustStatus(t, "PUT "+p, tf.put(p, data), http.StatusCreated)
		if e := tf.findEntry(p); len(e.Chunks) != tc.chunks || e.Size != uint64(tc.size) {
			t.Errorf("%s: %d chunks, size %d; want %d chunks", p, len(e.Chunks), e.Size, tc.chunks)
		}
		if r := tf.get(p, nil); !bytes.Equal(r.body, data) {
			t.Errorf("GET %s: %d bytes differ", p, len(r.body))
		}
	}
	// ?maxMB lowers the chunk size of one write, never raises it.
	mustStatus(t, "maxMB above the filer's", tf.do(http.MethodPut, "/b/x?maxMB=2", strings.NewReader("x"), nil), http.StatusBadRequest)
}

// TestGzipPassThrough stores a gzip-encoded part as is and serves its
// bytes with Content-Encoding to a client that accepts gzip.
func TestGzipPassThrough(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{})
	gz := []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\xcaH\xcd\xc9\xc9\x07\x04\x00\x00\xff\xff\x86\xa6\x106\x05\x00\x00\x00")
	r := tf.postFiles("/z/", filePart{name: "hello.txt", data: gz, header: map[string]string{"Content-Encoding": "gzip", "Content-Type": "text/plain"}})
	mustStatus(t, "POST gzip", r, http.StatusCreated)
	e := tf.findEntry("/z/hello.txt")
	if f, ok := cluster.File(e.Fid()); !ok || !f.Gzipped || !bytes.Equal(f.Data, gz) {
		t.Fatalf("needle = %+v, %v", f, ok)
	}
	r = tf.get("/z/hello.txt", map[string]string{"Accept-Encoding": "gzip"})
	if r.status != http.StatusOK || r.header.Get("Content-Encoding") != "gzip" || !bytes.Equal(r.body, gz) {
		t.Errorf("GET gzip = %v %v", r, r.header)
	}
}

// discardCluster is a master and volume server in one that assigns fids
// and throws uploaded bytes away, counting them: uploads of any size cost
// it no memory.
type discardCluster struct {
	srv      *httptest.Server
	next     atomic.Uint64
	received atomic.Int64
}

func startDiscardCluster(t testing.TB) *discardCluster {
	d := &discardCluster{}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := d.srv.Listener.Addr().String()
		switch {
		case r.URL.Path == "/dir/assign":
			fid := fmt.Sprintf("1,%x%08x", d.next.Add(1), 0x12345678)
			_ = json.NewEncoder(w).Encode(map[string]any{"fid": fid, "url": addr, "publicUrl": addr, "count": 1})
		case r.URL.Path == "/dir/lookup":
			_ = json.NewEncoder(w).Encode(map[string]any{"volumeId": "1", "locations": []map[string]string{{"url": addr, "publicUrl": addr}}})
		case r.Method == http.MethodPost:
			n, _ := io.Copy(io.Discard, r.Body)
			d.received.Add(n)
			w.Header().Set("Etag", `"00000000"`)
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(map[string]any{"name": "x", "size": n})
		default:
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"size":0}`)
		}
	}))
	t.Cleanup(d.srv.Close)
	return d
}

// patternReader yields n bytes of a repeating pattern without holding
// them.
type patternReader struct{ left int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := int64(len(b))
	if n > p.left {
		n = p.left
	}
	for i := range b[:n] {
		b[i] = byte(i * 7)
	}
	p.left -= n
	return int(n), nil
}

// TestUploadMemoryBounded streams a 64 MiB multipart upload with
// -maxMB=1: the process allocates far less than the file's size.
func TestUploadMemoryBounded(t *testing.T) {
	d := startDiscardCluster(t)
	tf := startFiler(t, d.srv.Listener.Addr().String(), filer.FilerOptions{MaxMB: 1})
	const size = 64 << 20
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		w, err := mw.CreateFormFile("file", "huge.bin")
		if err == nil {
			_, err = io.Copy(w, &patternReader{left: size})
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := tf.do(http.MethodPost, "/mem/", pr, map[string]string{"Content-Type": mw.FormDataContentType()})
	runtime.ReadMemStats(&after)
	mustStatus(t, "POST 64 MiB", r, http.StatusCreated)
	if e := tf.findEntry("/mem/huge.bin"); len(e.Chunks) != 64 || e.Size != size {
		t.Fatalf("entry: %d chunks, size %d", len(e.Chunks), e.Size)
	}
	if d.received.Load() < size {
		t.Fatalf("volume server received %d bytes, want at least %d", d.received.Load(), size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/3 {
		t.Errorf("uploading %d bytes allocated %d bytes", size, alloc)
	}
	ctx := context.Background()
	if err := tf.srv.Filer().Delete(ctx, "/mem/huge.bin", false); err != nil {
		t.Errorf("Delete: %v", err)
	}
}

// TestRangesAcrossManyChunks reads a file of thirteen 1 MiB chunks (more
// than are fetched ahead at once) by ranges that start and end inside
// chunks, span many of them, stop before the end, or ask for several parts;
// then overwrites it with a shorter chunked file: the old chunks are
// deleted once the new entry is stored.
func TestRangesAcrossManyChunks(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{VolumeServers: 2, Volumes: 3})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{MaxMB: 1})
	const mb = 1 << 20
	const size = 12*mb + 4321
	data := randomBytes(size, 13)
	mustStatus(t, "PUT", tf.put("/many/f.bin", data), http.StatusCreated)
	if e := tf.findEntry("/many/f.bin"); len(e.Chunks) != 13 {
		t.Fatalf("%d chunks, want 13", len(e.Chunks))
	}
	for _, tc := range []struct {
		name   string
		rng    string
		status int
		parts  [][2]int // the [start, end) of each part; nil for no body
	}{
		{"whole file", "", http.StatusOK, [][2]int{{0, size}}},
		{"eleven chunks, ends inside one", fmt.Sprintf("bytes=%d-%d", mb/3, 11*mb+5), http.StatusPartialContent, [][2]int{{mb / 3, 11*mb + 6}}},
		{"from the middle to the end", fmt.Sprintf("bytes=%d-", 5*mb+1), http.StatusPartialContent, [][2]int{{5*mb + 1, size}}},
		{"suffix over three chunks", fmt.Sprintf("bytes=-%d", 2*mb+10), http.StatusPartialContent, [][2]int{{size - 2*mb - 10, size}}},
		{"suffix longer than the file", fmt.Sprintf("bytes=-%d", size+10), http.StatusPartialContent, [][2]int{{0, size}}},
		{"end past the file", fmt.Sprintf("bytes=%d-%d", 12*mb-1, 20*mb), http.StatusPartialContent, [][2]int{{12*mb - 1, size}}},
		{"last byte", fmt.Sprintf("bytes=%d-%d", size-1, size-1), http.StatusPartialContent, [][2]int{{size - 1, size}}},
		{"two chunks' boundary bytes", fmt.Sprintf("bytes=%d-%d", 7*mb-1, 7*mb), http.StatusPartialContent, [][2]int{{7*mb - 1, 7*mb + 1}}},
		{"three parts", fmt.Sprintf("bytes=1-2,%d-%d,%d-", 4*mb-3, 9*mb+2, size-5), http.StatusPartialContent,
			[][2]int{{1, 3}, {4*mb - 3, 9*mb + 3}, {size - 5, size}}},
		{"start at the end", fmt.Sprintf("bytes=%d-", size), http.StatusRequestedRangeNotSatisfiable, nil},
		{"start past the end", fmt.Sprintf("bytes=%d-%d", size+1, size+9), http.StatusRequestedRangeNotSatisfiable, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.rng != "" {
				h["Range"] = tc.rng
			}
			r := tf.get("/many/f.bin", h)
			if r.status != tc.status {
				t.Fatalf("Range %q: status %d, want %d", tc.rng, r.status, tc.status)
			}
			switch {
			case tc.status == http.StatusRequestedRangeNotSatisfiable:
				if cr := r.header.Get("Content-Range"); cr != fmt.Sprintf("bytes */%d", size) {
					t.Errorf("Content-Range %q, want bytes */%d", cr, size)
				}
			case len(tc.parts) == 1:
				p := tc.parts[0]
				if !bytes.Equal(r.body, data[p[0]:p[1]]) {
					t.Errorf("%d bytes, want the %d bytes at %d", len(r.body), p[1]-p[0], p[0])
				}
				if cr := fmt.Sprintf("bytes %d-%d/%d", p[0], p[1]-1, size); tc.status == http.StatusPartialContent && r.header.Get("Content-Range") != cr {
					t.Errorf("Content-Range %q, want %q", r.header.Get("Content-Range"), cr)
				}
			default:
				_, boundary, _ := strings.Cut(r.header.Get("Content-Type"), "boundary=")
				mr := multipart.NewReader(bytes.NewReader(r.body), boundary)
				for i, p := range tc.parts {
					part, err := mr.NextPart()
					if err != nil {
						t.Fatalf("part %d: %v", i, err)
					}
					got, err := io.ReadAll(part)
					wantCR := fmt.Sprintf("bytes %d-%d/%d", p[0], p[1]-1, size)
					if err != nil || !bytes.Equal(got, data[p[0]:p[1]]) || part.Header.Get("Content-Range") != wantCR {
						t.Errorf("part %d: %d bytes (%v), Content-Range %q; want the %d bytes at %d, %q",
							i, len(got), err, part.Header.Get("Content-Range"), p[1]-p[0], p[0], wantCR)
					}
				}
				if _, err := mr.NextPart(); err != io.EOF {
					t.Errorf("after %d parts: %v, want EOF", len(tc.parts), err)
				}
			}
		})
	}

	// Overwriting deletes every old chunk, after the new entry is stored.
	old := tf.findEntry("/many/f.bin")
	shorter := randomBytes(3*mb+1, 14)
	mustStatus(t, "overwrite", tf.put("/many/f.bin", shorter), http.StatusCreated)
	for _, c := range old.Chunks {
		if _, ok := cluster.File(c.Fid); ok {
			t.Errorf("old chunk %s still stored", c.Fid)
		}
	}
	if n := cluster.FileCount(); n != 4 {
		t.Errorf("the cluster holds %d needles after the overwrite, want the new file's 4", n)
	}
	if r := tf.get("/many/f.bin", nil); !bytes.Equal(r.body, shorter) {
		t.Errorf("GET after the overwrite: %d bytes differ", len(r.body))
	}
	mustStatus(t, "DELETE", tf.do(http.MethodDelete, "/many/f.bin", nil, nil), http.StatusAccepted)
	if n := cluster.FileCount(); n != 0 {
		t.Errorf("the cluster holds %d needles after the delete", n)
	}
}
