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
	"net/http"
	"strings"
	"testing"

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
		r := testcluster.Do(cl.t, testcluster.Plain, http.MethodGet, v.URL("/"+fid), nil, nil)
		out[v.Name] = r.Status
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

// get GETs url. This package's requests all go through testcluster.Plain,
// like curl's: no automatic gzip (so headers arrive as the server sent
// them) and no redirects followed.
func get(t testing.TB, url string) testcluster.Reply {
	t.Helper()
	return testcluster.Do(t, testcluster.Plain, http.MethodGet, url, nil, nil)
}

// put PUTs data as a raw body to url.
func put(t testing.TB, url string, data []byte) testcluster.Reply {
	t.Helper()
	return testcluster.Do(t, testcluster.Plain, http.MethodPut, url, bytes.NewReader(data), map[string]string{"Content-Type": "application/octet-stream"})
}

// del sends DELETE to url.
func del(t testing.TB, url string) testcluster.Reply {
	t.Helper()
	return testcluster.Do(t, testcluster.Plain, http.MethodDelete, url, nil, nil)
}

// postFiles uploads files with one multipart POST to url, each in the form
// field "filename" as curl -F "filename=@name;type=..." sends it.
func postFiles(t testing.TB, url string, files ...testcluster.FormFile) testcluster.Reply {
	t.Helper()
	parts := make([]testcluster.FormFile, len(files))
	for i, f := range files {
		f.Field = "filename"
		parts[i] = f
	}
	body, ct, err := testcluster.Multipart(parts...)
	if err != nil {
		t.Fatalf("multipart: %v", err)
	}
	return testcluster.Do(t, testcluster.Plain, http.MethodPost, url, body, map[string]string{"Content-Type": ct})
}

// writeReply is the filer's answer to a write of one file.
type writeReply struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// requireWritten checks that r is 201 {"name": name, "size": size}.
func requireWritten(t testing.TB, r testcluster.Reply, name string, size int) {
	t.Helper()
	if r.Status != http.StatusCreated {
		t.Fatalf("write %s: %v, want 201", name, r)
	}
	var w writeReply
	if err := json.Unmarshal(r.Body, &w); err != nil {
		t.Fatalf("write %s: reply %q: %v", name, r.Body, err)
	}
	if w.Name != name || w.Size != int64(size) {
		t.Fatalf("write %s: reply %+v, want name %q size %d", name, w, name, size)
	}
}

// requireDeleted checks that r is 202 with the body {}.
func requireDeleted(t testing.TB, r testcluster.Reply) {
	t.Helper()
	if r.Status != http.StatusAccepted || strings.TrimSpace(string(r.Body)) != "{}" {
		t.Fatalf("delete: %v, want 202 {}", r)
	}
}

// requireBytes checks that r is 200 with exactly want as its body.
func requireBytes(t testing.TB, what string, r testcluster.Reply, want []byte) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("%s: %v, want 200", what, r)
	}
	if !bytes.Equal(r.Body, want) {
		t.Fatalf("%s: got %d bytes, want %d identical bytes", what, len(r.Body), len(want))
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
	if r.Status != http.StatusOK {
		t.Fatalf("list %s: %v", url, r)
	}
	var l listing
	if err := json.Unmarshal(r.Body, &l); err != nil {
		t.Fatalf("list %s: %q: %v", url, r.Body, err)
	}
	return l
}

// requireJSONError checks that r has the given status and a JSON body
// {"error": "..."} with a non-empty message.
func requireJSONError(t testing.TB, what string, r testcluster.Reply, status int) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: %v, want %d", what, r, status)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Error == "" {
		t.Errorf("%s: body %q is not a JSON error", what, r.Body)
	}
}
