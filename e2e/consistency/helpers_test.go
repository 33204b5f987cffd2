// Package consistency holds the end-to-end tests of replica consistency
// (docs/consistency.md, SPEC §7): deletes with a replica down, rejoin
// sync, read repair, re-replication, durability across kill -9, weed
// backup, and a randomized test mixing writes, deletes and node failures.
// Every process is real (testcluster), on 127.0.0.1, with -pulseSeconds=1.
package consistency

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/testcluster"
	"github.com/weedfs/weed/volume"
)

// settle bounds waits for the cluster to reach a state. Generous: the
// machine is small and shared.
const settle = 45 * time.Second

// noFollow does not follow redirects.
var noFollow = &http.Client{
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// follow follows redirects like curl -L.
var follow = &http.Client{Timeout: 20 * time.Second}

// env is one test's cluster: a master and volume servers.
type env struct {
	t      *testing.T
	c      *testcluster.Cluster
	master *testcluster.Process
	vols   []*testcluster.Process
}

// newEnv starts a master with replication rep (and extra flags) and n
// volume servers, and waits until the master sees them all.
func newEnv(t *testing.T, rep string, n int, masterExtra []string, volumeExtra ...string) *env {
	t.Helper()
	c := testcluster.New(t)
	m := c.StartMaster(testcluster.MasterOptions{DefaultReplication: rep, Extra: masterExtra})
	e := &env{t: t, c: c, master: m}
	for range n {
		e.addVolume(volumeExtra...)
	}
	c.WaitForNodes(m, n)
	return e
}

// addVolume starts one more volume server.
func (e *env) addVolume(extra ...string) *testcluster.Process {
	e.t.Helper()
	args := append([]string{"-replication.antiEntropyInterval=0"}, extra...)
	p := e.c.StartVolume(testcluster.VolumeOptions{Masters: e.master.Addr(), Max: 20, Extra: args})
	e.vols = append(e.vols, p)
	return p
}

// byAddr returns the volume server at addr.
func (e *env) byAddr(addr string) *testcluster.Process {
	for _, v := range e.vols {
		if v.Addr() == addr {
			return v
		}
	}
	return nil
}

// stored is a file written to the cluster.
type stored struct {
	Fid  string
	Data []byte
}

// volumeOf returns the volume id of a fid.
func volumeOf(fid string) needle.VolumeID {
	f, err := needle.ParseFileID(fid)
	if err != nil {
		panic(err)
	}
	return f.Volume
}

// submit posts data through the master's /submit and returns the fid.
func submit(master, name string, data []byte) (string, error) {
	body, ct, err := multipartBody(name, data)
	if err != nil {
		return "", err
	}
	resp, err := follow.Post("http://"+master+"/submit", ct, body)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("submit %s: %d %s", name, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var r struct {
		Fid string `json:"fid"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return "", fmt.Errorf("submit %s: %w", name, err)
	}
	return r.Fid, nil
}

// assignResult is /dir/assign's answer.
type assignResult struct {
	Fid   string `json:"fid"`
	URL   string `json:"url"`
	Count int    `json:"count"`
}

// assign asks the master for count fids.
func assign(master string, count int) (assignResult, error) {
	var a assignResult
	resp, err := follow.Get(fmt.Sprintf("http://%s/dir/assign?count=%d", master, count))
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return a, fmt.Errorf("assign: %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return a, json.Unmarshal(b, &a)
}

// upload posts data to a volume server.
func upload(addr, fid string, data []byte) error {
	body, ct, err := multipartBody("f.txt", data)
	if err != nil {
		return err
	}
	resp, err := noFollow.Post("http://"+addr+"/"+fid, ct, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("upload %s to %s: %d %s", fid, addr, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

func multipartBody(name string, data []byte) (*bytes.Buffer, string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		return nil, "", err
	}
	if _, err := fw.Write(data); err != nil {
		return nil, "", err
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return &buf, mw.FormDataContentType(), nil
}

// httpReply is a finished exchange.
type httpReply struct {
	status int
	body   []byte
	loc    string
}

func (r httpReply) String() string {
	return fmt.Sprintf("%d %q", r.status, truncate(r.body))
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

// do sends one request and reads the reply.
func do(hc *http.Client, method, target string) (httpReply, error) {
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		return httpReply{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return httpReply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return httpReply{}, err
	}
	return httpReply{status: resp.StatusCode, body: b, loc: resp.Header.Get("Location")}, nil
}

// deleteFid deletes fid on the volume server at addr (a DELETE the way
// curl -X DELETE sends it, following a 301 with another DELETE).
func deleteFid(addr, fid string) (httpReply, error) {
	target := "http://" + addr + "/" + fid
	for range 3 {
		r, err := do(noFollow, http.MethodDelete, target)
		if err != nil || r.status != http.StatusMovedPermanently {
			return r, err
		}
		target = r.loc
	}
	return httpReply{}, fmt.Errorf("delete %s: too many redirects", fid)
}

// deleteThroughMaster is `curl -L -X DELETE http://master/<fid>`.
func deleteThroughMaster(master, fid string) (httpReply, error) {
	r, err := do(noFollow, http.MethodDelete, "http://"+master+"/"+fid)
	if err != nil || r.status != http.StatusMovedPermanently {
		return r, err
	}
	u, err := url.Parse(r.loc)
	if err != nil {
		return r, err
	}
	return deleteFid(u.Host, fid)
}

// replicaInfo is one replica in the master's fan-out view.
type replicaInfo struct {
	URL     string `json:"url"`
	Syncing bool   `json:"syncing"`
	Stale   bool   `json:"stale"`
}

// replicas returns the master's fan-out view of a volume (every replica
// it knows, syncing and stale ones flagged).
func (e *env) replicas(vid needle.VolumeID) []replicaInfo {
	var r struct {
		Locations []replicaInfo `json:"locations"`
	}
	resp, err := noFollow.Get(fmt.Sprintf("http://%s/dir/lookup?volumeId=%d&syncing=true", e.master.Addr(), vid))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	if json.NewDecoder(resp.Body).Decode(&r) != nil {
		return nil
	}
	return r.Locations
}

// readLocations returns the master's read view of a volume.
func (e *env) readLocations(vid needle.VolumeID) []string {
	var r struct {
		Locations []struct {
			URL string `json:"url"`
		} `json:"locations"`
	}
	resp, err := noFollow.Get(fmt.Sprintf("http://%s/dir/lookup?volumeId=%d", e.master.Addr(), vid))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&r) != nil {
		return nil
	}
	var out []string
	for _, l := range r.Locations {
		out = append(out, l.URL)
	}
	slices.Sort(out)
	return out
}

// allHealthy reports whether every volume in vids has exactly copies
// replicas in the master's view, none syncing or stale.
func (e *env) allHealthy(vids []needle.VolumeID, copies int) bool {
	for _, vid := range vids {
		reps := e.replicas(vid)
		if len(reps) != copies {
			return false
		}
		for _, r := range reps {
			if r.Syncing || r.Stale {
				return false
			}
		}
	}
	return true
}

// volumeStatus is a volume server's /status.
type volumeStatus struct {
	Volumes []struct {
		Id      needle.VolumeID
		Syncing bool
	}
}

// heldBy returns the volume ids a volume server reports.
func heldBy(p *testcluster.Process) ([]needle.VolumeID, error) {
	var st volumeStatus
	if err := p.GetJSON("/status", &st); err != nil {
		return nil, err
	}
	var out []needle.VolumeID
	for _, v := range st.Volumes {
		out = append(out, v.Id)
	}
	return out, nil
}

// digest fetches a volume server's digest of a volume.
func digest(addr string, vid needle.VolumeID) (volume.Digest, error) {
	var d volume.Digest
	resp, err := noFollow.Get(fmt.Sprintf("http://%s%s?volume=%d", addr, volume.SyncDigestPath, vid))
	if err != nil {
		return d, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return d, fmt.Errorf("digest of %d on %s: %d %s", vid, addr, resp.StatusCode, b)
	}
	return d, json.NewDecoder(resp.Body).Decode(&d)
}

// readDirect reads fid from addr without following redirects.
func readDirect(addr, fid string) (httpReply, error) {
	return do(noFollow, http.MethodGet, "http://"+addr+"/"+fid)
}

// readFollow reads fid from addr following redirects.
func readFollow(addr, fid string) (httpReply, error) {
	return do(follow, http.MethodGet, "http://"+addr+"/"+fid)
}

// uniqueVolumes returns the sorted distinct volumes of files.
func uniqueVolumes(files []stored) []needle.VolumeID {
	var out []needle.VolumeID
	for _, f := range files {
		if vid := volumeOf(f.Fid); !slices.Contains(out, vid) {
			out = append(out, vid)
		}
	}
	slices.Sort(out)
	return out
}
