package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/client/clienttest"
	"github.com/weedfs/weed/needle"
)

// put assigns a fid and uploads data under name.
func put(t *testing.T, c *client.Client, name string, data []byte) string {
	t.Helper()
	ctx := context.Background()
	a, err := c.Assign(ctx, client.AssignRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upload(ctx, a.URL, a.Fid, client.UploadRequest{Filename: name, Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	return a.Fid
}

func readAll(t *testing.T, o *client.Object) []byte {
	t.Helper()
	defer o.Body.Close()
	b, err := io.ReadAll(o.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUploadAndGet(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	c := newClient(t, cl.MasterAddr())
	ctx := context.Background()
	a, err := c.Assign(ctx, client.AssignRequest{})
	if err != nil {
		t.Fatal(err)
	}
	body := "hello weed-fs!"
	res, err := c.Upload(ctx, a.URL, a.Fid, client.UploadRequest{Filename: "hello.txt", Body: strings.NewReader(body), TTL: "3m"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "hello.txt" || res.Size != int64(len(body)) || len(res.ETag) != 8 {
		t.Fatalf("upload result %+v", res)
	}
	f, ok := cl.File(a.Fid)
	if !ok || string(f.Data) != body || f.TTL != "3m" || f.Mime != mime.TypeByExtension(".txt") {
		t.Fatalf("stored %+v", f)
	}
	o, err := c.Get(ctx, a.Fid, client.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, o); string(got) != body {
		t.Fatalf("read %q", got)
	}
	if o.Name != "hello.txt" || o.Size != int64(len(body)) || o.ETag != res.ETag || o.StatusCode != http.StatusOK || o.LastModified.IsZero() {
		t.Fatalf("object %+v", o)
	}
}

func TestUploadWithoutNameSendsRawBody(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	c := newClient(t, cl.MasterAddr())
	ctx := context.Background()
	a, err := c.Assign(ctx, client.AssignRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upload(ctx, a.URL, a.Fid, client.UploadRequest{Body: strings.NewReader("raw"), MimeType: "text/x-raw"}); err != nil {
		t.Fatal(err)
	}
	f, ok := cl.File(a.Fid)
	if !ok || string(f.Data) != "raw" || f.Name != "" || f.Mime != "text/x-raw" {
		t.Fatalf("stored %+v", f)
	}
}

func TestUploadHostileFilenameStaysInItsHeader(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	c := newClient(t, cl.MasterAddr())
	name := "a\"b\r\nX-Evil: 1.txt"
	fid := put(t, c, name, []byte("x"))
	f, _ := cl.File(fid)
	if f.Name != `a"bX-Evil: 1.txt` {
		t.Fatalf("stored name %q", f.Name)
	}
}

func TestUploadErrorIsTyped(t *testing.T) {
	s, _ := countingServer(t, http.StatusInternalServerError, `{"error":"replication failed"}`)
	c := newClient(t, "127.0.0.1:1")
	_, err := c.Upload(context.Background(), s.Listener.Addr().String(), "3,01637037d6", client.UploadRequest{Filename: "a", Body: strings.NewReader("a")})
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != 500 || e.Message != "replication failed" {
		t.Fatalf("err = %v", err)
	}
}

// generator yields size pseudo-random bytes without holding them, and
// checks on every Read that it is never more than maxLead bytes ahead of
// what the server has received.
type generator struct {
	left, produced int64
	received       *atomic.Int64
	maxLead        int64
	worstLead      int64
	state          uint64
}

func (g *generator) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	if lead := g.produced - g.received.Load(); lead > g.worstLead {
		g.worstLead = lead
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	for i := range p {
		g.state = g.state*6364136223846793005 + 1442695040888963407
		p[i] = byte(g.state >> 56)
	}
	g.left -= int64(len(p))
	g.produced += int64(len(p))
	return len(p), nil
}

func TestUploadStreamsWithBoundedMemory(t *testing.T) {
	const size = 96 << 20
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		part, err := mr.NextPart()
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		buf := make([]byte, 32<<10)
		var n int64
		for {
			k, err := part.Read(buf)
			n += int64(k)
			received.Store(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"name":%q,"size":%d}`, part.FileName(), n)
	}))
	defer srv.Close()
	c := newClient(t, "127.0.0.1:1")
	gen := &generator{left: size, received: &received, state: 1}
	res, err := c.Upload(context.Background(), srv.Listener.Addr().String(), "1,01637037d6", client.UploadRequest{Filename: "big.bin", Body: gen})
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != size || received.Load() != size {
		t.Fatalf("server got %d bytes, reported %d, want %d", received.Load(), res.Size, size)
	}
	// Socket buffers on loopback hold a few MiB at most; a client that
	// buffered the body would run the whole 96 MiB ahead.
	const bound = 24 << 20
	if gen.worstLead > bound {
		t.Fatalf("the client read %d bytes ahead of the server (bound %d): the body is buffered", gen.worstLead, bound)
	}
}

func TestGetRangeAndGzip(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	c := newClient(t, cl.MasterAddr())
	ctx := context.Background()
	fid := put(t, c, "digits.bin", []byte("0123456789"))
	o, err := c.Get(ctx, fid, client.GetOptions{Offset: 2, Length: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, o); string(got) != "234" || o.StatusCode != http.StatusPartialContent || o.Size != 3 {
		t.Fatalf("range read %q, status %d, size %d", got, o.StatusCode, o.Size)
	}
	o, err = c.Get(ctx, fid, client.GetOptions{Offset: 7})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, o); string(got) != "789" {
		t.Fatalf("open range read %q", got)
	}
	_, err = c.Get(ctx, fid, client.GetOptions{Offset: 50})
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("unsatisfiable range: %v", err)
	}
}

func TestGetMissing(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	c := newClient(t, cl.MasterAddr())
	ctx := context.Background()
	fid := put(t, c, "a.txt", []byte("a"))
	id, _ := needle.ParseFileID(fid)
	id.Cookie++
	if _, err := c.Get(ctx, id.String(), client.GetOptions{}); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("wrong cookie: %v", err)
	}
	if _, err := c.Get(ctx, "9999,01637037d6", client.GetOptions{}); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("unknown volume: %v", err)
	}
	if _, err := c.Get(ctx, "nonsense", client.GetOptions{}); !errors.Is(err, needle.ErrBadFileID) {
		t.Fatalf("bad fid: %v", err)
	}
}

func TestGetFallsBackToAnotherReplica(t *testing.T) {
	cl := startCluster(t, clienttest.Options{VolumeServers: 2, Volumes: 1, Copies: 2})
	c := newClient(t, cl.MasterAddr())
	ctx := context.Background()
	fid := put(t, c, "a.txt", []byte("replicated"))
	cl.StopVolumeServer(0)
	for i := 0; i < 20; i++ {
		o, err := c.Get(ctx, fid, client.GetOptions{})
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if got := readAll(t, o); string(got) != "replicated" || o.Location != cl.VolumeServerAddrs()[1] {
			t.Fatalf("read %q from %s", got, o.Location)
		}
	}
}

func TestFailedReadInvalidatesCache(t *testing.T) {
	cl := startCluster(t, clienttest.Options{Volumes: 1})
	c := newClient(t, cl.MasterAddr())
	ctx := context.Background()
	fid := put(t, c, "a.txt", []byte("a"))
	if _, err := c.Lookup(ctx, 1); err != nil {
		t.Fatal(err)
	}
	before := cl.Requests("/dir/lookup")
	cl.StopVolumeServer(0)
	if _, err := c.Get(ctx, fid, client.GetOptions{}); err == nil || errors.Is(err, client.ErrNotFound) {
		t.Fatalf("read from a stopped server: %v", err)
	}
	if got := cl.Requests("/dir/lookup"); got != before+1 {
		t.Fatalf("after a failed cached read: %d lookups, want %d (one fresh lookup)", got, before+1)
	}
	if _, err := c.Lookup(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := cl.Requests("/dir/lookup"); got != before+2 {
		t.Fatalf("the failing locations stayed cached: %d lookups, want %d", got, before+2)
	}
}

func TestDelete(t *testing.T) {
	cl := startCluster(t, clienttest.Options{VolumeServers: 2, Copies: 2})
	c := newClient(t, cl.MasterAddr())
	ctx := context.Background()
	fid := put(t, c, "a.txt", []byte("12345"))
	size, err := c.Delete(ctx, fid)
	if err != nil || size != 5 {
		t.Fatalf("delete: %d, %v", size, err)
	}
	if _, ok := cl.File(fid); ok {
		t.Fatal("file still stored")
	}
	if _, err := c.Delete(ctx, fid); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestDeleteFollowsRedirectAsDelete(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	c0 := newClient(t, cl.MasterAddr())
	fid := put(t, c0, "a.txt", []byte("12345"))
	holder := cl.VolumeServerAddrs()[0]
	var mu sync.Mutex
	var methods []string
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method)
		mu.Unlock()
		http.Redirect(w, r, "http://"+holder+r.URL.Path, http.StatusMovedPermanently)
	}))
	defer redirector.Close()
	master := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"volumeId":"1","locations":[{"url":%q,"publicUrl":%q}]}`, redirector.Listener.Addr(), redirector.Listener.Addr())
	}))
	defer master.Close()
	c := newClient(t, master.Listener.Addr().String())
	size, err := c.Delete(context.Background(), fid)
	if err != nil || size != 5 {
		t.Fatalf("delete through a redirect: %d, %v", size, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if _, ok := cl.File(fid); ok || len(methods) != 1 || methods[0] != http.MethodDelete {
		t.Fatalf("still stored: %v, redirector saw %v", ok, methods)
	}
}

func TestSubmit(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	c := newClient(t, cl.MasterAddr())
	res, err := c.Submit(context.Background(), client.SubmitRequest{Filename: "hello1.txt", Body: strings.NewReader("hello weed-fs1!")})
	if err != nil {
		t.Fatal(err)
	}
	f, ok := cl.File(res.Fid)
	if !ok || string(f.Data) != "hello weed-fs1!" || res.FileName != "hello1.txt" || res.Size != 15 || !strings.HasSuffix(res.FileURL, "/"+res.Fid) {
		t.Fatalf("submit %+v, stored %+v", res, f)
	}
	if _, err := c.Submit(context.Background(), client.SubmitRequest{Body: strings.NewReader("x")}); err == nil {
		t.Fatal("submit without a file name succeeded")
	}
}

func TestSubmitFailoverRewindsOrRefuses(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	// This master reads the whole body, then fails.
	broken, hits := countingServer(t, http.StatusInternalServerError, `{"error":"disk on fire"}`)
	masters := broken.Listener.Addr().String() + "," + cl.MasterAddr()
	ctx := context.Background()

	// A small body is kept in memory and sent again; a large one is
	// streamed and rewound with Seek.
	for _, body := range []string{"small body", strings.Repeat("large seekable body ", 5000)} {
		c := newClient(t, masters)
		res, err := c.Submit(ctx, client.SubmitRequest{Filename: "a.txt", Body: strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		if f, _ := cl.File(res.Fid); string(f.Data) != body {
			t.Fatalf("stored %d bytes after a failover, want %d", len(f.Data), len(body))
		}
	}

	c := newClient(t, masters)
	_, err := c.Submit(ctx, client.SubmitRequest{Filename: "b.txt", Body: io.MultiReader(strings.NewReader("one-shot body"))})
	var e *client.Error
	if !errors.As(err, &e) || e.Message != "disk on fire" {
		t.Fatalf("unrewindable body: err = %v", err)
	}
	if hits.Load() != 3 || cl.Requests("/submit") != 2 {
		t.Fatalf("broken master saw %d, good one %d submits", hits.Load(), cl.Requests("/submit"))
	}
}

func TestUploadSizeMismatchAndGzipFlag(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	c := newClient(t, cl.MasterAddr())
	ctx := context.Background()
	a, err := c.Assign(ctx, client.AssignRequest{Count: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		body string
		size int64
	}{{"short", 10}, {"longer than said", 4}} {
		// io.MultiReader hides the length, so Size is all Upload knows.
		_, err := c.Upload(ctx, a.URL, a.FileID(i), client.UploadRequest{Filename: "x", Body: io.MultiReader(strings.NewReader(tc.body)), Size: tc.size})
		if err == nil {
			t.Fatalf("body of %d bytes uploaded with Size %d", len(tc.body), tc.size)
		}
	}
	if _, err := c.Upload(ctx, a.URL, a.FileID(2), client.UploadRequest{Filename: "x.gz", Body: strings.NewReader("\x1f\x8b"), Gzipped: true}); err != nil {
		t.Fatal(err)
	}
	if f, _ := cl.File(a.FileID(2)); !f.Gzipped {
		t.Fatalf("gzip hint lost: %+v", f)
	}
	if _, err := c.Upload(ctx, a.URL, a.FileID(3), client.UploadRequest{Filename: "empty.txt", Body: strings.NewReader("")}); err != nil {
		t.Fatal(err)
	}
	if f, ok := cl.File(a.FileID(3)); !ok || len(f.Data) != 0 || f.Name != "empty.txt" {
		t.Fatalf("empty file stored as %+v", f)
	}
}

func TestWithPublicURLsReadsFromPublicAddress(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	fid := put(t, newClient(t, cl.MasterAddr()), "a.txt", []byte("public"))
	public := cl.VolumeServerAddrs()[0]
	dead := deadAddr(t)
	var lookups atomic.Int64
	master := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lookups.Add(1)
		fmt.Fprintf(w, `{"volumeId":"1","locations":[{"url":%q,"publicUrl":%q}]}`, dead, public)
	}))
	defer master.Close()
	ctx := context.Background()

	c := newClient(t, master.Listener.Addr().String(), client.WithPublicURLs())
	o, err := c.Get(ctx, fid, client.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, o); string(got) != "public" || o.Location != public || lookups.Load() != 1 {
		t.Fatalf("read %q from %s after %d lookups", got, o.Location, lookups.Load())
	}

	internal := newClient(t, master.Listener.Addr().String())
	if _, err := internal.Get(ctx, fid, client.GetOptions{}); err == nil {
		t.Fatal("a client without WithPublicURLs read from the public address")
	}
}
