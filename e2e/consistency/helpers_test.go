// Package consistency holds the end-to-end tests of replica consistency
// (docs/consistency.md, SPEC §7): deletes with a replica down, rejoin
// sync, read repair, re-replication, durability across kill -9, weed
// backup, and a randomized test mixing writes, deletes and node failures.
// Every process is real (testcluster), on 127.0.0.1, with -pulseSeconds=1.
package consistency

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/testcluster"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/wire"
)

// env is one test's cluster: a master (or a Raft group of masters) and
// volume servers.
type env struct {
	t       *testing.T
	c       *testcluster.Cluster
	master  *testcluster.Process   // the master tests talk to
	masters []*testcluster.Process // every master; just master for a one-node group
	vols    []*testcluster.Process
}

// newEnv starts a master with replication rep (and extra flags) and n
// volume servers, and waits until the master sees them all.
func newEnv(t *testing.T, rep string, n int, masterExtra []string, volumeExtra ...string) *env {
	t.Helper()
	c := testcluster.New(t)
	m := c.StartMaster(testcluster.MasterOptions{DefaultReplication: rep, Extra: masterExtra})
	e := &env{t: t, c: c, master: m, masters: []*testcluster.Process{m}}
	for range n {
		e.addVolume(volumeExtra...)
	}
	c.WaitForNodes(m, n)
	return e
}

// newEnvGroup is newEnv with a Raft group of nm masters and one volume
// server per entry of dirs, its -dir (empty: a fresh directory); every
// volume server is given all the masters, and master is the first leader.
func newEnvGroup(t *testing.T, rep string, nm int, dirs []string, masterExtra []string, volumeExtra ...string) *env {
	t.Helper()
	c := testcluster.New(t)
	ms := c.StartMasters(nm, testcluster.MasterOptions{DefaultReplication: rep, Extra: masterExtra})
	e := &env{t: t, c: c, master: c.WaitForLeader(ms, testcluster.StartTimeout), masters: ms}
	for _, dir := range dirs {
		e.addVolumeIn(dir, volumeExtra...)
	}
	c.WaitForNodes(e.master, len(dirs))
	return e
}

// masterList returns the -mserver value naming every master.
func (e *env) masterList() string {
	addrs := make([]string, len(e.masters))
	for i, m := range e.masters {
		addrs[i] = m.Addr()
	}
	return strings.Join(addrs, ",")
}

// addVolume starts one more volume server.
func (e *env) addVolume(extra ...string) *testcluster.Process {
	e.t.Helper()
	return e.addVolumeIn("", extra...)
}

// addVolumeIn starts one more volume server on -dir=dir (empty: a fresh
// directory).
func (e *env) addVolumeIn(dir string, extra ...string) *testcluster.Process {
	e.t.Helper()
	args := append([]string{"-replication.antiEntropyInterval=0"}, extra...)
	p := e.c.StartVolume(testcluster.VolumeOptions{Masters: e.masterList(), Max: 20, Dir: dir, Extra: args})
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
	resp, err := testcluster.NoFollow.Get(fmt.Sprintf("http://%s/dir/lookup?volumeId=%d&syncing=true", e.master.Addr(), vid))
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

// readLocations returns the master's read view of a volume, sorted; nil
// when the master does not answer 200.
func (e *env) readLocations(vid needle.VolumeID) []string {
	l, err := testcluster.Lookup(e.master.Addr(), vid.String())
	if err != nil || l.Reply.Status != http.StatusOK {
		return nil
	}
	return l.URLs()
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
	resp, err := testcluster.NoFollow.Get(fmt.Sprintf("http://%s%s?volume=%d", addr, wire.SyncDigestPath, vid))
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
