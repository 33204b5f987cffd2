package cluster

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/testcluster"
)

// assignFid asks the master for one fid and returns it with the url of the
// server to upload to; the reply must have exactly the fields fid, url,
// publicUrl and count.
func assignFid(t *testing.T, m *testcluster.Process) (fid, url string) {
	t.Helper()
	a, err := testcluster.Assign(m.Addr(), "")
	if err != nil || a.URL == "" {
		t.Fatalf("assign: %s %v", a.Reply, err)
	}
	requireKeys(t, "assign reply", a.Reply.Body, "fid", "url", "publicUrl", "count")
	return a.Fid, a.URL
}

// TestValidation sends bad parameters to the master and the volume server:
// each gets a 400 with a JSON error, and nothing is created anywhere, least
// of all outside -dir.
func TestValidation(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{})
	v := c.volume(testcluster.VolumeOptions{Masters: m.Addr()})
	c.WaitForNodesOf(m, v)

	bad := []string{
		"/dir/assign?replication=abc", "/dir/assign?replication=12", "/dir/assign?replication=1000",
		"/dir/assign?replication=-01",
		"/dir/assign?count=0", "/dir/assign?count=-1", "/dir/assign?count=abc", "/dir/assign?count=99999999999999",
		"/dir/assign?collection=bad/name", "/dir/assign?collection=a%20b", "/dir/assign?collection=../evil",
		"/dir/assign?collection=x.y",
		"/dir/assign?ttl=3x", "/dir/assign?ttl=abc", "/dir/assign?ttl=-1m",
		"/vol/grow?replication=abc", "/vol/grow?count=0", "/vol/grow?collection=../evil", "/vol/grow?ttl=3x",
		"/dir/lookup?volumeId=abc", "/dir/lookup?volumeId=-1",
		"/3,zz", "/abc",
	}
	for _, path := range bad {
		testcluster.RequireJSONError(t, "GET master"+path, testcluster.Get(t, m.URL(path)), http.StatusBadRequest)
	}
	for _, q := range []string{"replication=abc", "collection=../evil", "ttl=3x"} {
		testcluster.RequireJSONError(t, "submit?"+q, testcluster.PostFile(t, m.URL("/submit?"+q), "hello.txt", hello, nil), http.StatusBadRequest)
	}
	for _, path := range []string{"/3,zz", "/abc", "/3,", "/,01637037d6"} {
		testcluster.RequireJSONError(t, "POST volume"+path, testcluster.PostFile(t, v.URL(path), "hello.txt", hello, nil), http.StatusBadRequest)
		status := http.StatusBadRequest
		if path == "/abc" {
			status = http.StatusNotFound // not shaped like a fid: an unknown page
		}
		testcluster.RequireJSONError(t, "GET volume"+path, testcluster.Get(t, v.URL(path)), status)
		testcluster.RequireJSONError(t, "DELETE volume"+path, testcluster.Do(t, testcluster.NoFollow, http.MethodDelete, v.URL(path), nil, nil), http.StatusBadRequest)
	}
	for _, q := range []string{"volume=abc", "volume=9&collection=../evil", "volume=9&replication=abc", "volume=9&ttl=3x"} {
		r := testcluster.Do(t, testcluster.NoFollow, http.MethodPost, v.URL("/admin/assign_volume?"+q), nil, nil)
		testcluster.RequireJSONError(t, "assign_volume?"+q, r, http.StatusBadRequest)
	}

	// Nothing was grown and nothing named "evil" exists anywhere.
	if st := dirStatus(t, m); len(st.Topology.Layouts) != 0 || len(volumeFiles(t, v.Dir)) != 0 {
		t.Errorf("bad requests created volumes: layouts %+v, files %q", st.Topology.Layouts, volumeFiles(t, v.Dir))
	}
	_ = filepath.WalkDir(filepath.Dir(c.Dir), func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), "evil") {
			t.Errorf("a bad collection name created %s", path)
		}
		return nil
	})
}

// TestUploadRobustness: a truncated multipart body is refused with 400 and
// stores nothing; a body above the volume server's limit gets 413 before it
// is read; the stored file then serves Range (206/416) and conditional
// (304) requests; a compressible upload is stored gzipped, served gzipped
// to clients that accept it and plain to the others.
func TestUploadRobustness(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{})
	v := c.volume(testcluster.VolumeOptions{Masters: m.Addr()})
	c.WaitForNodesOf(m, v)

	// Truncated multipart: the closing boundary never comes.
	fid, _ := assignFid(t, m)
	body, ct, err := testcluster.MultipartFile("cut.txt", bytes.Repeat([]byte("truncated "), 100))
	if err != nil {
		t.Fatal(err)
	}
	cut := body.Bytes()[:body.Len()-60]
	r := testcluster.Do(t, testcluster.NoFollow, http.MethodPost, v.URL("/"+fid), bytes.NewReader(cut), map[string]string{"Content-Type": ct})
	testcluster.RequireJSONError(t, "truncated multipart", r, http.StatusBadRequest)
	if r := testcluster.Get(t, v.URL("/"+fid)); r.Status != http.StatusNotFound {
		t.Errorf("GET %s after a truncated upload: %s", fid, r)
	}
	if n := fileCount(t, v, volumeOf(fid)); n != 0 {
		t.Errorf("volume %s counts %d files after a truncated upload", volumeOf(fid), n)
	}

	// Oversized: 413 on the declared length, without reading the body.
	if status := postDeclaringLength(t, v.Addr(), "/"+fid, 300<<20); status != http.StatusRequestEntityTooLarge {
		t.Errorf("POST declaring 300 MiB: status %d, want 413", status)
	}

	// Range and conditional requests on a stored binary file.
	data := make([]byte, 1000)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	fid, _ = assignFid(t, m)
	if r := testcluster.PostFile(t, v.URL("/"+fid), "x.bin", data, nil); r.Status != http.StatusCreated || r.Header.Get("Etag") == "" {
		t.Fatalf("upload x.bin: %s", r)
	}
	full := testcluster.Do(t, testcluster.Plain, http.MethodGet, v.URL("/"+fid), nil, nil)
	h := full.Header
	if full.Status != http.StatusOK || !bytes.Equal(full.Body, data) || h.Get("Etag") == "" || h.Get("Last-Modified") == "" ||
		h.Get("Accept-Ranges") != "bytes" || h.Get("Content-Disposition") != `inline; filename="x.bin"` ||
		h.Get("Content-Length") != "1000" {
		t.Fatalf("GET x.bin: %d headers %v", full.Status, h)
	}
	r = testcluster.Do(t, testcluster.Plain, http.MethodGet, v.URL("/"+fid), nil, map[string]string{"Range": "bytes=10-19"})
	if r.Status != http.StatusPartialContent || !bytes.Equal(r.Body, data[10:20]) || r.Header.Get("Content-Range") != "bytes 10-19/1000" {
		t.Errorf("Range bytes=10-19: %d %q %q", r.Status, r.Header.Get("Content-Range"), r.Body)
	}
	if r := testcluster.Do(t, testcluster.Plain, http.MethodGet, v.URL("/"+fid), nil, map[string]string{"Range": "bytes=5000-"}); r.Status != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("Range bytes=5000-: %d, want 416", r.Status)
	}
	if r := testcluster.Do(t, testcluster.Plain, http.MethodGet, v.URL("/"+fid), nil, map[string]string{"If-None-Match": h.Get("Etag")}); r.Status != http.StatusNotModified || len(r.Body) != 0 {
		t.Errorf("If-None-Match the Etag: %s, want 304", r)
	}
	if r := testcluster.Do(t, testcluster.Plain, http.MethodGet, v.URL("/"+fid), nil, map[string]string{"If-Modified-Since": h.Get("Last-Modified")}); r.Status != http.StatusNotModified {
		t.Errorf("If-Modified-Since Last-Modified: %s, want 304", r)
	}
	if r := testcluster.Do(t, testcluster.Plain, http.MethodHead, v.URL("/"+fid), nil, nil); r.Status != http.StatusOK || r.Header.Get("Etag") != h.Get("Etag") || len(r.Body) != 0 {
		t.Errorf("HEAD: %d Etag %q", r.Status, r.Header.Get("Etag"))
	}
	// The other URL forms of SPEC §2 read the same file.
	vid, keyCookie, _ := strings.Cut(fid, ",")
	for _, path := range []string{"/" + fid + ".bin", "/" + vid + "/" + keyCookie + "/x.bin"} {
		if r := testcluster.Do(t, testcluster.Plain, http.MethodGet, v.URL(path), nil, nil); r.Status != http.StatusOK || !bytes.Equal(r.Body, data) {
			t.Errorf("GET %s: %s", path, r)
		}
	}
	// A wrong cookie is answered like a missing needle.
	wrong := fid[:len(fid)-1] + map[bool]string{true: "1", false: "0"}[fid[len(fid)-1] == '0']
	if r := testcluster.Do(t, testcluster.Plain, http.MethodGet, v.URL("/"+wrong), nil, nil); r.Status != http.StatusNotFound || len(r.Body) != 0 {
		t.Errorf("GET with a wrong cookie %s: %s, want 404 with no body", wrong, r)
	}

	// gzip: text stored compressed, served by Accept-Encoding.
	text := bytes.Repeat([]byte("weed stores small files fast; "), 400)
	fid, _ = assignFid(t, m)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Disposition": {`form-data; name="file"; filename="page.txt"`},
		"Content-Type":        {"text/plain"}, // what curl -F file=@page.txt sends
	})
	if err != nil {
		t.Fatal(err)
	}
	part.Write(text)
	mw.Close()
	r = testcluster.Do(t, testcluster.NoFollow, http.MethodPost, v.URL("/"+fid), &buf, map[string]string{"Content-Type": mw.FormDataContentType()})
	var stored struct {
		Size int `json:"size"`
	}
	if testcluster.DecodeJSON(t, r, &stored); r.Status != http.StatusCreated || stored.Size <= 0 || stored.Size >= len(text) {
		t.Fatalf("upload of %d bytes of text: %s, want a stored size below the original", len(text), r)
	}
	r = testcluster.Do(t, testcluster.Plain, http.MethodGet, v.URL("/"+fid), nil, map[string]string{"Accept-Encoding": "gzip"})
	if r.Status != http.StatusOK || r.Header.Get("Content-Encoding") != "gzip" || len(r.Body) != stored.Size {
		t.Fatalf("GET with Accept-Encoding: gzip: %d Content-Encoding %q, %d bytes (stored %d)", r.Status, r.Header.Get("Content-Encoding"), len(r.Body), stored.Size)
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	if inflated, err := io.ReadAll(zr); err != nil || !bytes.Equal(inflated, text) {
		t.Errorf("gzipped reply inflates to %d bytes, %v", len(inflated), err)
	}
	r = testcluster.Do(t, testcluster.Plain, http.MethodGet, v.URL("/"+fid), nil, nil)
	if r.Status != http.StatusOK || r.Header.Get("Content-Encoding") != "" || !bytes.Equal(r.Body, text) {
		t.Errorf("GET without Accept-Encoding: %d Content-Encoding %q, %d bytes, want the %d original bytes",
			r.Status, r.Header.Get("Content-Encoding"), len(r.Body), len(text))
	}
}

// fileCount returns FileCount of volume vid in v's /status.
func fileCount(t *testing.T, v *testcluster.Process, vid string) int {
	t.Helper()
	var st struct {
		Volumes []struct {
			Id        int
			FileCount int
		}
	}
	if err := v.GetJSON("/status", &st); err != nil {
		t.Fatal(err)
	}
	for _, vol := range st.Volumes {
		if fmt.Sprint(vol.Id) == vid {
			return vol.FileCount
		}
	}
	t.Fatalf("%s does not hold volume %s", v.Name, vid)
	return 0
}

// postDeclaringLength sends a POST whose headers declare length bytes of
// body, sends none of it, and returns the status the server answers with.
func postDeclaringLength(t *testing.T, addr, path string, length int64) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", path, addr, length)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("POST %s declaring %d bytes: %v", path, length, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDaemonsExitCleanly: a bad flag prints usage and exits 2; SIGTERM makes
// the master and a volume server exit 0, and the volume server's files pass
// volume.Check (at the end of the test).
func TestDaemonsExitCleanly(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := c.Run(ctx, "", "master", "-bogus")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(out, "Usage: weed master") || !strings.Contains(out, "-bogus") {
		t.Errorf("weed master -bogus: %v\n%s", err, out)
	}
	out, err = c.Run(ctx, "", "volume", "-max=x")
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(out, "Usage: weed volume") {
		t.Errorf("weed volume -max=x: %v\n%s", err, out)
	}

	m := c.master(testcluster.MasterOptions{})
	v := c.volume(testcluster.VolumeOptions{Masters: m.Addr()})
	c.WaitForNodesOf(m, v)
	s := submit(t, m, "", "hello.txt", hello)
	stop(t, v)
	if !strings.Contains(v.Log(), "shutting down") {
		t.Errorf("the volume server did not log its shutdown:\n%s", v.Log())
	}
	v.Start()
	c.WaitForNodesOf(m, v)
	if r := testcluster.GetFollow(t, m.URL("/"+s.Fid)); r.Status != http.StatusOK || string(r.Body) != string(hello) {
		t.Errorf("read after a restart: %s", r)
	}
	stop(t, m)
}
