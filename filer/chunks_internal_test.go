package filer

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

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
