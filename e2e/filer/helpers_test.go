// Package filer holds end-to-end tests of `weed filer`, `weed filer.copy`
// and `weed server -filer`: real weed processes on 127.0.0.1 driven over
// HTTP the way curl drives them (issue 5, SPEC §5).
//
// Run them with a built binary and a redis-server on PATH:
//
//	go build -o bin/weed ./cmd/weed
//	WEED_REQUIRE_REDIS=1 WEED_BINARY=$PWD/bin/weed go test ./e2e/filer/ -v
package filer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/testcluster"
)

// copies is the number of replicas of every needle in the walk-through's
// cluster: replication 100 puts one copy in dc1 and one in dc2.
const copies = 2

// cluster is the walk-through's cluster (section 五): a master with
// -defaultReplication=100 and volume servers in dc1, dc1 and dc2.
type cluster struct {
	t       *testing.T
	c       *testcluster.Cluster
	master  *testcluster.Process
	volumes []*testcluster.Process
}

// startCluster starts the master and the three volume servers and waits
// until the master sees all of them.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := testcluster.New(t)
	m := c.StartMaster(testcluster.MasterOptions{DefaultReplication: "100", PulseSeconds: 1})
	cl := &cluster{t: t, c: c, master: m}
	for _, dc := range []string{"dc1", "dc1", "dc2"} {
		v := c.NewVolume(testcluster.VolumeOptions{Masters: m.Addr(), DataCenter: dc, Rack: "rack1", PulseSeconds: 1})
		v.StartNoWait()
		cl.volumes = append(cl.volumes, v)
	}
	for _, v := range cl.volumes {
		v.WaitReady()
	}
	c.WaitForNodes(m, len(cl.volumes))
	return cl
}

// startFiler starts a filer on the cluster with the walk-through's
// -defaultReplicaPlacement=100; o's zero fields take defaults.
func (cl *cluster) startFiler(o testcluster.FilerOptions) *testcluster.Process {
	cl.t.Helper()
	o.Master = cl.master.Addr()
	if o.Replication == "" {
		o.Replication = "100"
	}
	return cl.c.StartFiler(o)
}

// volumeCounts is the needles the volume servers hold, summed over all of
// them (a replicated needle counts once per copy).
type volumeCounts struct {
	// Files counts every needle written (FileCount).
	Files uint64
	// Live counts the needles written and not deleted.
	Live uint64
}

// counts reads every volume server's /status and sums its volumes.
func (cl *cluster) counts() volumeCounts {
	cl.t.Helper()
	var sum volumeCounts
	for _, v := range cl.volumes {
		var st struct {
			Volumes []struct {
				Id          uint32
				FileCount   uint64
				DeleteCount uint64
			}
		}
		if err := v.GetJSON("/status", &st); err != nil {
			cl.t.Fatalf("volume status: %v", err)
		}
		for _, vol := range st.Volumes {
			sum.Files += vol.FileCount
			sum.Live += vol.FileCount - vol.DeleteCount
		}
	}
	return sum
}

// needleStatuses GETs fid on every volume server without following
// redirects and returns each server's status code, by volume server name.
func (cl *cluster) needleStatuses(fid string) map[string]int {
	cl.t.Helper()
	out := map[string]int{}
	for _, v := range cl.volumes {
		r := httpDo(cl.t, http.MethodGet, v.URL("/"+fid), nil, nil)
		out[v.Name] = r.status
	}
	return out
}

// holders returns the names of the volume servers answering 200 for fid.
func (cl *cluster) holders(fid string) []string {
	cl.t.Helper()
	var hs []string
	for name, st := range cl.needleStatuses(fid) {
		if st == http.StatusOK {
			hs = append(hs, name)
		}
	}
	return hs
}

// requireGone fails unless every one of holders answers 404 for fid.
func (cl *cluster) requireGone(fid string, holders []string) {
	cl.t.Helper()
	st := cl.needleStatuses(fid)
	for _, h := range holders {
		if st[h] != http.StatusNotFound {
			cl.t.Errorf("needle %s on %s: status %d after delete, want 404", fid, h, st[h])
		}
	}
}

// httpClient talks like curl: no automatic gzip (so headers arrive as the
// server sent them) and no redirects followed.
var httpClient = &http.Client{
	Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16},
	Timeout:   2 * time.Minute,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// reply is a finished HTTP exchange.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// String describes the reply for failure messages.
func (r reply) String() string {
	b := r.body
	if len(b) > 300 {
		b = b[:300]
	}
	return fmt.Sprintf("%d %q", r.status, b)
}

// httpDo sends one request and reads the whole reply; headers is a map of
// request headers.
func httpDo(t testing.TB, method, url string, body io.Reader, headers map[string]string) reply {
	t.Helper()
	r, err := tryDo(method, url, body, headers)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

// tryDo is httpDo returning the error, for use off the test's goroutine.
func tryDo(method, url string, body io.Reader, headers map[string]string) (reply, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return reply{}, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("reading the reply: %w", err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// get GETs url.
func get(t testing.TB, url string) reply {
	t.Helper()
	return httpDo(t, http.MethodGet, url, nil, nil)
}

// put PUTs data as a raw body to url.
func put(t testing.TB, url string, data []byte) reply {
	t.Helper()
	return httpDo(t, http.MethodPut, url, bytes.NewReader(data), map[string]string{"Content-Type": "application/octet-stream"})
}

// del sends DELETE to url.
func del(t testing.TB, url string) reply {
	t.Helper()
	return httpDo(t, http.MethodDelete, url, nil, nil)
}

// formFile is one file of a multipart upload.
type formFile struct {
	name string
	mime string
	data []byte
}

// multipartBody encodes files as curl -F "filename=@name" does: each in a
// form field named "filename" with its file name and content type.
func multipartBody(t testing.TB, files ...formFile) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="filename"; filename="%s"`, f.name))
		if f.mime != "" {
			h.Set("Content-Type", f.mime)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		if _, err := w.Write(f.data); err != nil {
			t.Fatalf("multipart: %v", err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatalf("multipart: %v", err)
	}
	return &buf, mw.FormDataContentType()
}

// postFiles uploads files with one multipart POST to url.
func postFiles(t testing.TB, url string, files ...formFile) reply {
	t.Helper()
	body, ct := multipartBody(t, files...)
	return httpDo(t, http.MethodPost, url, body, map[string]string{"Content-Type": ct})
}

// writeReply is the filer's answer to a write of one file.
type writeReply struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// requireWritten checks that r is 201 {"name": name, "size": size}.
func requireWritten(t testing.TB, r reply, name string, size int) {
	t.Helper()
	if r.status != http.StatusCreated {
		t.Fatalf("write %s: %v, want 201", name, r)
	}
	var w writeReply
	if err := json.Unmarshal(r.body, &w); err != nil {
		t.Fatalf("write %s: reply %q: %v", name, r.body, err)
	}
	if w.Name != name || w.Size != int64(size) {
		t.Fatalf("write %s: reply %+v, want name %q size %d", name, w, name, size)
	}
}

// requireDeleted checks that r is 202 with the body {}.
func requireDeleted(t testing.TB, r reply) {
	t.Helper()
	if r.status != http.StatusAccepted || strings.TrimSpace(string(r.body)) != "{}" {
		t.Fatalf("delete: %v, want 202 {}", r)
	}
}

// requireBytes checks that r is 200 with exactly want as its body.
func requireBytes(t testing.TB, what string, r reply, want []byte) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: %v, want 200", what, r)
	}
	if !bytes.Equal(r.body, want) {
		t.Fatalf("%s: got %d bytes, want %d identical bytes", what, len(r.body), len(want))
	}
}

// listedFile is one file of a listing.
type listedFile struct {
	Name string `json:"name"`
	Fid  string `json:"fid"`
	Size int64  `json:"size"`
}

// listing is the filer's JSON directory listing.
type listing struct {
	Directory             string
	Files                 []listedFile
	Subdirectories        []string
	LastFileName          string
	ShouldDisplayLoadMore bool
}

// fileNames returns the names of l's files in order.
func (l listing) fileNames() []string {
	var names []string
	for _, f := range l.Files {
		names = append(names, f.Name)
	}
	return names
}

// file returns the listed file called name.
func (l listing) file(name string) (listedFile, bool) {
	for _, f := range l.Files {
		if f.Name == name {
			return f, true
		}
	}
	return listedFile{}, false
}

// list GETs the JSON listing at url (a directory URL; "?pretty=y" is added
// unless url has a query) and decodes it.
func list(t testing.TB, url string) listing {
	t.Helper()
	if !strings.Contains(url, "?") {
		url += "?pretty=y"
	}
	r := get(t, url)
	if r.status != http.StatusOK {
		t.Fatalf("list %s: %v", url, r)
	}
	var l listing
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("list %s: %q: %v", url, r.body, err)
	}
	return l
}

// requireJSONError checks that r has the given status and a JSON body
// {"error": "..."} with a non-empty message.
func requireJSONError(t testing.TB, what string, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: %v, want %d", what, r, status)
		return
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
		t.Errorf("%s: body %q is not a JSON error", what, r.body)
	}
}
