package filer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/testcluster"
)

// hello is the walk-through's hello.txt.
var hello = []byte("hello weed-fs!\nhello weed-fs, filer!\n")

// TestWalkthroughBolt follows section 五 of the walk-through on the bolt
// store: store with curl -F, get, list, delete, get again; and checks what
// weed-fs left undefined: the headers, the listing's shape, the needle
// gone from both replicas.
func TestWalkthroughBolt(t *testing.T) {
	cl := startCluster(t)
	f := cl.startFiler(testcluster.FilerOptions{})

	// 1. curl -F "filename=@hello.txt" http://localhost:8888/foo/
	r := postFiles(t, f.URL("/foo/"), testcluster.FormFile{Name: "hello.txt", ContentType: "text/plain", Data: hello})
	requireWritten(t, r, "hello.txt", len(hello))

	// 2. curl http://localhost:8888/foo/hello.txt, with the headers of SPEC §4.
	r = get(t, f.URL("/foo/hello.txt"))
	requireBytes(t, "GET /foo/hello.txt", r, hello)
	for _, h := range []string{"Content-Type", "Content-Length", "Etag", "Last-Modified", "Accept-Ranges", "Content-Disposition"} {
		if r.Header.Get(h) == "" {
			t.Errorf("GET /foo/hello.txt: no %s header; headers %v", h, r.Header)
		}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	if cl := r.Header.Get("Content-Length"); cl != strconv.Itoa(len(hello)) {
		t.Errorf("Content-Length %q, want %d", cl, len(hello))
	}
	if ar := r.Header.Get("Accept-Ranges"); ar != "bytes" {
		t.Errorf("Accept-Ranges %q, want bytes", ar)
	}
	if cd := r.Header.Get("Content-Disposition"); !strings.Contains(cd, `filename="hello.txt"`) {
		t.Errorf("Content-Disposition %q does not name hello.txt", cd)
	}
	if _, err := http.ParseTime(r.Header.Get("Last-Modified")); err != nil {
		t.Errorf("Last-Modified %q: %v", r.Header.Get("Last-Modified"), err)
	}
	etag := r.Header.Get("Etag")
	if r2 := testcluster.Do(t, testcluster.Plain, http.MethodGet, f.URL("/foo/hello.txt"), nil, map[string]string{"If-None-Match": etag}); r2.Status != http.StatusNotModified {
		t.Errorf("GET with If-None-Match %s: %v, want 304", etag, r2)
	}

	// 3. curl "http://localhost:8888/foo/?pretty=y": the listing's shape.
	r = get(t, f.URL("/foo/?pretty=y"))
	if r.Status != http.StatusOK {
		t.Fatalf("list /foo/: %v", r)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		t.Fatalf("list /foo/: %q: %v", r.Body, err)
	}
	for _, k := range []string{"Directory", "Files", "Subdirectories", "LastFileName", "ShouldDisplayLoadMore"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("listing has no %q field: %s", k, r.Body)
		}
	}
	l := list(t, f.URL("/foo/?pretty=y"))
	hf, ok := l.file("hello.txt")
	if l.Directory != "/foo/" || len(l.Files) != 1 || !ok || hf.Fid == "" || len(l.Subdirectories) != 0 ||
		l.LastFileName != "hello.txt" || l.ShouldDisplayLoadMore {
		t.Fatalf("listing of /foo/: %+v", l)
	}
	var rawFile []map[string]json.RawMessage
	if err := json.Unmarshal(raw["Files"], &rawFile); err != nil || len(rawFile) != 1 {
		t.Fatalf("Files of the listing: %s: %v", raw["Files"], err)
	}
	for _, k := range []string{"name", "fid"} {
		if _, ok := rawFile[0][k]; !ok {
			t.Errorf("listed file has no %q field: %s", k, raw["Files"])
		}
	}
	// The same listing for Accept: application/json, and the root lists foo.
	r = testcluster.Do(t, testcluster.Plain, http.MethodGet, f.URL("/foo/"), nil, map[string]string{"Accept": "application/json"})
	var lj listing
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &lj) != nil || !reflect.DeepEqual(lj, l) {
		t.Errorf("listing with Accept: application/json: %v, want %+v", r, l)
	}
	if root := list(t, f.URL("/")); !reflect.DeepEqual(root.Subdirectories, []string{"foo"}) {
		t.Errorf("root listing: %+v, want Subdirectories [foo]", root)
	}
	// A browser gets an HTML page of the same listing.
	r = testcluster.Do(t, testcluster.Plain, http.MethodGet, f.URL("/foo/"), nil, map[string]string{
		"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
	})
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(r.Body), "<html") || !strings.Contains(string(r.Body), "hello.txt") ||
		!strings.Contains(string(r.Body), hf.Fid) {
		t.Errorf("HTML listing: %v, Content-Type %q", r, r.Header.Get("Content-Type"))
	}

	// The needle is on two volume servers, one per data center.
	holders := cl.holders(hf.Fid)
	if len(holders) != copies {
		t.Fatalf("needle %s is on %v, want %d replicas", hf.Fid, holders, copies)
	}

	// 4. curl -X DELETE http://localhost:8888/foo/hello.txt → {} (weed-fs: {"error":""}).
	requireDeleted(t, del(t, f.URL("/foo/hello.txt")))
	if r := get(t, f.URL("/foo/hello.txt")); r.Status != http.StatusNotFound {
		t.Errorf("GET after delete: %v, want 404", r)
	}
	if l := list(t, f.URL("/foo/")); len(l.Files) != 0 {
		t.Errorf("listing after delete: %+v", l)
	}
	cl.requireGone(hf.Fid, holders)
	if r := del(t, f.URL("/foo/hello.txt")); r.Status != http.StatusNotFound {
		t.Errorf("second DELETE: %v, want 404", r)
	}
}

// TestRestartBoltFiler stops and restarts a bolt filer on the same -dir, then
// kills it with -9 and restarts it: its files are found every time.
func TestRestartBoltFiler(t *testing.T) {
	cl := startCluster(t)
	f := cl.startFiler(testcluster.FilerOptions{})
	files := map[string][]byte{
		"/keep/a.txt":         []byte("first file\n"),
		"/keep/deep/er/b.bin": {0, 1, 2, 3, 255, 254, 0},
		"/top.txt":            []byte("at the root\n"),
	}
	for p, data := range files {
		requireWritten(t, put(t, f.URL(p), data), p[strings.LastIndexByte(p, '/')+1:], len(data))
	}
	check := func(when string) {
		t.Helper()
		for p, data := range files {
			requireBytes(t, when+": GET "+p, get(t, f.URL(p)), data)
		}
		if l := list(t, f.URL("/keep/")); !reflect.DeepEqual(l.fileNames(), []string{"a.txt"}) ||
			!reflect.DeepEqual(l.Subdirectories, []string{"deep"}) {
			t.Fatalf("%s: listing of /keep/: %+v", when, l)
		}
	}

	f.Stop()
	if code := f.ExitCode(); code != 0 {
		t.Errorf("filer exited with %d on SIGTERM, want 0", code)
	}
	f.Start()
	check("after a clean restart")

	// A file written just before kill -9 is there too: a 201 means the
	// entry is on disk.
	late := []byte("written right before kill -9\n")
	requireWritten(t, put(t, f.URL("/keep/late.txt"), late), "late.txt", len(late))
	files["/keep/late.txt"] = late
	f.Kill()
	start := time.Now()
	f.Start()
	t.Logf("filer restarted after kill -9 in %v", time.Since(start).Round(time.Millisecond))
	for p, data := range files {
		requireBytes(t, "after kill -9: GET "+p, get(t, f.URL(p)), data)
	}
	if l := list(t, f.URL("/keep/")); !reflect.DeepEqual(l.fileNames(), []string{"a.txt", "late.txt"}) {
		t.Fatalf("after kill -9: listing of /keep/: %+v", l)
	}
}

// TestFilerReadsAndOverwrites checks what curl users meet next: several
// files in one multipart POST, HEAD, Range and gzip on a one-needle file,
// and an overwrite, which serves the new bytes and deletes the old needle.
func TestFilerReadsAndOverwrites(t *testing.T) {
	cl := startCluster(t)
	f := cl.startFiler(testcluster.FilerOptions{})

	text := []byte(strings.Repeat("compressible text, compressible text\n", 200))
	bin := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	r := postFiles(t, f.URL("/multi/"),
		testcluster.FormFile{Name: "a.txt", ContentType: "text/plain", Data: text},
		testcluster.FormFile{Name: "b.bin", ContentType: "application/octet-stream", Data: bin})
	var replies []writeReply
	if r.Status != http.StatusCreated || json.Unmarshal(r.Body, &replies) != nil ||
		!reflect.DeepEqual(replies, []writeReply{{"a.txt", int64(len(text))}, {"b.bin", int64(len(bin))}}) {
		t.Fatalf("POST of two files: %v, want 201 with one reply per file", r)
	}
	if l := list(t, f.URL("/multi/")); !reflect.DeepEqual(l.fileNames(), []string{"a.txt", "b.bin"}) {
		t.Fatalf("listing: %+v", l)
	}

	// HEAD: the headers of GET, no body.
	r = testcluster.Do(t, testcluster.Plain, http.MethodHead, f.URL("/multi/a.txt"), nil, nil)
	if r.Status != http.StatusOK || len(r.Body) != 0 || r.Header.Get("Content-Length") != strconv.Itoa(len(text)) ||
		r.Header.Get("Etag") == "" {
		t.Errorf("HEAD /multi/a.txt: %v, headers %v", r, r.Header)
	}
	// Range of a one-needle file.
	r = testcluster.Do(t, testcluster.Plain, http.MethodGet, f.URL("/multi/a.txt"), nil, map[string]string{"Range": "bytes=10-19"})
	if r.Status != http.StatusPartialContent || string(r.Body) != string(text[10:20]) ||
		r.Header.Get("Content-Range") != fmt.Sprintf("bytes 10-19/%d", len(text)) {
		t.Errorf("Range bytes=10-19: %v, Content-Range %q", r, r.Header.Get("Content-Range"))
	}
	if r := testcluster.Do(t, testcluster.Plain, http.MethodGet, f.URL("/multi/b.bin"), nil, map[string]string{"Range": "bytes=100-"}); r.Status != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("Range past the end: %v, want 416", r)
	}
	// A client accepting gzip may get the stored gzip bytes; they inflate
	// to the file.
	r = testcluster.Do(t, testcluster.Plain, http.MethodGet, f.URL("/multi/a.txt"), nil, map[string]string{"Accept-Encoding": "gzip"})
	body := r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(r.Body))
		if err != nil {
			t.Fatalf("gzip reply: %v", err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			t.Fatalf("gzip reply: %v", err)
		}
	}
	requireBytes(t, "GET with Accept-Encoding: gzip", testcluster.Reply{Status: r.Status, Body: body}, text)

	// Overwrite: the new bytes are served, the old needle is deleted.
	old, _ := list(t, f.URL("/multi/")).file("b.bin")
	oldHolders := cl.holders(old.Fid)
	newer := []byte("the second version of b.bin")
	requireWritten(t, put(t, f.URL("/multi/b.bin"), newer), "b.bin", len(newer))
	requireBytes(t, "GET after overwrite", get(t, f.URL("/multi/b.bin")), newer)
	cur, _ := list(t, f.URL("/multi/")).file("b.bin")
	if cur.Fid == old.Fid || cur.Size != int64(len(newer)) {
		t.Errorf("after overwrite the listing shows %+v, was %+v", cur, old)
	}
	cl.requireGone(old.Fid, oldHolders)

	// A file and a directory cannot share a path.
	if r := put(t, f.URL("/multi/b.bin/inside.txt"), bin); r.Status != http.StatusConflict {
		t.Errorf("PUT under a file: %v, want 409", r)
	}
	if r := put(t, f.URL("/multi"), bin); r.Status != http.StatusConflict {
		t.Errorf("PUT over a directory: %v, want 409", r)
	}
	if c := cl.counts(); c.Live != 2*copies {
		t.Errorf("volume servers hold %d live needles, want %d", c.Live, 2*copies)
	}
}
