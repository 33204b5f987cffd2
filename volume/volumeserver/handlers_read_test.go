package volumeserver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/needle"
)

func TestReadHeaders(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 6, "")
	data := []byte("hello weed-fs!\n")
	mtime := time.Date(2015, 8, 20, 8, 13, 28, 0, time.UTC)
	body, ct := multipartBody(t, "file", `say "hi".txt`, "text/plain", data, nil)
	up := do(t, http.MethodPost, ts.url+fmt.Sprintf("/6,01fc4a422c?ts=%d", mtime.Unix()), body, map[string]string{"Content-Type": ct})
	if up.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", up.status, up.body)
	}
	etag := `"` + needle.Etag(needle.DataChecksum(data)) + `"`
	want := map[string]string{
		"Content-Type":        "text/plain",
		"Content-Length":      "15",
		"Etag":                etag,
		"Last-Modified":       "Thu, 20 Aug 2015 08:13:28 GMT",
		"Accept-Ranges":       "bytes",
		"Content-Disposition": `inline; filename="say \"hi\".txt"`,
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		r := do(t, method, ts.url+"/6,01fc4a422c", nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d", method, r.status)
		}
		for k, v := range want {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s %s = %q, want %q", method, k, got, v)
			}
		}
		wantBody := string(data)
		if method == http.MethodHead {
			wantBody = ""
		}
		if string(r.body) != wantBody {
			t.Errorf("%s body = %q, want %q", method, r.body, wantBody)
		}
		// The client package reads the name back.
		_, params, err := mime.ParseMediaType(r.header.Get("Content-Disposition"))
		if err != nil || params["filename"] != `say "hi".txt` {
			t.Errorf("Content-Disposition parses to %q, %v", params["filename"], err)
		}
	}
	if up.header.Get("Etag") != etag {
		t.Errorf("upload Etag %q, read Etag %q", up.header.Get("Etag"), etag)
	}
}

func TestReadPathForms(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 3, "")
	// Two unnamed, untyped needles: key 1 and key 3 (fid_2 of an assign).
	for _, key := range []needle.Key{1, 3} {
		r := do(t, http.MethodPost, ts.url+"/"+fidOf(3, key, 0x637037d6), strings.NewReader(fmt.Sprintf("needle %d", key)), nil)
		if r.status != http.StatusCreated {
			t.Fatalf("upload: %d %s", r.status, r.body)
		}
	}
	cases := []struct {
		path, body, ctype, disposition string
	}{
		{"/3,01637037d6", "needle 1", "application/octet-stream", ""},
		{"/3,01637037d6_2", "needle 3", "application/octet-stream", ""},
		{"/3,01637037d6.json", "needle 1", "application/json", ""},
		{"/3/01637037d6_2.html", "needle 3", "text/html; charset=utf-8", ""},
		{"/3/01637037d6/report.pdf", "needle 1", "application/pdf", `inline; filename="report.pdf"`},
	}
	for _, c := range cases {
		r := do(t, http.MethodGet, ts.url+c.path, nil, nil)
		if r.status != http.StatusOK || string(r.body) != c.body {
			t.Errorf("%s = %d %q, want %q", c.path, r.status, r.body, c.body)
			continue
		}
		if r.header.Get("Content-Type") != c.ctype || r.header.Get("Content-Disposition") != c.disposition {
			t.Errorf("%s: Content-Type %q Content-Disposition %q, want %q %q", c.path,
				r.header.Get("Content-Type"), r.header.Get("Content-Disposition"), c.ctype, c.disposition)
		}
		if r.header.Get("Last-Modified") == "" {
			t.Errorf("%s: no Last-Modified", c.path)
		}
	}
	for _, p := range []string{"/3,02637037d6", "/3,01637037d7", "/3,01637037d6_1"} {
		assertEmpty404(t, do(t, http.MethodGet, ts.url+p, nil, nil), "GET "+p)
		assertEmpty404(t, do(t, http.MethodHead, ts.url+p, nil, nil), "HEAD "+p)
	}
	for _, p := range []string{"/3,", "/3,zz637037d6", "/3/01637037d6/a/b"} { // not fid-shaped (/favicon.ico): TestNotFidPaths
		r := do(t, http.MethodGet, ts.url+p, nil, nil)
		if r.status != http.StatusBadRequest || r.json(t)["error"] == nil {
			t.Errorf("GET %s = %d %s, want 400", p, r.status, r.body)
		}
	}
	// Not fid-shaped: an unknown page, not a bad fid.
	for _, p := range []string{"/favicon.ico", "/metrics", "/x/01637037d6"} {
		if r := do(t, http.MethodGet, ts.url+p, nil, nil); r.status != http.StatusNotFound {
			t.Errorf("GET %s = %d %s, want 404", p, r.status, r.body)
		}
	}
}

func TestReadRanges(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 1, "")
	data := []byte("0123456789abcdefghij")
	fid := "1,01637037d6"
	r := do(t, http.MethodPost, ts.url+"/"+fid+"?filename=digits.bin", bytes.NewReader(data), nil)
	if r.status != http.StatusCreated {
		t.Fatal(r.status)
	}
	cases := []struct {
		rng, body, contentRange string
	}{
		{"bytes=0-3", "0123", "bytes 0-3/20"},
		{"bytes=10-", "abcdefghij", "bytes 10-19/20"},
		{"bytes=-5", "fghij", "bytes 15-19/20"},
		{"bytes=18-100", "ij", "bytes 18-19/20"},
	}
	for _, c := range cases {
		r := do(t, http.MethodGet, ts.url+"/"+fid, nil, map[string]string{"Range": c.rng})
		if r.status != http.StatusPartialContent || string(r.body) != c.body || r.header.Get("Content-Range") != c.contentRange {
			t.Errorf("Range %s = %d %q (%s), want 206 %q (%s)", c.rng, r.status, r.body, r.header.Get("Content-Range"), c.body, c.contentRange)
		}
		if r.header.Get("Etag") == "" || r.header.Get("Content-Disposition") == "" {
			t.Errorf("Range %s: headers %v", c.rng, r.header)
		}
	}
	// Several ranges: multipart/byteranges.
	r = do(t, http.MethodGet, ts.url+"/"+fid, nil, map[string]string{"Range": "bytes=0-1,5-6"})
	if r.status != http.StatusPartialContent {
		t.Fatalf("multi-range = %d", r.status)
	}
	parts := readByteRanges(t, r)
	if len(parts) != 2 || parts[0] != "01" || parts[1] != "56" {
		t.Errorf("multi-range parts = %q", parts)
	}
	for _, rng := range []string{"bytes=20-", "bytes=100-200"} {
		r = do(t, http.MethodGet, ts.url+"/"+fid, nil, map[string]string{"Range": rng})
		if r.status != http.StatusRequestedRangeNotSatisfiable || r.header.Get("Content-Range") != "bytes */20" {
			t.Errorf("Range %s = %d (%s), want 416 bytes */20", rng, r.status, r.header.Get("Content-Range"))
		}
	}
}

// readByteRanges returns the bodies of a multipart/byteranges reply.
func readByteRanges(t testing.TB, r reply) []string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type %q: %v", r.header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return parts
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, string(b))
	}
}

func TestReadConditional(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 1, "")
	fid := "1,01637037d6"
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	up := do(t, http.MethodPost, ts.url+fmt.Sprintf("/%s?ts=%d", fid, mtime.Unix()), strings.NewReader("cached"), nil)
	etag := up.header.Get("Etag")
	cases := []struct {
		name   string
		header map[string]string
		status int
	}{
		{"If-None-Match quoted", map[string]string{"If-None-Match": etag}, 304},
		{"If-None-Match bare", map[string]string{"If-None-Match": strings.Trim(etag, `"`)}, 304},
		{"If-None-Match list", map[string]string{"If-None-Match": `"00000000", ` + etag}, 304},
		{"If-None-Match star", map[string]string{"If-None-Match": "*"}, 304},
		{"If-None-Match other", map[string]string{"If-None-Match": `"00000000"`}, 200},
		{"If-Modified-Since same", map[string]string{"If-Modified-Since": mtime.Format(http.TimeFormat)}, 304},
		{"If-Modified-Since later", map[string]string{"If-Modified-Since": mtime.Add(time.Hour).Format(http.TimeFormat)}, 304},
		{"If-Modified-Since earlier", map[string]string{"If-Modified-Since": mtime.Add(-time.Second).Format(http.TimeFormat)}, 200},
		{"If-None-Match wins", map[string]string{"If-None-Match": `"00000000"`, "If-Modified-Since": mtime.Format(http.TimeFormat)}, 200},
	}
	for _, c := range cases {
		r := do(t, http.MethodGet, ts.url+"/"+fid, nil, c.header)
		if r.status != c.status {
			t.Errorf("%s: %d, want %d", c.name, r.status, c.status)
			continue
		}
		if c.status == 304 && (len(r.body) != 0 || r.header.Get("Etag") != etag) {
			t.Errorf("%s: 304 with body %q, Etag %q", c.name, r.body, r.header.Get("Etag"))
		}
		if c.status == 200 && string(r.body) != "cached" {
			t.Errorf("%s: body %q", c.name, r.body)
		}
	}
}

func TestReadGzip(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 1, "")
	text := []byte(strings.Repeat("line of compressible text\n", 200))
	fid := "1,01637037d6"
	up := uploadFile(t, ts.url, fid, "big.txt", "text/plain", text)
	stored := jsonNumber(t, up.json(t), "size")
	if stored >= len(text) {
		t.Fatalf("text stored with %d bytes of %d: not gzipped", stored, len(text))
	}

	r := do(t, http.MethodGet, ts.url+"/"+fid, nil, map[string]string{"Accept-Encoding": "gzip, deflate"})
	if r.status != 200 || r.header.Get("Content-Encoding") != "gzip" || len(r.body) != stored ||
		r.header.Get("Content-Length") != fmt.Sprint(stored) || r.header.Get("Content-Type") != "text/plain" {
		t.Fatalf("gzip client: %d, encoding %q, %d bytes, headers %v", r.status, r.header.Get("Content-Encoding"), len(r.body), r.header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, text) {
		t.Fatalf("gzip body inflates to %d bytes, %v", len(plain), err)
	}

	for _, ae := range []string{"", "identity", "gzip;q=0", "br"} {
		r = do(t, http.MethodGet, ts.url+"/"+fid, nil, map[string]string{"Accept-Encoding": ae})
		if r.status != 200 || r.header.Get("Content-Encoding") != "" || !bytes.Equal(r.body, text) ||
			r.header.Get("Content-Length") != fmt.Sprint(len(text)) {
			t.Errorf("Accept-Encoding %q: %d, encoding %q, %d bytes", ae, r.status, r.header.Get("Content-Encoding"), len(r.body))
		}
	}
	// A range addresses the original bytes, whatever the client accepts.
	r = do(t, http.MethodGet, ts.url+"/"+fid, nil, map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=26-29"})
	if r.status != http.StatusPartialContent || string(r.body) != "line" || r.header.Get("Content-Encoding") != "" {
		t.Errorf("range of a gzipped needle = %d %q %q", r.status, r.body, r.header.Get("Content-Encoding"))
	}
	// HEAD to a non-gzip client gives the original length.
	r = do(t, http.MethodHead, ts.url+"/"+fid, nil, nil)
	if r.header.Get("Content-Length") != fmt.Sprint(len(text)) {
		t.Errorf("HEAD Content-Length = %q", r.header.Get("Content-Length"))
	}
}

func TestReadRedirect(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	holder := startServer(t, []string{m.addr()})
	holder.addVolume(t, 6, "")
	uploadFile(t, holder.url, "6,01fc4a422c", "hello.txt", "text/plain", []byte("hello weed-fs!\n"))
	m.setLocations(6, holder.addr)

	r := do(t, http.MethodGet, ts.url+"/6,01fc4a422c", nil, nil)
	wantLoc := holder.url + "/6,01fc4a422c"
	if r.status != http.StatusMovedPermanently || r.header.Get("Location") != wantLoc {
		t.Fatalf("read of a volume held elsewhere = %d Location %q", r.status, r.header.Get("Location"))
	}
	if want := `<a href="` + wantLoc + `">Moved Permanently</a>.`; strings.TrimSpace(string(r.body)) != want {
		t.Errorf("redirect body = %q, want %q", r.body, want)
	}
	// The other path forms and the query survive the redirect.
	r = do(t, http.MethodGet, ts.url+"/6/01fc4a422c/hello.txt?cm=false", nil, nil)
	if r.header.Get("Location") != holder.url+"/6/01fc4a422c/hello.txt?cm=false" {
		t.Errorf("redirect Location = %q", r.header.Get("Location"))
	}
	// A client following it gets the file.
	resp, err := http.Get(ts.url + "/6,01fc4a422c")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hello weed-fs!\n" {
		t.Errorf("followed redirect = %d %q", resp.StatusCode, b)
	}
	// A volume nobody holds is 404; so is one only this server is said to hold.
	assertEmpty404(t, do(t, http.MethodGet, ts.url+"/9,01fc4a422c", nil, nil), "GET of an unknown volume")
	m.setLocations(8, ts.addr)
	assertEmpty404(t, do(t, http.MethodGet, ts.url+"/8,01fc4a422c", nil, nil), "GET of a volume only said to be here")

	// Without read redirection a volume held elsewhere is 404.
	off := false
	quiet := startServer(t, []string{m.addr()}, func(o *ServerOptions) { o.ReadRedirect = &off })
	assertEmpty404(t, do(t, http.MethodGet, quiet.url+"/6,01fc4a422c", nil, nil), "GET with -read.redirect=false")
}

// TestReadChunkManifest stores a file as chunks on two servers (one chunk
// local to the manifest's server, one remote) and reads it whole, by range,
// and as the raw manifest.
func TestReadChunkManifest(t *testing.T) {
	m := newFakeMaster(t)
	a := startServer(t, []string{m.addr()})
	b := startServer(t, []string{m.addr()})
	a.addVolume(t, 1, "")
	b.addVolume(t, 2, "")
	m.setLocations(1, a.addr)
	m.setLocations(2, b.addr)
	part1 := bytes.Repeat([]byte("A"), 1000)
	part2 := []byte(strings.Repeat("the second chunk is text\n", 40)) // stored gzipped
	part3 := bytes.Repeat([]byte("C"), 500)
	chunks := []struct {
		srv  *testServer
		fid  string
		data []byte
	}{
		{a, "1,0211111111", part1},
		{b, "2,0322222222", part2},
		{b, "2,0433333333", part3},
	}
	manifest := client.ChunkManifest{Name: "big.log", Mime: "text/x-log", Size: int64(len(part1) + len(part2) + len(part3))}
	var off int64
	for _, c := range chunks {
		uploadFile(t, c.srv.url, c.fid, "chunk.txt", "text/plain", c.data)
		manifest.Chunks = append(manifest.Chunks, client.ChunkInfo{Fid: c.fid, Offset: off, Size: int64(len(c.data))})
		off += int64(len(c.data))
	}
	whole := bytes.Join([][]byte{part1, part2, part3}, nil)
	mj, err := json.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	r := do(t, http.MethodPost, a.url+"/1,0555555555?cm=true", bytes.NewReader(mj), map[string]string{"Content-Type": "application/json"})
	if r.status != http.StatusCreated {
		t.Fatalf("manifest upload: %d %s", r.status, r.body)
	}

	r = do(t, http.MethodGet, a.url+"/1,0555555555", nil, nil)
	if r.status != 200 || !bytes.Equal(r.body, whole) {
		t.Fatalf("whole chunked file: %d, %d bytes (want %d)", r.status, len(r.body), len(whole))
	}
	if r.header.Get("Content-Type") != "text/x-log" || r.header.Get("Content-Disposition") != `inline; filename="big.log"` ||
		r.header.Get("Content-Length") != fmt.Sprint(len(whole)) {
		t.Errorf("chunked headers: %v", r.header)
	}
	// Ranges inside one chunk, across chunks, at the end.
	for _, rng := range [][2]int{{10, 20}, {990, 1010}, {900, 2100}, {len(whole) - 7, len(whole) - 1}} {
		r = do(t, http.MethodGet, a.url+"/1,0555555555", nil, map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", rng[0], rng[1])})
		if r.status != http.StatusPartialContent || !bytes.Equal(r.body, whole[rng[0]:rng[1]+1]) {
			t.Errorf("range %v: %d, %q", rng, r.status, r.body)
		}
	}
	r = do(t, http.MethodGet, a.url+"/1,0555555555", nil, map[string]string{"Range": "bytes=0-2,1998-2001"})
	if parts := readByteRanges(t, r); len(parts) != 2 || parts[0] != string(whole[0:3]) || parts[1] != string(whole[1998:2002]) {
		t.Errorf("multi-range of a chunked file: %q", parts)
	}
	// ?cm=false gives the manifest itself.
	r = do(t, http.MethodGet, a.url+"/1,0555555555?cm=false", nil, nil)
	var got client.ChunkManifest
	if r.status != 200 || json.Unmarshal(r.body, &got) != nil || got.Size != manifest.Size || len(got.Chunks) != 3 {
		t.Errorf("raw manifest: %d %s", r.status, r.body)
	}
	// A missing chunk breaks the transfer instead of serving wrong bytes.
	if d := do(t, http.MethodDelete, b.url+"/2,0433333333", nil, nil); d.status != http.StatusAccepted {
		t.Fatalf("delete chunk: %d", d.status)
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, a.url+"/1,0555555555", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil && bytes.Equal(body, whole) {
		t.Errorf("a chunked file with a deleted chunk read back whole")
	}
}

// FuzzHandlerPath sends arbitrary paths through the handler with every
// read, write and delete method: it never panics and never answers 5xx.
func FuzzHandlerPath(f *testing.F) {
	m := newFakeMaster(f)
	ts := startServer(f, []string{m.addr()}, func(o *ServerOptions) { off := false; o.ReadRedirect = &off })
	ts.addVolume(f, 1, "")
	uploadFile(f, ts.url, "1,01637037d6", "a.txt", "text/plain", []byte("fuzz"))
	for _, p := range []string{"/1,01637037d6", "/1,01637037d6_3.txt", "/1/01637037d6/x.txt", "/1,", "/,", "/1/", "//1,01637037d6", "/status", "/admin/vacuum/check", "/1,ffffffffffffffffffffffff", "/4294967296,01637037d6"} {
		f.Add(p, uint8(0))
	}
	methods := []string{http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodPost}
	h := ts.Handler()
	f.Fuzz(func(t *testing.T, path string, method uint8) {
		req := &http.Request{
			Method:     methods[int(method)%len(methods)],
			URL:        &url.URL{Path: path},
			Header:     make(http.Header),
			Body:       io.NopCloser(strings.NewReader("x")),
			RemoteAddr: "127.0.0.1:1",
			Host:       "127.0.0.1",
		}
		req = req.WithContext(context.Background())
		rec := &recorder{header: make(http.Header)}
		h.ServeHTTP(rec, req)
		if rec.status >= 500 {
			t.Fatalf("%s %q = %d %s", req.Method, path, rec.status, rec.body.String())
		}
	})
}

// recorder is a minimal http.ResponseWriter for handler-level fuzzing.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// TestWithGoClient drives the server with the public Go client: upload,
// read (whole, by range, gzip), a chunked upload read back whole and by
// range, and delete.
func TestWithGoClient(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 1, "")
	m.setLocations(1, ts.addr)
	m.mu.Lock()
	m.assignVolume, m.assignTo = 1, ts.addr
	m.mu.Unlock()
	c, err := client.New(m.addr())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	text := strings.Repeat("client text ", 500)
	a, err := c.Assign(ctx, client.AssignRequest{})
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.Upload(ctx, a.URL, a.Fid, client.UploadRequest{Filename: "notes.txt", Body: strings.NewReader(text)})
	if err != nil || up.Name != "notes.txt" || up.Size >= int64(len(text)) || up.ETag == "" {
		t.Fatalf("upload = %+v, %v", up, err)
	}
	read := func(fid string, opts client.GetOptions) (*client.Object, string) {
		t.Helper()
		obj, err := c.Get(ctx, fid, opts)
		if err != nil {
			t.Fatalf("get %s %+v: %v", fid, opts, err)
		}
		defer obj.Body.Close()
		b, err := io.ReadAll(obj.Body)
		if err != nil {
			t.Fatal(err)
		}
		return obj, string(b)
	}
	obj, body := read(a.Fid, client.GetOptions{})
	if body != text || obj.Name != "notes.txt" || obj.ETag != up.ETag || obj.MimeType != "text/plain; charset=utf-8" {
		t.Errorf("get: name %q etag %q mime %q, %d bytes", obj.Name, obj.ETag, obj.MimeType, len(body))
	}
	if obj, body = read(a.Fid, client.GetOptions{Offset: 7, Length: 4}); body != "text" || obj.StatusCode != http.StatusPartialContent {
		t.Errorf("range: %d %q", obj.StatusCode, body)
	}
	if obj, _ = read(a.Fid, client.GetOptions{AcceptGzip: true}); obj.ContentEncoding != "gzip" {
		t.Errorf("gzip read: encoding %q", obj.ContentEncoding)
	}

	big := make([]byte, 10000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	cf, err := c.UploadChunked(ctx, bytes.NewReader(big), client.ChunkedUpload{Filename: "big.bin", ChunkSize: 3000})
	if err != nil {
		t.Fatal(err)
	}
	if obj, body = read(cf.Fid, client.GetOptions{}); body != string(big) || obj.Name != "big.bin" {
		t.Errorf("chunked read: name %q, %d bytes", obj.Name, len(body))
	}
	if _, body = read(cf.Fid, client.GetOptions{Offset: 2990, Length: 3020}); body != string(big[2990:6010]) {
		t.Errorf("chunked range: %d bytes", len(body))
	}
	size, err := c.Delete(ctx, a.Fid)
	if err != nil || size != up.Size {
		t.Fatalf("delete = %d, %v", size, err)
	}
	if _, err := c.Get(ctx, a.Fid, client.GetOptions{}); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("get after delete = %v", err)
	}
}
