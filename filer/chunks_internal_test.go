package filer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/client/clienttest"
)

// recordingTransport records the Range header of every needle GET.
type recordingTransport struct {
	mu     sync.Mutex
	ranges []string
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/dir/") {
		rt.mu.Lock()
		rt.ranges = append(rt.ranges, r.URL.Path+" "+r.Header.Get("Range"))
		rt.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (rt *recordingTransport) take() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := rt.ranges
	rt.ranges = nil
	// Chunks are fetched ahead in parallel, in any order: compare sorted.
	sort.Strings(out)
	return out
}

// TestChunkedReadFetchesOnlyTouchedChunks checks that a ranged read of a
// chunked file asks the volume servers for the covered chunks only, with a
// Range on the first and last of them.
func TestChunkedReadFetchesOnlyTouchedChunks(t *testing.T) {
	cluster, err := clienttest.Start(clienttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	rt := &recordingTransport{}
	c, err := client.New(cluster.MasterAddr(), client.WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	store, err := OpenBoltStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	f, err := NewFiler(store, c, Options{MaxMB: 1})
	if err != nil {
		t.Fatal(err)
	}
	const mb = 1 << 20
	data := bytes.Repeat([]byte("0123456789abcdef"), 4*mb/16)
	ctx := context.Background()
	e, err := f.WriteFile(ctx, bytes.NewReader(data), NewFile{Path: "/four.bin"})
	if err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	if len(e.Chunks) != 4 {
		t.Fatalf("%d chunks, want 4", len(e.Chunks))
	}
	fid := func(i int) string { return "/" + e.Chunks[i].Fid + " " }
	s := &Server{filer: f}
	for _, tc := range []struct {
		rng  string
		want []string
	}{
		{"", []string{fid(0), fid(1), fid(2), fid(3)}},
		{"bytes=5-9", []string{fid(0) + "bytes=5-9"}},
		{fmt.Sprintf("bytes=%d-%d", mb-2, mb+1), []string{fid(0) + fmt.Sprintf("bytes=%d-%d", mb-2, mb-1), fid(1) + "bytes=0-1"}},
		{fmt.Sprintf("bytes=%d-%d", mb, 2*mb-1), []string{fid(1)}},
		{fmt.Sprintf("bytes=%d-%d", mb+10, 3*mb+9), []string{fid(1) + fmt.Sprintf("bytes=10-%d", mb-1), fid(2), fid(3) + "bytes=0-9"}},
		{"bytes=-100", []string{fid(3) + fmt.Sprintf("bytes=%d-%d", mb-100, mb-1)}},
		{fmt.Sprintf("bytes=%d-", 3*mb), []string{fid(3)}},
	} {
		req := httptest.NewRequest(http.MethodGet, "/four.bin", nil)
		if tc.rng != "" {
			req.Header.Set("Range", tc.rng)
		}
		w := httptest.NewRecorder()
		s.serveChunked(w, req, e)
		if w.Code != http.StatusOK && w.Code != http.StatusPartialContent {
			t.Fatalf("Range %q: status %d: %s", tc.rng, w.Code, w.Body)
		}
		sort.Strings(tc.want)
		if got := rt.take(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("Range %q fetched %q, want %q", tc.rng, got, tc.want)
		}
	}

	// A chunk that cannot be fetched before any byte is sent gives an
	// error reply, not a truncated 200.
	cluster.StopVolumeServer(0)
	w := httptest.NewRecorder()
	s.serveChunked(w, httptest.NewRequest(http.MethodGet, "/four.bin", nil), e)
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), `"error"`) {
		t.Errorf("read with the volume server down: %d %s", w.Code, w.Body)
	}
}

func TestRangeEnd(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   int64
	}{
		{"", 100},
		{"bytes=0-9", 10},
		{"bytes=10-", 100},
		{"bytes=-5", 100},
		{"bytes=5-500", 100},
		{"bytes=0-1,5-6", 100},
		{"bytes=x-y", 100},
		{"items=0-9", 100},
		{"bytes=0-99", 100},
		{"bytes=0-98", 99},
	} {
		if got := rangeEnd(tc.header, 100); got != tc.want {
			t.Errorf("rangeEnd(%q) = %d, want %d", tc.header, got, tc.want)
		}
	}
}

func TestChunksInFlight(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct{ chunkSize, want int }{
		{1, maxChunksInFlight},
		{mb, maxChunksInFlight},
		{4 * mb, maxChunksInFlight},
		{16 * mb, maxChunksInFlight},
		{17 * mb, 3},
		{32 * mb, 2},
		{64 * mb, 1},
		{MaxMaxMB * mb, 1},
		{0, maxChunksInFlight},
	} {
		if got := chunksInFlight(tc.chunkSize); got != tc.want {
			t.Errorf("chunksInFlight(%d) = %d, want %d", tc.chunkSize, got, tc.want)
		}
	}
}

// gatingTransport holds every needle request of one method (POST: the
// uploads, GET: the fetches) until `want` of them are in flight at once, or
// a bound passes; it records the most that were in flight at once. Once
// `want` were reached, requests pass without waiting.
type gatingTransport struct {
	method string
	want   int
	mu     sync.Mutex
	cur    int
	most   int
	opened chan struct{}
}

func newGatingTransport(method string, want int) *gatingTransport {
	return &gatingTransport{method: method, want: want, opened: make(chan struct{})}
}

func (g *gatingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != g.method || strings.HasPrefix(r.URL.Path, "/dir/") {
		return http.DefaultTransport.RoundTrip(r)
	}
	g.mu.Lock()
	g.cur++
	g.most = max(g.most, g.cur)
	if g.cur == g.want {
		select {
		case <-g.opened:
		default:
			close(g.opened)
		}
	}
	g.mu.Unlock()
	select {
	case <-g.opened:
	case <-time.After(2 * time.Second):
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && g.method == http.MethodGet {
		// A fetch is in flight until its body is read.
		var body []byte
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	g.mu.Lock()
	g.cur--
	g.mu.Unlock()
	return resp, err
}

// mostInFlight returns the most requests that were in flight at once.
func (g *gatingTransport) mostInFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.most
}

// newTestFiler returns a Filer with chunks of maxMB over the fake cluster,
// reaching it through rt, on a bolt store in a temp dir.
func newTestFiler(t *testing.T, cluster *clienttest.Cluster, rt http.RoundTripper, maxMB int) *Filer {
	t.Helper()
	c, err := client.New(cluster.MasterAddr(), client.WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	store, err := OpenBoltStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	f, err := NewFiler(store, c, Options{MaxMB: maxMB})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestChunksMoveInParallel writes and reads a file of ten 1 MiB chunks:
// the uploads and the fetches overlap, chunksInFlight of them at a time
// and never more, and the bytes come back in order.
func TestChunksMoveInParallel(t *testing.T) {
	const mb = 1 << 20
	want := chunksInFlight(mb)
	data := make([]byte, 10*mb)
	for i := range data {
		data[i] = byte(i / 4099)
	}
	for _, tc := range []struct {
		method string
		rng    string
		start  int // the bytes read are data[start:end]
		end    int
	}{
		{http.MethodPost, "", 0, len(data)},
		{http.MethodGet, "", 0, len(data)},
		{http.MethodGet, fmt.Sprintf("bytes=%d-%d", mb/2, 9*mb+7), mb / 2, 9*mb + 8},
		{http.MethodGet, fmt.Sprintf("bytes=%d-", 3*mb-1), 3*mb - 1, len(data)},
	} {
		t.Run(tc.method+" "+tc.rng, func(t *testing.T) {
			cluster, err := clienttest.Start(clienttest.Options{VolumeServers: 2, Volumes: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			gate := newGatingTransport(tc.method, want)
			f := newTestFiler(t, cluster, gate, 1)
			ctx := context.Background()
			e, err := f.WriteFile(ctx, bytes.NewReader(data), NewFile{Path: "/ten.bin"})
			if err != nil {
				t.Fatalf("WriteFile: %v", err)
			}
			if len(e.Chunks) != 10 || e.Size != uint64(len(data)) {
				t.Fatalf("entry: %d chunks, size %d", len(e.Chunks), e.Size)
			}
			for i, c := range e.Chunks {
				stored, ok := cluster.File(c.Fid)
				if c.Offset != int64(i*mb) || c.Size != mb || !ok || !bytes.Equal(stored.Data, data[i*mb:(i+1)*mb]) {
					t.Fatalf("chunk %d: %+v (stored %v)", i, c, ok)
				}
			}
			if tc.method == http.MethodGet {
				req := httptest.NewRequest(http.MethodGet, "/ten.bin", nil)
				if tc.rng != "" {
					req.Header.Set("Range", tc.rng)
				}
				w := httptest.NewRecorder()
				(&Server{filer: f}).serveChunked(w, req, e)
				if w.Code/100 != 2 || !bytes.Equal(w.Body.Bytes(), data[tc.start:tc.end]) {
					t.Fatalf("GET %q: status %d, %d bytes, want %d identical ones", tc.rng, w.Code, w.Body.Len(), tc.end-tc.start)
				}
			}
			if got := gate.mostInFlight(); got != want {
				t.Errorf("at most %d %s requests were in flight at once, want %d", got, tc.method, want)
			}
		})
	}
}

// faultyTransport breaks the needle requests of one method that `broken`
// picks by their path and number: for POSTs the number of the request
// (1, 2, ... in the order they are sent), for GETs the number of the
// request for that path (the fetches of one chunk). A broken POST is sent
// on, so the needle is stored, but answered 500 as a failed replication
// is; a broken GET gets only half of its body, then an error.
type faultyTransport struct {
	method string
	broken func(path string, n int) bool
	mu     sync.Mutex
	n      int
	byPath map[string]int
}

func (ft *faultyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != ft.method || strings.HasPrefix(r.URL.Path, "/dir/") {
		return http.DefaultTransport.RoundTrip(r)
	}
	ft.mu.Lock()
	ft.n++
	n := ft.n
	if r.Method == http.MethodGet {
		if ft.byPath == nil {
			ft.byPath = map[string]int{}
		}
		ft.byPath[r.URL.Path]++
		n = ft.byPath[r.URL.Path]
	}
	broken := ft.broken(r.URL.Path, n)
	ft.mu.Unlock()
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || !broken {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if r.Method == http.MethodPost {
		return &http.Response{
			StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error",
			Header:  http.Header{"Content-Type": {"application/json"}},
			Body:    io.NopCloser(strings.NewReader(`{"error":"replication failed"}`)),
			Request: r,
		}, nil
	}
	resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body[:len(body)/2]), iotest.ErrReader(io.ErrUnexpectedEOF)))
	return resp, nil
}

// TestFailedChunkAttemptsLeaveNoNeedle writes a file of eight 1 MiB chunks
// while some uploads are stored but answered 500: whether the write then
// fails or a retry saves it, no needle is left that no entry holds.
func TestFailedChunkAttemptsLeaveNoNeedle(t *testing.T) {
	const mb = 1 << 20
	data := bytes.Repeat([]byte("0123456789abcdef"), 8*mb/16)
	for _, tc := range []struct {
		name   string
		broken func(n int) bool
		ok     bool
	}{
		{"the second upload fails, its retry succeeds", func(n int) bool { return n == 2 }, true},
		{"every upload after the third fails", func(n int) bool { return n > 3 }, false},
		{"the first upload fails, then every one after the fifth", func(n int) bool { return n == 1 || n > 5 }, false},
	} {
		broken := func(_ string, n int) bool { return tc.broken(n) }
		t.Run(tc.name, func(t *testing.T) {
			cluster, err := clienttest.Start(clienttest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			f := newTestFiler(t, cluster, &faultyTransport{method: http.MethodPost, broken: broken}, 1)
			e, err := f.WriteFile(context.Background(), bytes.NewReader(data), NewFile{Path: "/eight.bin"})
			if (err == nil) != tc.ok {
				t.Fatalf("WriteFile: %v, want success %v", err, tc.ok)
			}
			want := 0
			if tc.ok {
				want = len(e.Chunks)
				if want != 8 {
					t.Fatalf("%d chunks, want 8", want)
				}
				for i, c := range e.Chunks {
					if stored, ok := cluster.File(c.Fid); !ok || !bytes.Equal(stored.Data, data[i*mb:(i+1)*mb]) {
						t.Errorf("chunk %d (%s) not stored as written", i, c.Fid)
					}
				}
			}
			if n := cluster.FileCount(); n != want {
				t.Errorf("the cluster holds %d needles, want %d", n, want)
			}
		})
	}
}

// TestChunkFetchTriedAgain serves a file of four chunks through fetches
// that break off halfway: the rest of a chunk whose reply broke off is
// fetched again, unseen by the reader; a chunk whose every fetch breaks
// cuts the reply short. (A chunk that cannot be fetched at all before the
// first byte is an error reply: TestChunkedReadFetchesOnlyTouchedChunks.)
func TestChunkFetchTriedAgain(t *testing.T) {
	const mb = 1 << 20
	data := bytes.Repeat([]byte("fedcba9876543210"), 4*mb/16)
	for _, tc := range []struct {
		name   string
		broken func(e *Entry, path string, n int) bool
		status int
		whole  bool
	}{
		{"no fetch breaks", func(*Entry, string, int) bool { return false }, http.StatusOK, true},
		{"the first fetch of every chunk breaks", func(_ *Entry, _ string, n int) bool { return n == 1 }, http.StatusOK, true},
		{"every fetch of the first chunk breaks", func(e *Entry, p string, _ int) bool { return p == "/"+e.Chunks[0].Fid }, http.StatusOK, false},
		{"every fetch of the last chunk breaks", func(e *Entry, p string, _ int) bool { return p == "/"+e.Chunks[3].Fid }, http.StatusOK, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster, err := clienttest.Start(clienttest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			var e *Entry
			f := newTestFiler(t, cluster, &faultyTransport{method: http.MethodGet, broken: func(p string, n int) bool { return tc.broken(e, p, n) }}, 1)
			e, err = f.WriteFile(context.Background(), bytes.NewReader(data), NewFile{Path: "/four.bin"})
			if err != nil {
				t.Fatalf("WriteFile: %v", err)
			}
			w := httptest.NewRecorder()
			(&Server{filer: f}).serveChunked(w, httptest.NewRequest(http.MethodGet, "/four.bin", nil), e)
			if w.Code != tc.status || bytes.Equal(w.Body.Bytes(), data) != tc.whole {
				t.Errorf("status %d with %d bytes (whole file: %v), want %d, whole %v",
					w.Code, w.Body.Len(), bytes.Equal(w.Body.Bytes(), data), tc.status, tc.whole)
			}
		})
	}
}
