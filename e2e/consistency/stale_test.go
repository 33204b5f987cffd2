package consistency

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/testcluster"
)

// dirStatusNodes returns, per data node of the master's /dir/status, the
// volumes it lists as syncing and as stale.
func dirStatusNodes(e *env) (syncing, stale map[string][]needle.VolumeID) {
	var st struct {
		Topology struct {
			DataCenters []struct {
				Racks []struct {
					DataNodes []struct {
						Url     string
						Syncing []needle.VolumeID
						Stale   []needle.VolumeID
					}
				}
			}
		}
	}
	syncing, stale = map[string][]needle.VolumeID{}, map[string][]needle.VolumeID{}
	if err := e.master.GetJSON("/dir/status", &st); err != nil {
		return nil, nil
	}
	for _, dc := range st.Topology.DataCenters {
		for _, r := range dc.Racks {
			for _, n := range r.DataNodes {
				syncing[n.Url], stale[n.Url] = n.Syncing, n.Stale
			}
		}
	}
	return syncing, stale
}

// TestStaleReplicaWaitsForItsPeer: B is stopped, a file is deleted on A,
// A is stopped, B comes back alone. B was marked stale for that volume, so
// it stays syncing (listed so in /dir/status) and serves none of it, while
// its volumes that missed nothing turn healthy alone. When A returns, both
// sync, and the deleted file is gone from both.
func TestStaleReplicaWaitsForItsPeer(t *testing.T) {
	e := newEnv(t, "001", 2, nil)
	a, b := e.vols[0], e.vols[1]
	var files []stored
	for i := range 8 {
		data := []byte(fmt.Sprintf("file %d", i))
		sub, err := testcluster.Submit(e.master.Addr(), "s.txt", data, "")
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, stored{sub.Fid, data})
	}
	victim := files[0]
	vid := volumeOf(victim.Fid)
	var other *stored
	for i := range files {
		if volumeOf(files[i].Fid) != vid {
			other = &files[i]
			break
		}
	}

	b.Stop()
	if r, err := testcluster.Delete(a.Addr(), victim.Fid); err != nil || r.Status != http.StatusAccepted {
		t.Fatalf("delete with b down: %v %v", r, err)
	}
	a.Stop()
	b.Start()

	// B holds the deleted needle but knows it is stale: it must wait.
	if !testcluster.Eventually(testcluster.Settle, func() bool {
		syncing, stale := dirStatusNodes(e)
		return slices.Contains(syncing[b.Addr()], vid) && slices.Contains(stale[b.Addr()], vid)
	}) {
		syncing, stale := dirStatusNodes(e)
		t.Fatalf("/dir/status does not list volume %d of %s as syncing and stale: %v %v", vid, b.Addr(), syncing, stale)
	}
	if other != nil && !testcluster.Eventually(testcluster.Settle, func() bool {
		r, err := testcluster.ReadDirect(b.Addr(), other.Fid)
		return err == nil && r.Status == http.StatusOK
	}) {
		t.Errorf("volume %d, which missed nothing, does not serve alone", volumeOf(other.Fid))
	}
	until := time.Now().Add(3 * time.Second)
	for time.Now().Before(until) {
		for name, read := range map[string]func() (testcluster.Reply, error){
			"b direct":        func() (testcluster.Reply, error) { return testcluster.ReadDirect(b.Addr(), victim.Fid) },
			"master redirect": func() (testcluster.Reply, error) { return testcluster.ReadFollow(e.master.Addr(), victim.Fid) },
		} {
			if r, err := read(); err == nil && r.Status == http.StatusOK {
				t.Fatalf("%s returned the deleted %s while its only up-to-date replica is down: %v", name, victim.Fid, r)
			}
		}
		if r, err := testcluster.ReadDirect(b.Addr(), files[1].Fid); err == nil && r.Status == http.StatusOK && volumeOf(files[1].Fid) == vid {
			t.Fatalf("the stale volume %d served %s", vid, files[1].Fid)
		}
		time.Sleep(100 * time.Millisecond)
	}

	a.Start()
	vids := uniqueVolumes(files)
	if !testcluster.Eventually(testcluster.Settle, func() bool { return e.allHealthy(vids, 2) }) {
		syncing, stale := dirStatusNodes(e)
		t.Fatalf("not healthy after a returned: syncing %v stale %v", syncing, stale)
	}
	for _, v := range []*testcluster.Process{a, b} {
		if r, err := testcluster.ReadDirect(v.Addr(), victim.Fid); err != nil || r.Status != http.StatusNotFound {
			t.Errorf("deleted %s on %s: %v %v", victim.Fid, v.Name, r, err)
		}
		for _, f := range files[1:] {
			if r, err := testcluster.ReadDirect(v.Addr(), f.Fid); err != nil || r.Status != http.StatusOK || string(r.Body) != string(f.Data) {
				t.Errorf("%s on %s: %v %v", f.Fid, v.Name, r, err)
			}
		}
	}
}
