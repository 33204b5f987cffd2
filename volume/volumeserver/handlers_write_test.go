package volumeserver

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/replication"
)

// stored reads a needle straight from ts's store.
func (ts *testServer) stored(t testing.TB, vid needle.VolumeID, key needle.Key, cookie needle.Cookie) (needle.Needle, error) {
	t.Helper()
	vol := ts.store.Volume(vid)
	if vol == nil {
		t.Fatalf("volume %d not on %s", vid, ts.addr)
	}
	n, _, err := vol.Read(key, cookie, nil)
	return n, err
}

func TestUploadMultipart(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 6, "")
	data := []byte("hello weed-fs!\n")
	fid := "6,01fc4a422c"
	r := uploadFile(t, ts.url, fid, "hello.txt", "text/plain", data)
	if string(r.body) != `{"name":"hello.txt","size":15}`+"\n" {
		t.Errorf("reply = %q", r.body)
	}
	n, err := ts.stored(t, 6, 1, 0xfc4a422c)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"` + needle.Etag(needle.DataChecksum(data)) + `"`; r.header.Get("Etag") != want {
		t.Errorf("Etag = %q, want %q", r.header.Get("Etag"), want)
	}
	if string(n.Data) != string(data) || string(n.Name) != "hello.txt" || string(n.Mime) != "text/plain" || n.IsGzipped() {
		t.Errorf("stored needle: data %q name %q mime %q gzip %v", n.Data, n.Name, n.Mime, n.IsGzipped())
	}
	if !n.HasLastModified() || time.Since(time.Unix(int64(n.LastModified), 0)) > time.Hour {
		t.Errorf("last modified = %d", n.LastModified)
	}
	if n.AppendAtNs == 0 {
		t.Error("append timestamp not set")
	}

	// The walk-through's form: curl -F filename=@hello1.txt (another field
	// name, a file part all the same), PUT, and an octet-stream part.
	body, ct := multipartBody(t, "filename", "hello1.txt", "application/octet-stream", []byte("hello weed-fs1!\n"), nil)
	r = do(t, http.MethodPut, ts.url+"/6,02ea84980d", body, map[string]string{"Content-Type": ct})
	if r.status != http.StatusCreated || r.json(t)["name"] != "hello1.txt" {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	n, err = ts.stored(t, 6, 2, 0xea84980d)
	if err != nil || n.HasMime() || string(n.Data) != "hello weed-fs1!\n" {
		t.Fatalf("octet-stream part stored with mime %q data %q, %v", n.Mime, n.Data, err)
	}
}

func TestUploadRaw(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 2, "")
	data := []byte{0, 1, 2, 3, 255}
	r := do(t, http.MethodPost, ts.url+"/2,03deadbeef?filename=raw.bin&ts=1400000000", bytes.NewReader(data),
		map[string]string{"Content-Type": "image/x-test", "Seaweed-Owner": "ops", "seaweed-tier": "hot"})
	if r.status != http.StatusCreated || string(r.body) != `{"name":"raw.bin","size":5}`+"\n" {
		t.Fatalf("raw upload = %d %s", r.status, r.body)
	}
	n, err := ts.stored(t, 2, 3, 0xdeadbeef)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(n.Data, data) || string(n.Mime) != "image/x-test" || n.LastModified != 1400000000 || string(n.Name) != "raw.bin" {
		t.Errorf("stored: %q mime %q mtime %d name %q", n.Data, n.Mime, n.LastModified, n.Name)
	}
	if string(n.Pairs) != `{"Owner":"ops","Tier":"hot"}` {
		t.Errorf("pairs = %s", n.Pairs)
	}
	// Pairs come back, prefixed, on reads.
	g := do(t, http.MethodGet, ts.url+"/2,03deadbeef", nil, nil)
	if g.header.Get("Seaweed-Owner") != "ops" || g.header.Get("Seaweed-Tier") != "hot" {
		t.Errorf("read headers: %v", g.header)
	}

	// No name, no type: a bare needle.
	r = do(t, http.MethodPost, ts.url+"/2,04deadbeef", strings.NewReader("x"), nil)
	if r.status != http.StatusCreated || string(r.body) != `{"name":"","size":1}`+"\n" {
		t.Fatalf("bare upload = %d %s", r.status, r.body)
	}
	n, err = ts.stored(t, 2, 4, 0xdeadbeef)
	if err != nil || n.HasName() || n.HasMime() {
		t.Fatalf("bare needle: name %q mime %q, %v", n.Name, n.Mime, err)
	}

	// The /<vid>/<fid>/<filename> form names the file; ttl is stored.
	r = do(t, http.MethodPost, ts.url+"/2/05deadbeef/named.txt?ttl=3d", strings.NewReader("abc"), nil)
	if r.status != http.StatusCreated || r.json(t)["name"] != "named.txt" {
		t.Fatalf("named upload = %d %s", r.status, r.body)
	}
	n, err = ts.stored(t, 2, 5, 0xdeadbeef)
	if err != nil || string(n.Name) != "named.txt" || n.TTL.String() != "3d" {
		t.Fatalf("named needle: %q ttl %q, %v", n.Name, n.TTL, err)
	}
}

func TestUploadRefusals(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()}, func(o *ServerOptions) { o.MaxUploadBytes = 1024 })
	ts.addVolume(t, 1, "")
	okBody, okType := multipartBody(t, "file", "a.txt", "text/plain", []byte("hello"), nil)
	cases := []struct {
		name, method, path string
		body               []byte
		header             map[string]string
		status             int
	}{
		{"bad fid", http.MethodPost, "/1,xyz", okBody.Bytes(), map[string]string{"Content-Type": okType}, 400},
		{"no cookie", http.MethodPost, "/1,01", okBody.Bytes(), map[string]string{"Content-Type": okType}, 400},
		{"volume not here", http.MethodPost, "/9,01637037d6", okBody.Bytes(), map[string]string{"Content-Type": okType}, 404},
		{"bad ttl", http.MethodPost, "/1,01637037d6?ttl=5x", []byte("x"), nil, 400},
		{"bad ts", http.MethodPost, "/1,01637037d6?ts=yesterday", []byte("x"), nil, 400},
		{"bad cm", http.MethodPost, "/1,01637037d6?cm=maybe", []byte("x"), nil, 400},
		{"bad manifest", http.MethodPost, "/1,01637037d6?cm=true", []byte(`{"size":-1}`), nil, 400},
		{"multipart without boundary", http.MethodPost, "/1,01637037d6", []byte("x"), map[string]string{"Content-Type": "multipart/form-data"}, 400},
		{"multipart without a file", http.MethodPost, "/1,01637037d6", []byte("--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--b--\r\n"), map[string]string{"Content-Type": "multipart/form-data; boundary=b"}, 400},
		{"truncated multipart", http.MethodPost, "/1,01637037d6", okBody.Bytes()[:okBody.Len()-10], map[string]string{"Content-Type": okType}, 400},
		{"multipart cut inside the file", http.MethodPost, "/1,01637037d6", okBody.Bytes()[:okBody.Len()/2+20], map[string]string{"Content-Type": okType}, 400},
		{"gzip that is not", http.MethodPost, "/1,01637037d6", []byte("plain text, honest"), map[string]string{"Content-Encoding": "gzip"}, 400},
		{"too large", http.MethodPost, "/1,01637037d6", make([]byte, 2048), nil, 413},
		{"long name", http.MethodPost, "/1,01637037d6?filename=" + strings.Repeat("n", 256), []byte("x"), nil, 400},
	}
	for _, c := range cases {
		r := do(t, c.method, ts.url+c.path, bytes.NewReader(c.body), c.header)
		if r.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.status)
			continue
		}
		if msg, _ := r.json(t)["error"].(string); msg == "" {
			t.Errorf("%s: no error message in %s", c.name, r.body)
		}
	}
	// A chunked body over the limit is cut off too.
	req, err := http.NewRequest(http.MethodPost, ts.url+"/1,01637037d6", io.MultiReader(bytes.NewReader(make([]byte, 4096))))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversized body = %d, want 413", resp.StatusCode)
	}
	if _, err := ts.stored(t, 1, 1, 0x637037d6); !replication.IsMissing(err) {
		t.Errorf("a refused upload was stored: %v", err)
	}
	if info := ts.store.Volume(1).Info(); info.FileCount != 0 {
		t.Errorf("volume has %d files after refused uploads", info.FileCount)
	}
}

// gzipBytes compresses b.
func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestUploadGzipDecision(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 1, "")
	text := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog\n", 100))
	random := make([]byte, 4000)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, filename, mime string
		data                 []byte
		header               map[string]string
		gzipped              bool
	}{
		{"text", "a.txt", "text/plain", text, nil, true},
		{"json by type", "data", "application/json", text, nil, true},
		{"css by extension", "site.css", "", text, nil, true},
		{"small text", "hello.txt", "text/plain", []byte("hello weed-fs!\n"), nil, false},
		{"incompressible text", "noise.txt", "text/plain", random, nil, false},
		{"binary type", "a.png", "image/png", text, nil, false},
	}
	for i, c := range cases {
		key := needle.Key(i + 1)
		fid := fidOf(1, key, 0x11223344)
		r := uploadFile(t, ts.url, fid, c.filename, c.mime, c.data)
		n, err := ts.stored(t, 1, key, 0x11223344)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n.IsGzipped() != c.gzipped {
			t.Errorf("%s: gzipped = %v, want %v", c.name, n.IsGzipped(), c.gzipped)
		}
		size := jsonNumber(t, r.json(t), "size")
		if size != len(n.Data) {
			t.Errorf("%s: reply size %d, stored %d", c.name, size, len(n.Data))
		}
		if c.gzipped && size >= len(c.data)*9/10 {
			t.Errorf("%s: stored %d bytes of %d", c.name, size, len(c.data))
		}
	}

	// A client that sends gzip keeps its bytes, flagged.
	gz := gzipBytes(t, text)
	body, ct := multipartBody(t, "file", "pre.txt", "text/plain", gz, map[string]string{"Content-Encoding": "gzip"})
	r := do(t, http.MethodPost, ts.url+"/"+fidOf(1, 100, 0x11223344), body, map[string]string{"Content-Type": ct})
	if r.status != http.StatusCreated || jsonNumber(t, r.json(t), "size") != len(gz) {
		t.Fatalf("pre-gzipped multipart = %d %s", r.status, r.body)
	}
	n, err := ts.stored(t, 1, 100, 0x11223344)
	if err != nil || !n.IsGzipped() || !bytes.Equal(n.Data, gz) {
		t.Fatalf("pre-gzipped multipart stored gzip=%v same=%v, %v", n.IsGzipped(), bytes.Equal(n.Data, gz), err)
	}
	r = do(t, http.MethodPost, ts.url+"/"+fidOf(1, 101, 0x11223344)+"?filename=raw.bin", bytes.NewReader(gz),
		map[string]string{"Content-Encoding": "gzip", "Content-Type": "application/octet-stream"})
	if r.status != http.StatusCreated {
		t.Fatalf("pre-gzipped raw = %d %s", r.status, r.body)
	}
	n, err = ts.stored(t, 1, 101, 0x11223344)
	if err != nil || !n.IsGzipped() || !bytes.Equal(n.Data, gz) {
		t.Fatalf("pre-gzipped raw stored gzip=%v, %v", n.IsGzipped(), err)
	}
}

func TestDelete(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 6, "")
	fid := "6,01fc4a422c"
	uploadFile(t, ts.url, fid, "hello.txt", "text/plain", []byte("hello weed-fs!\n"))

	r := do(t, http.MethodDelete, ts.url+"/6,01fc4a422d", nil, nil)
	if r.status != http.StatusNotFound || string(r.body) != `{"size":0}`+"\n" {
		t.Errorf("delete with a wrong cookie = %d %s", r.status, r.body)
	}
	assertEmpty404(t, do(t, http.MethodGet, ts.url+"/6,01fc4a422d", nil, nil), "GET with a wrong cookie")
	if g := do(t, http.MethodGet, ts.url+"/"+fid, nil, nil); g.status != http.StatusOK {
		t.Fatalf("a delete with a wrong cookie removed the file: %d", g.status)
	}

	r = do(t, http.MethodDelete, ts.url+"/"+fid, nil, nil)
	if r.status != http.StatusAccepted || string(r.body) != `{"size":15}`+"\n" {
		t.Fatalf("delete = %d %s", r.status, r.body)
	}
	assertEmpty404(t, do(t, http.MethodGet, ts.url+"/"+fid, nil, nil), "GET after delete")
	r = do(t, http.MethodDelete, ts.url+"/"+fid, nil, nil)
	if r.status != http.StatusNotFound || string(r.body) != `{"size":0}`+"\n" {
		t.Errorf("second delete = %d %s", r.status, r.body)
	}
	if r := do(t, http.MethodDelete, ts.url+"/7,01fc4a422c", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("delete on a volume not here = %d %s", r.status, r.body)
	}
	if r := do(t, http.MethodDelete, ts.url+"/6,zz", nil, nil); r.status != http.StatusBadRequest {
		t.Errorf("delete of a bad fid = %d %s", r.status, r.body)
	}
	// A replicated delete needs its timestamp.
	if r := do(t, http.MethodDelete, ts.url+"/"+fid+"?type=replicate", nil, nil); r.status != http.StatusBadRequest {
		t.Errorf("replicated delete without ts = %d %s", r.status, r.body)
	}
}

func TestWriteToReadOnlyVolume(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 1, "")
	ts.store.Volume(1).SetReadOnly(true)
	r := do(t, http.MethodPost, ts.url+"/1,01637037d6", strings.NewReader("x"), nil)
	if r.status != http.StatusConflict || r.json(t)["error"] == nil {
		t.Fatalf("write to a read-only volume = %d %s", r.status, r.body)
	}
}

// TestRepliesEncodeLikeEncodingJSON checks the hand-written encoders of the
// write and delete replies against encoding/json.
func TestRepliesEncodeLikeEncodingJSON(t *testing.T) {
	for _, v := range []httpx.JSONAppender{
		WriteReply{}, WriteReply{Name: "a.txt", Size: 39}, WriteReply{Name: "say \"hi\"\n\u2028<>&", Size: 1 << 31},
		DeleteReply{}, DeleteReply{Size: 7}, DeleteReply{Error: "volume 3 not found on\t127.0.0.1:8080"},
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		if got := string(v.AppendJSON(nil)) + "\n"; got != want.String() {
			t.Errorf("%#v: AppendJSON %s, encoding/json %s", v, got, want.String())
		}
	}
}
