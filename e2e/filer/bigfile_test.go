package filer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/testcluster"
)

// patternFile is a file of size bytes whose byte at offset i is a hash of
// i: it is written and checked as a stream, so a test of a large file
// holds none of it in memory, and any range of it can be computed.
type patternFile struct{ size int64 }

// at returns the bytes [start, end).
func (p patternFile) at(start, end int64) []byte {
	b := make([]byte, end-start)
	p.fill(b, start)
	return b
}

// fill writes the bytes at offset off into b.
func (p patternFile) fill(b []byte, off int64) {
	for i := range b {
		x := uint64(off+int64(i)) * 0x9e3779b97f4a7c15
		b[i] = byte(x>>56) ^ byte(x>>29)
	}
}

// reader streams the whole file.
func (p patternFile) reader() io.Reader { return &patternReader{p: p} }

type patternReader struct {
	p   patternFile
	off int64
}

func (r *patternReader) Read(b []byte) (int, error) {
	if r.off >= r.p.size {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), r.p.size-r.off)]
	r.p.fill(b, r.off)
	r.off += int64(len(b))
	return len(b), nil
}

// sum returns the SHA-256 of the whole file.
func (p patternFile) sum() [32]byte {
	h := sha256.New()
	_, _ = io.CopyBuffer(h, p.reader(), make([]byte, 1<<20))
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// vmHWM returns the peak resident set size of process pid, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the filer's memory: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM line %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// streamPut PUTs size bytes of p to url without holding them.
func streamPut(t *testing.T, url string, p patternFile) testcluster.Reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, p.reader())
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = p.size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := testcluster.Plain.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("PUT %s: reading the reply: %v", url, err)
	}
	return testcluster.Reply{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// streamGetSum GETs url and returns the status, the length and the
// SHA-256 of the body, without holding it.
func streamGetSum(t *testing.T, url string) (int, int64, [32]byte) {
	t.Helper()
	resp, err := testcluster.Plain.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, resp.Body, make([]byte, 1<<20))
	if err != nil {
		t.Fatalf("GET %s: after %d bytes: %v", url, n, err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return resp.StatusCode, n, s
}

// TestLargeFileStreams PUTs a 96 MiB file to a filer with -maxMB=1 (96
// chunks, two copies each), reads it back whole and by ranges across chunk
// boundaries, overwrites it, cuts a PUT off halfway and deletes it: the
// bytes come back exact, the volume servers' live needle count is back to
// where it was after the overwrite (the old chunks), the cut PUT (the chunks
// it had stored) and the delete; and the filer's peak resident memory stays
// below 4 × chunk × read-ahead + 64 MiB = 80 MiB, less than the file: it
// never held the file.
func TestLargeFileStreams(t *testing.T) {
	cl := startCluster(t)
	const mib = 1 << 20
	f := cl.startFiler(testcluster.FilerOptions{MaxMB: 1})
	const size = 96*mib + 777
	const chunks = 97
	p := patternFile{size: size}
	before := cl.counts()

	const path = "/large/file.bin"
	requireWritten(t, streamPut(t, f.URL(path), p), "file.bin", size)
	if got := cl.counts().Live - before.Live; got != chunks*copies {
		t.Errorf("the volume servers got %d needles, want %d chunks × %d copies", got, chunks, copies)
	}
	status, n, sum := streamGetSum(t, f.URL(path))
	if status != http.StatusOK || n != size || sum != p.sum() {
		t.Errorf("GET %s: status %d, %d bytes, same bytes %v; want 200, %d identical bytes", path, status, n, sum == p.sum(), size)
	}

	for _, rg := range []struct {
		name       string
		header     string
		start, end int64 // [start, end)
	}{
		{"across one boundary", fmt.Sprintf("bytes=%d-%d", 10*mib-5, 10*mib+4), 10*mib - 5, 10*mib + 5},
		{"across thirty boundaries", fmt.Sprintf("bytes=%d-%d", 20*mib+123, 50*mib+456), 20*mib + 123, 50*mib + 457},
		{"exactly one chunk", fmt.Sprintf("bytes=%d-%d", 64*mib, 65*mib-1), 64 * mib, 65 * mib},
		{"open-ended, from inside a chunk", fmt.Sprintf("bytes=%d-", 93*mib+mib/2), 93*mib + mib/2, size},
		{"suffix over the last two boundaries", fmt.Sprintf("bytes=-%d", mib+1000), size - mib - 1000, size},
	} {
		r := testcluster.Do(t, testcluster.Plain, http.MethodGet, f.URL(path), nil, map[string]string{"Range": rg.header})
		wantCR := fmt.Sprintf("bytes %d-%d/%d", rg.start, rg.end-1, size)
		if r.Status != http.StatusPartialContent || r.Header.Get("Content-Range") != wantCR || !bytes.Equal(r.Body, p.at(rg.start, rg.end)) {
			t.Errorf("Range %s (%s): %d, Content-Range %q, %d bytes; want 206, %q, %d identical bytes",
				rg.header, rg.name, r.Status, r.Header.Get("Content-Range"), len(r.Body), wantCR, rg.end-rg.start)
		}
	}
	if r := testcluster.Do(t, testcluster.Plain, http.MethodGet, f.URL(path), nil, map[string]string{"Range": fmt.Sprintf("bytes=%d-", size)}); r.Status != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("Range past the end: %v, want 416", r)
	}

	const chunkBytes, readAhead = 1 * mib, 4
	bound := int64(4*chunkBytes*readAhead + 64*mib)
	if hwm := vmHWM(t, f.PID()); hwm > bound {
		t.Errorf("the filer's peak RSS is %d MiB after moving %d MiB, want at most %d MiB", hwm>>20, size>>20, bound>>20)
	} else {
		t.Logf("the filer's peak RSS: %d MiB after a %d MiB PUT and GET", hwm>>20, size>>20)
	}

	// An overwrite deletes the old chunks once the new entry is stored.
	small := patternFile{size: 3*mib + 1}
	requireWritten(t, streamPut(t, f.URL(path), small), "file.bin", int(small.size))
	if got := cl.counts().Live - before.Live; got != 4*copies {
		t.Errorf("after the overwrite the volume servers hold %d more needles, want the new file's 4 chunks × %d copies", got, copies)
	}
	if status, n, sum := streamGetSum(t, f.URL(path)); status != http.StatusOK || n != small.size || sum != small.sum() {
		t.Errorf("GET after the overwrite: status %d, %d bytes; want the new file", status, n)
	}

	// A PUT cut off after 20 of its 40 MiB: once the volume servers hold
	// chunks of it, the connection closes, and the chunks are deleted.
	want := before.Live + 4*copies
	conn := startCutPUT(t, f.Addr(), "/large/cut.bin", 40*mib, patternFile{size: 20 * mib})
	deadline := time.Now().Add(20 * time.Second)
	for cl.counts().Live <= want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := cl.counts().Live; got <= want {
		t.Errorf("the cut PUT stored no chunk before the cut (%d live needles)", got)
	}
	_ = conn.Close()
	deadline = time.Now().Add(20 * time.Second)
	for cl.counts().Live != want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := cl.counts().Live; got != want {
		t.Errorf("after a cut PUT the volume servers hold %d live needles, want %d", got, want)
	}
	if r := get(t, f.URL("/large/cut.bin")); r.Status != http.StatusNotFound {
		t.Errorf("GET of the cut file: %v, want 404", r)
	}

	requireDeleted(t, del(t, f.URL(path)))
	if got := cl.counts().Live; got != before.Live {
		t.Errorf("after the delete the volume servers hold %d live needles, want %d", got, before.Live)
	}
}

// startCutPUT sends a PUT of declared length to addr's path and writes the
// bytes of p (fewer). The caller closes the connection to cut it off.
func startCutPUT(t *testing.T, addr, path string, declared int64, p patternFile) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial the filer: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(testcluster.RequestTimeout))
	w := bufio.NewWriterSize(conn, 1<<20)
	fmt.Fprintf(w, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n",
		(&url.URL{Path: path}).EscapedPath(), addr, declared)
	if _, err := io.Copy(w, p.reader()); err != nil {
		t.Fatalf("sending the cut PUT: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("sending the cut PUT: %v", err)
	}
	return conn
}
