package filer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/client/clienttest"
	"github.com/weedfs/weed/filer"
	"github.com/weedfs/weed/internal/redistest"
)

// testTimeout bounds every request a test sends.
const testTimeout = 30 * time.Second

// startCluster starts a fake master and volume servers, closed at cleanup.
func startCluster(t testing.TB, opts clienttest.Options) *clienttest.Cluster {
	t.Helper()
	c, err := clienttest.Start(opts)
	if err != nil {
		t.Fatalf("clienttest.Start: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// testFiler is a filer server serving on 127.0.0.1.
type testFiler struct {
	t    testing.TB
	srv  *filer.Server
	url  string // "http://127.0.0.1:port"
	done chan error
	stop bool
}

// startFiler starts a filer server over the master with opts (Master is
// filled in, and Dir when neither Dir nor RedisServer is set). It is shut
// down at cleanup unless the test shut it down first.
func startFiler(t testing.TB, master string, opts filer.FilerOptions) *testFiler {
	t.Helper()
	opts.Master = master
	if opts.Dir == "" && opts.RedisServer == "" {
		opts.Dir = t.TempDir()
	}
	opts.IP = "127.0.0.1"
	srv, err := filer.NewServer(opts)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	tf := &testFiler{t: t, srv: srv, url: "http://" + ln.Addr().String(), done: make(chan error, 1)}
	go func() { tf.done <- srv.Serve(ln) }()
	t.Cleanup(func() { tf.shutdown() })
	return tf
}

// shutdown stops the server (once) and checks that Serve returned nil.
func (tf *testFiler) shutdown() {
	if tf.stop {
		return
	}
	tf.stop = true
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := tf.srv.Shutdown(ctx); err != nil {
		tf.t.Errorf("Shutdown: %v", err)
	}
	if err := <-tf.done; err != nil {
		tf.t.Errorf("Serve: %v", err)
	}
}

// reply is a response read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) String() string {
	b := r.body
	if len(b) > 300 {
		b = b[:300]
	}
	return fmt.Sprintf("%d %q", r.status, b)
}

// do sends a request to the filer and reads the whole reply.
func (tf *testFiler) do(method, path string, body io.Reader, header map[string]string) reply {
	tf.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, tf.url+path, body)
	if err != nil {
		tf.t.Fatalf("%s %s: %v", method, path, err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		tf.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tf.t.Fatalf("%s %s: reading reply: %v", method, path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func (tf *testFiler) get(path string, header map[string]string) reply {
	tf.t.Helper()
	return tf.do(http.MethodGet, path, nil, header)
}

// filePart is one file of a multipart upload.
type filePart struct {
	field, name string
	data        []byte
	header      map[string]string
}

// multipartBody encodes parts as a multipart/form-data body.
func multipartBody(t testing.TB, parts ...filePart) (contentType string, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		field := p.field
		if field == "" {
			field = "file"
		}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, field, p.name))
		h.Set("Content-Type", "application/octet-stream")
		for k, v := range p.header {
			h.Set(k, v)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatalf("CreatePart: %v", err)
		}
		if _, err := w.Write(p.data); err != nil {
			t.Fatalf("write part: %v", err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatalf("multipart close: %v", err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}

// postFiles sends parts as a multipart POST to path.
func (tf *testFiler) postFiles(path string, parts ...filePart) reply {
	tf.t.Helper()
	ct, body := multipartBody(tf.t, parts...)
	return tf.do(http.MethodPost, path, bytes.NewReader(body), map[string]string{"Content-Type": ct})
}

// put stores data at path with a raw PUT.
func (tf *testFiler) put(path string, data []byte) reply {
	tf.t.Helper()
	return tf.do(http.MethodPut, path, bytes.NewReader(data), nil)
}

// mustStatus fails the test unless r has the status.
func mustStatus(t testing.TB, what string, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: got %v, want status %d", what, r, status)
	}
}

// listing is the JSON listing as a client decodes it.
type listing struct {
	Directory string
	Files     []struct {
		Name  string `json:"name"`
		Fid   string `json:"fid"`
		Size  uint64 `json:"size"`
		Mtime string `json:"mtime"`
	}
	Subdirectories        []string
	LastFileName          string
	ShouldDisplayLoadMore bool
}

func (tf *testFiler) list(path string) listing {
	tf.t.Helper()
	r := tf.get(path, map[string]string{"Accept": "application/json"})
	mustStatus(tf.t, "GET "+path, r, http.StatusOK)
	var l listing
	if err := json.Unmarshal(r.body, &l); err != nil {
		tf.t.Fatalf("GET %s: %v in %s", path, err, r)
	}
	return l
}

// findEntry returns the entry at p, failing the test if it is missing.
func (tf *testFiler) findEntry(p string) *filer.Entry {
	tf.t.Helper()
	e, err := tf.srv.Filer().Find(context.Background(), p)
	if err != nil {
		tf.t.Fatalf("Find(%s): %v", p, err)
	}
	return e
}

const hello = "hello weed-fs!\nthis line makes 39 bytes"

// TestWalkthrough runs the filer steps of the walk-through (section 五):
// store, get, list, delete, get again.
func TestWalkthrough(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{DefaultReplication: "000"})

	// curl -F "filename=@hello.txt" "http://localhost:8888/foo/"
	r := tf.postFiles("/foo/", filePart{field: "filename", name: "hello.txt", data: []byte(hello)})
	mustStatus(t, "POST /foo/", r, http.StatusCreated)
	if got := strings.TrimSpace(string(r.body)); got != `{"name":"hello.txt","size":39}` {
		t.Fatalf("POST reply = %s", got)
	}

	// curl http://localhost:8888/foo/hello.txt
	r = tf.get("/foo/hello.txt", nil)
	mustStatus(t, "GET", r, http.StatusOK)
	if string(r.body) != hello {
		t.Fatalf("GET body = %q", r.body)
	}
	for k, want := range map[string]string{
		"Content-Type":        "text/plain; charset=utf-8",
		"Content-Length":      "39",
		"Accept-Ranges":       "bytes",
		"Content-Disposition": `inline; filename="hello.txt"`,
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("GET %s = %q, want %q", k, got, want)
		}
	}
	if r.header.Get("Etag") == "" || r.header.Get("Last-Modified") == "" {
		t.Errorf("GET headers lack Etag or Last-Modified: %v", r.header)
	}

	// curl "http://localhost:8888/foo/?pretty=y"
	r = tf.get("/foo/?pretty=y", nil)
	mustStatus(t, "GET /foo/?pretty=y", r, http.StatusOK)
	if !bytes.Contains(r.body, []byte("\n  \"Directory\": \"/foo/\",\n")) {
		t.Errorf("pretty listing is not indented: %s", r.body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatalf("listing: %v", err)
	}
	for _, k := range []string{"Directory", "Files", "Subdirectories", "LastFileName", "ShouldDisplayLoadMore"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("listing has no %q: %s", k, r.body)
		}
	}
	if string(raw["Subdirectories"]) != "null" {
		t.Errorf("Subdirectories = %s, want null", raw["Subdirectories"])
	}
	l := tf.list("/foo/")
	if l.Directory != "/foo/" || len(l.Files) != 1 || l.Files[0].Name != "hello.txt" || l.Files[0].Size != 39 ||
		l.LastFileName != "hello.txt" || l.ShouldDisplayLoadMore {
		t.Fatalf("listing = %+v", l)
	}
	fid := l.Files[0].Fid
	if f, ok := cluster.File(fid); !ok || string(f.Data) != hello || f.Name != "hello.txt" {
		t.Fatalf("needle %s = %+v, %v", fid, f, ok)
	}
	if _, err := time.Parse(time.RFC3339, l.Files[0].Mtime); err != nil {
		t.Errorf("mtime %q: %v", l.Files[0].Mtime, err)
	}

	// curl -X DELETE http://localhost:8888/foo/hello.txt
	r = tf.do(http.MethodDelete, "/foo/hello.txt", nil, nil)
	mustStatus(t, "DELETE", r, http.StatusAccepted)
	if got := strings.TrimSpace(string(r.body)); got != "{}" {
		t.Errorf("DELETE reply = %s, want {}", got)
	}
	r = tf.get("/foo/hello.txt", nil)
	mustStatus(t, "GET after DELETE", r, http.StatusNotFound)
	if len(r.body) != 0 {
		t.Errorf("GET after DELETE body = %q, want empty", r.body)
	}
	if _, ok := cluster.File(fid); ok {
		t.Errorf("needle %s still stored after DELETE", fid)
	}
	mustStatus(t, "DELETE again", tf.do(http.MethodDelete, "/foo/hello.txt", nil, nil), http.StatusNotFound)
}

// TestRootListing is the readiness probe: the root of an empty filer lists.
func TestRootListing(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{})
	r := tf.get("/?pretty=y", nil)
	mustStatus(t, "GET /?pretty=y", r, http.StatusOK)
	var l listing
	if err := json.Unmarshal(r.body, &l); err != nil || l.Directory != "/" || len(l.Files) != 0 || l.ShouldDisplayLoadMore {
		t.Fatalf("root listing = %+v, %v", l, err)
	}
	mustStatus(t, "HEAD /", tf.do(http.MethodHead, "/", nil, nil), http.StatusOK)
	r = tf.get("/nowhere/?pretty=y", nil)
	mustStatus(t, "GET missing dir", r, http.StatusNotFound)
	if !bytes.Contains(r.body, []byte(`"error"`)) {
		t.Errorf("missing dir body = %s, want a JSON error", r.body)
	}
}

// TestWriteFullPath writes with PUT and POST to full paths: parents are
// created, the reply names the file.
func TestWriteFullPath(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{})

	r := tf.put("/a/b/c/raw.bin", []byte("raw bytes"))
	mustStatus(t, "PUT raw", r, http.StatusCreated)
	if got := strings.TrimSpace(string(r.body)); got != `{"name":"raw.bin","size":9}` {
		t.Errorf("PUT reply = %s", got)
	}
	r = tf.postFiles("/a/b/named.txt", filePart{name: "other-name.txt", data: []byte("multipart to a path")})
	mustStatus(t, "POST multipart to a path", r, http.StatusCreated)
	if got := strings.TrimSpace(string(r.body)); got != `{"name":"named.txt","size":19}` {
		t.Errorf("POST reply = %s", got)
	}
	if r := tf.get("/a/b/named.txt", nil); r.status != http.StatusOK || string(r.body) != "multipart to a path" {
		t.Fatalf("GET named.txt = %v", r)
	}
	if r := tf.get("/a/b/c/raw.bin", nil); r.status != http.StatusOK || string(r.body) != "raw bytes" {
		t.Fatalf("GET raw.bin = %v", r)
	}
	for dir, want := range map[string][]string{"/": {"a"}, "/a/": {"b"}, "/a/b/": {"c"}} {
		l := tf.list(dir)
		if fmt.Sprint(l.Subdirectories) != fmt.Sprint(want) {
			t.Errorf("%s subdirectories = %v, want %v", dir, l.Subdirectories, want)
		}
	}
	if l := tf.list("/a/b"); len(l.Files) != 1 || l.Files[0].Name != "named.txt" || l.Directory != "/a/b/" {
		t.Errorf("listing /a/b (no slash) = %+v", l)
	}
	if e := tf.findEntry("/a/b/c"); !e.IsDirectory {
		t.Errorf("/a/b/c = %+v, want a directory", e)
	}

	// Several files in one POST: an array.
	r = tf.postFiles("/multi/", filePart{name: "one.txt", data: []byte("1")}, filePart{field: "second", name: "two.txt", data: []byte("22")})
	mustStatus(t, "POST two files", r, http.StatusCreated)
	if got := strings.TrimSpace(string(r.body)); got != `[{"name":"one.txt","size":1},{"name":"two.txt","size":2}]` {
		t.Errorf("POST two files reply = %s", got)
	}
	// Query parameters are checked.
	mustStatus(t, "bad replication", tf.do(http.MethodPut, "/p/x?replication=9z", strings.NewReader("x"), nil), http.StatusBadRequest)
	mustStatus(t, "bad ttl", tf.do(http.MethodPut, "/p/x?ttl=forever", strings.NewReader("x"), nil), http.StatusBadRequest)
	mustStatus(t, "bad collection", tf.do(http.MethodPut, "/p/x?collection=a/b", strings.NewReader("x"), nil), http.StatusBadRequest)
	r = tf.do(http.MethodPut, "/p/ttl.txt?ttl=3m&collection=pics&replication=001", strings.NewReader("x"), nil)
	mustStatus(t, "PUT with params", r, http.StatusCreated)
	e := tf.findEntry("/p/ttl.txt")
	if e.TTL != "3m" || e.Collection != "pics" || e.Replication != "001" {
		t.Errorf("entry params = %q %q %q", e.TTL, e.Collection, e.Replication)
	}
	if f, ok := cluster.File(e.Fid()); !ok || f.TTL != "3m" {
		t.Errorf("needle ttl = %+v", f)
	}
	// Empty files have no needle and read back empty.
	mustStatus(t, "PUT empty", tf.put("/p/empty", nil), http.StatusCreated)
	if r := tf.get("/p/empty", nil); r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("Content-Length") != "0" {
		t.Errorf("GET empty = %v %v", r, r.header)
	}
	mustStatus(t, "no file part", tf.do(http.MethodPost, "/p/", strings.NewReader("--x--\r\n"), map[string]string{"Content-Type": "multipart/form-data; boundary=x"}), http.StatusBadRequest)
	mustStatus(t, "raw body to a directory", tf.do(http.MethodPost, "/p/", strings.NewReader("x"), nil), http.StatusBadRequest)
}

// TestReplaceDeletesOldNeedles overwrites a file: the new bytes are served
// and the old needle is gone.
func TestReplaceDeletesOldNeedles(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{})
	mustStatus(t, "first write", tf.put("/r/file.txt", []byte("version one")), http.StatusCreated)
	oldFid := tf.findEntry("/r/file.txt").Fid()
	mustStatus(t, "second write", tf.postFiles("/r/", filePart{name: "file.txt", data: []byte("version two")}), http.StatusCreated)
	newFid := tf.findEntry("/r/file.txt").Fid()
	if newFid == oldFid {
		t.Fatalf("replace kept fid %s", oldFid)
	}
	if _, ok := cluster.File(oldFid); ok {
		t.Errorf("old needle %s still stored", oldFid)
	}
	if r := tf.get("/r/file.txt", nil); string(r.body) != "version two" {
		t.Errorf("GET after replace = %v", r)
	}
	if n := cluster.FileCount(); n != 1 {
		t.Errorf("cluster holds %d needles, want 1", n)
	}
}

// TestConflicts refuses a file where a directory is and the reverse.
func TestConflicts(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{})
	mustStatus(t, "setup", tf.put("/d/f", []byte("file")), http.StatusCreated)
	mustStatus(t, "file over a directory", tf.put("/d", []byte("x")), http.StatusConflict)
	mustStatus(t, "multipart file over a directory", tf.postFiles("/", filePart{name: "d", data: []byte("x")}), http.StatusConflict)
	mustStatus(t, "file under a file", tf.put("/d/f/g", []byte("x")), http.StatusConflict)
	mustStatus(t, "multipart into a file", tf.postFiles("/d/f/", filePart{name: "g", data: []byte("x")}), http.StatusConflict)
	mustStatus(t, "list a file", tf.get("/d/f/?pretty=y", nil), http.StatusConflict)
	mustStatus(t, "write the root", tf.put("/", []byte("x")), http.StatusBadRequest)
	if n := cluster.FileCount(); n != 1 {
		t.Errorf("cluster holds %d needles after refused writes, want 1", n)
	}
}

// TestBadPaths refuses traversal, empty segments, NUL and long names with
// 400, writing nothing.
func TestBadPaths(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{})
	long := strings.Repeat("n", filer.MaxNameLen+1)
	for _, p := range []string{"/a/../b", "/..", "/a/./b", "//a", "/a//b", "/a%00b", "/" + long, "/a/%2e%2e/b", "/x%0a"} {
		mustStatus(t, "PUT "+p, tf.put(p, []byte("x")), http.StatusBadRequest)
		mustStatus(t, "GET "+p, tf.get(p, nil), http.StatusBadRequest)
		mustStatus(t, "DELETE "+p, tf.do(http.MethodDelete, p, nil, nil), http.StatusBadRequest)
	}
	for _, name := range []string{"../escape", "..", ".", "a/b", "/abs", long, "nul\x00name", "tab\tname"} {
		r := tf.postFiles("/up/", filePart{name: name, data: []byte("x")})
		mustStatus(t, fmt.Sprintf("POST file name %q", name), r, http.StatusBadRequest)
	}
	// A bad name after a good one: nothing of the request is kept.
	r := tf.postFiles("/up/", filePart{name: "good.txt", data: []byte("x")}, filePart{name: "../bad", data: []byte("y")})
	mustStatus(t, "good then bad", r, http.StatusBadRequest)
	if n := cluster.FileCount(); n != 0 {
		t.Errorf("cluster holds %d needles after refused writes", n)
	}
	if l := tf.list("/"); len(l.Files)+len(l.Subdirectories) != 0 {
		t.Errorf("root lists %+v after refused writes", l)
	}
}

// TestFailedWritesCleanUp stores nothing when the assign fails or the body
// is cut midway through a chunked upload.
func TestFailedWritesCleanUp(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{MaxMB: 1})

	cluster.FailAssign(http.StatusNotAcceptable, "Cannot grow volume group! Not enough data node found!")
	r := tf.put("/f/x.txt", []byte("x"))
	if r.status != http.StatusInternalServerError || !bytes.Contains(r.body, []byte("Cannot grow volume group")) {
		t.Errorf("PUT with failing assign = %v", r)
	}
	cluster.FailAssign(0, "")

	// A multipart body that ends inside its 3 MiB part, after two chunks
	// were stored.
	ct, body := multipartBody(t, filePart{name: "cut.bin", data: bytes.Repeat([]byte("z"), 3<<20)})
	body = body[:len(body)-(512<<10)]
	assigns := cluster.Requests("/dir/assign")
	r = tf.do(http.MethodPost, "/f/", bytes.NewReader(body), map[string]string{"Content-Type": ct})
	mustStatus(t, "cut multipart", r, http.StatusBadRequest)
	if n := cluster.Requests("/dir/assign") - assigns; n < 2 {
		t.Errorf("the cut upload stored %d chunks before failing, want 2", n)
	}

	// A gzip part larger than a chunk cannot be chunked.
	r = tf.postFiles("/f/", filePart{name: "big.gz", data: bytes.Repeat([]byte("g"), 1<<20+1), header: map[string]string{"Content-Encoding": "gzip"}})
	mustStatus(t, "big gzip part", r, http.StatusBadRequest)

	if n := cluster.FileCount(); n != 0 {
		t.Errorf("cluster holds %d needles after failed writes", n)
	}
	if _, err := tf.srv.Filer().Find(context.Background(), "/f/cut.bin"); err == nil {
		t.Errorf("entry of a failed write exists")
	}
}

// TestRecursiveDelete removes a tree, children first, and every needle in
// it; a non-empty directory is not removed without recursive.
func TestRecursiveDelete(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{})
	for _, p := range []string{"/t/x.txt", "/t/a/y.txt", "/t/a/b/c.txt", "/t/a/b/d/e.txt", "/keep/k.txt"} {
		mustStatus(t, "PUT "+p, tf.put(p, []byte(p)), http.StatusCreated)
	}
	for i := 0; i < 150; i++ { // more than one listing page
		mustStatus(t, "PUT", tf.put(fmt.Sprintf("/t/a/many/%03d", i), []byte("m")), http.StatusCreated)
	}
	mustStatus(t, "DELETE non-empty", tf.do(http.MethodDelete, "/t/", nil, nil), http.StatusConflict)
	mustStatus(t, "DELETE non-empty, no slash", tf.do(http.MethodDelete, "/t", nil, nil), http.StatusConflict)
	r := tf.do(http.MethodDelete, "/t/?recursive=true", nil, nil)
	mustStatus(t, "DELETE recursive", r, http.StatusAccepted)
	mustStatus(t, "GET deleted dir", tf.get("/t/?pretty=y", nil), http.StatusNotFound)
	mustStatus(t, "GET deleted file", tf.get("/t/a/b/c.txt", nil), http.StatusNotFound)
	if n := cluster.FileCount(); n != 1 {
		t.Errorf("cluster holds %d needles, want 1 (/keep/k.txt)", n)
	}
	if l := tf.list("/"); fmt.Sprint(l.Subdirectories) != "[keep]" {
		t.Errorf("root subdirectories = %v", l.Subdirectories)
	}
	mustStatus(t, "mkdir then delete empty", tf.put("/e/f", []byte("x")), http.StatusCreated)
	mustStatus(t, "delete file", tf.do(http.MethodDelete, "/e/f", nil, nil), http.StatusAccepted)
	mustStatus(t, "delete empty dir", tf.do(http.MethodDelete, "/e/", nil, nil), http.StatusAccepted)
	mustStatus(t, "DELETE missing", tf.do(http.MethodDelete, "/nope?recursive=true", nil, nil), http.StatusNotFound)
	mustStatus(t, "DELETE / without recursive", tf.do(http.MethodDelete, "/", nil, nil), http.StatusConflict)
	mustStatus(t, "DELETE / recursive", tf.do(http.MethodDelete, "/?recursive=true", nil, nil), http.StatusAccepted)
	if n := cluster.FileCount(); n != 0 {
		t.Errorf("cluster holds %d needles after emptying the root", n)
	}
	mustStatus(t, "root still lists", tf.get("/?pretty=y", nil), http.StatusOK)
}

// TestRestartBolt finds the files of a bolt filer after a restart over the
// same directory.
func TestRestartBolt(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	dir := t.TempDir()
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{Dir: dir})
	mustStatus(t, "PUT", tf.put("/keep/me.txt", []byte("persistent")), http.StatusCreated)
	tf.shutdown()

	tf = startFiler(t, cluster.MasterAddr(), filer.FilerOptions{Dir: dir})
	if r := tf.get("/keep/me.txt", nil); r.status != http.StatusOK || string(r.body) != "persistent" {
		t.Fatalf("GET after restart = %v", r)
	}
	if l := tf.list("/keep/"); len(l.Files) != 1 || l.Files[0].Name != "me.txt" {
		t.Fatalf("listing after restart = %+v", l)
	}
}

// TestShutdownDrains lets an upload in flight finish before the store is
// closed.
func TestShutdownDrains(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{MaxMB: 1})
	pr, pw := io.Pipe()
	replies := make(chan reply, 1)
	go func() {
		replies <- tf.do(http.MethodPut, "/slow.bin", pr, nil)
	}()
	// Once the first chunk has been assigned, the request is in flight.
	if _, err := pw.Write(make([]byte, 1<<20+1)); err != nil {
		t.Fatalf("write body: %v", err)
	}
	for i := 0; cluster.Requests("/dir/assign") == 0; i++ {
		if i == 3000 {
			t.Fatal("the upload never reached the cluster")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopped := make(chan struct{})
	go func() {
		tf.shutdown()
		close(stopped)
	}()
	if _, err := pw.Write([]byte("tail")); err != nil {
		t.Fatalf("write body: %v", err)
	}
	_ = pw.Close()
	r := <-replies
	mustStatus(t, "PUT during shutdown", r, http.StatusCreated)
	<-stopped
}

// TestTwoFilersOneRedis shares one namespace between two filers on one
// redis-server: written on A, read, listed and deleted on B without error
// (weed-fs 0.70 answered {"error":"Invalid fileId "} here).
func TestTwoFilersOneRedis(t *testing.T) {
	addr := redistest.Start(t)
	cluster := startCluster(t, clienttest.Options{})
	a := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{RedisServer: addr, DefaultReplication: "000"})
	b := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{RedisServer: addr, DefaultReplication: "000"})

	mustStatus(t, "POST on A", a.postFiles("/foo/", filePart{field: "filename", name: "hello.txt", data: []byte(hello)}), http.StatusCreated)
	if r := b.get("/foo/hello.txt", nil); r.status != http.StatusOK || string(r.body) != hello {
		t.Fatalf("GET on B = %v", r)
	}
	l := b.list("/foo/")
	if len(l.Files) != 1 || l.Files[0].Name != "hello.txt" {
		t.Fatalf("listing on B = %+v", l)
	}
	if l := b.list("/"); fmt.Sprint(l.Subdirectories) != "[foo]" {
		t.Errorf("root on B = %+v", l)
	}
	r := b.do(http.MethodDelete, "/foo/hello.txt", nil, nil)
	mustStatus(t, "DELETE on B", r, http.StatusAccepted)
	if got := strings.TrimSpace(string(r.body)); got != "{}" {
		t.Errorf("DELETE on B = %s", got)
	}
	mustStatus(t, "GET on A after DELETE on B", a.get("/foo/hello.txt", nil), http.StatusNotFound)
	if _, ok := cluster.File(l.Files[0].Fid); ok {
		t.Errorf("needle %s still stored", l.Files[0].Fid)
	}

	// Both write into one directory at once; each sees all files.
	done := make(chan reply, 40)
	for i := 0; i < 20; i++ {
		go func() { done <- a.doQuiet(http.MethodPut, fmt.Sprintf("/shared/a%02d", i), "A") }()
		go func() { done <- b.doQuiet(http.MethodPut, fmt.Sprintf("/shared/b%02d", i), "B") }()
	}
	for i := 0; i < 40; i++ {
		if r := <-done; r.status != http.StatusCreated {
			t.Errorf("concurrent PUT: %v", r)
		}
	}
	if la, lb := a.list("/shared/"), b.list("/shared/"); len(la.Files) != 40 || fmt.Sprint(la) != fmt.Sprint(lb) {
		t.Errorf("A lists %d files, B %d", len(la.Files), len(lb.Files))
	}
	mustStatus(t, "recursive DELETE on A", a.do(http.MethodDelete, "/shared/?recursive=true", nil, nil), http.StatusAccepted)
	mustStatus(t, "GET on B", b.get("/shared/b00", nil), http.StatusNotFound)
}

// doQuiet sends a request with a string body from any goroutine; failures
// come back as status 0.
func (tf *testFiler) doQuiet(method, path, body string) reply {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, tf.url+path, strings.NewReader(body))
	if err != nil {
		return reply{body: []byte(err.Error())}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}
