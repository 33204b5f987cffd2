package filer

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strconv"
	"testing"

	"github.com/weedfs/weed/testcluster"
)

// TestLargeFileInChunks PUTs a file of a little over 5 MiB to a filer with
// -maxMB=1: it is stored as six needles, reads back identical as one stream
// and by ranges, and a DELETE removes every chunk's needle.
func TestLargeFileInChunks(t *testing.T) {
	cl := startCluster(t)
	f := cl.startFiler(testcluster.FilerOptions{MaxMB: 1})

	const mib = 1 << 20
	size := 5*mib + 12345
	chunks := (size + mib - 1) / mib
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(5, 1))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	before := cl.counts()

	// PUT to a full path creates the parents.
	const p = "/big/a/b/file.bin"
	requireWritten(t, put(t, f.URL(p), data), "file.bin", size)
	if l := list(t, f.URL("/big/a/")); !reflect.DeepEqual(l.Subdirectories, []string{"b"}) {
		t.Errorf("listing of /big/a/: %+v, want Subdirectories [b]", l)
	}
	lf, ok := list(t, f.URL("/big/a/b/")).file("file.bin")
	if !ok || lf.Size != int64(size) {
		t.Errorf("listed file.bin: %+v, want size %d", lf, size)
	}
	after := cl.counts()
	if got := after.Live - before.Live; got != uint64(chunks*copies) {
		t.Errorf("volume servers got %d needles, want %d chunks × %d copies", got, chunks, copies)
	}

	r := get(t, f.URL(p))
	requireBytes(t, "GET "+p, r, data)
	if cl := r.Header.Get("Content-Length"); cl != strconv.Itoa(size) {
		t.Errorf("Content-Length %q, want %d", cl, size)
	}
	if r.Header.Get("Accept-Ranges") != "bytes" || r.Header.Get("Etag") == "" || r.Header.Get("Content-Disposition") == "" {
		t.Errorf("GET %s: headers %v", p, r.Header)
	}

	ranges := []struct {
		name       string
		header     string
		start, end int // the bytes wanted, [start, end)
	}{
		{"start", "bytes=0-99", 0, 100},
		{"across the first chunk boundary", fmt.Sprintf("bytes=%d-%d", mib-1000, mib+999), mib - 1000, mib + 1000},
		{"across two boundaries", fmt.Sprintf("bytes=%d-%d", 2*mib-7, 4*mib+6), 2*mib - 7, 4*mib + 7},
		{"one byte in the last chunk", fmt.Sprintf("bytes=%d-%d", size-1, size-1), size - 1, size},
		{"open-ended", fmt.Sprintf("bytes=%d-", 3*mib+5), 3*mib + 5, size},
		{"suffix", "bytes=-100", size - 100, size},
	}
	for _, rg := range ranges {
		r := testcluster.Do(t, testcluster.Plain, http.MethodGet, f.URL(p), nil, map[string]string{"Range": rg.header})
		want := data[rg.start:rg.end]
		wantCR := fmt.Sprintf("bytes %d-%d/%d", rg.start, rg.end-1, size)
		if r.Status != http.StatusPartialContent || r.Header.Get("Content-Range") != wantCR || !bytes.Equal(r.Body, want) {
			t.Errorf("Range %s (%s): %d, Content-Range %q, %d bytes; want 206, %q, %d identical bytes",
				rg.header, rg.name, r.Status, r.Header.Get("Content-Range"), len(r.Body), wantCR, len(want))
		}
	}
	r = testcluster.Do(t, testcluster.Plain, http.MethodGet, f.URL(p), nil, map[string]string{"Range": fmt.Sprintf("bytes=%d-", size)})
	if r.Status != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("Range bytes=%d- (past the end): %v, want 416", size, r)
	}

	requireDeleted(t, del(t, f.URL(p)))
	if r := get(t, f.URL(p)); r.Status != http.StatusNotFound {
		t.Errorf("GET after delete: %v, want 404", r)
	}
	if c := cl.counts(); c.Live != before.Live {
		t.Errorf("volume servers hold %d live needles after the delete, want %d: some chunks remain", c.Live, before.Live)
	}
}

// TestReadsSurviveAReplicaDown kills the dc2 volume server, which holds a
// copy of every volume under replication 100: the filer still serves a
// one-needle file and a chunked one, whole and by range, from dc1.
func TestReadsSurviveAReplicaDown(t *testing.T) {
	cl := startCluster(t)
	f := cl.startFiler(testcluster.FilerOptions{MaxMB: 1})
	big := bytes.Repeat([]byte("0123456789abcdef"), 200_000) // 3.2 MB: four chunks
	small := []byte("a one-needle file\n")
	requireWritten(t, put(t, f.URL("/big.bin"), big), "big.bin", len(big))
	requireWritten(t, put(t, f.URL("/small.txt"), small), "small.txt", len(small))

	cl.volumes[2].Kill()
	// Several rounds, so that each replica is picked first at least once
	// with high probability.
	for i := 0; i < 6; i++ {
		requireBytes(t, "GET /big.bin with dc2 down", get(t, f.URL("/big.bin")), big)
		requireBytes(t, "GET /small.txt with dc2 down", get(t, f.URL("/small.txt")), small)
		r := testcluster.Do(t, testcluster.Plain, http.MethodGet, f.URL("/big.bin"), nil, map[string]string{"Range": "bytes=1048570-1048589"})
		if r.Status != http.StatusPartialContent || !bytes.Equal(r.Body, big[1048570:1048590]) {
			t.Fatalf("Range across a chunk boundary with dc2 down: %v", r)
		}
	}
}
