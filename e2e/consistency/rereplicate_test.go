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

// repairAfter is the master's -replication.repairAfter in these tests.
const repairAfter = 5 * time.Second

// TestReReplication kills one of three volume servers (001) for longer
// than repairAfter: each of its volumes is copied from the surviving
// replica to the third server and served there. When the killed server
// comes back, the extra copies are dropped: every volume again has exactly
// two copies, and every file reads from both.
func TestReReplication(t *testing.T) {
	e := newEnv(t, "001", 3, []string{"-replication.repairAfter=" + repairAfter.String()})
	var files []stored
	for i := range 12 {
		data := []byte(fmt.Sprintf("re-replicated file %d", i))
		sub, err := testcluster.Submit(e.master.Addr(), "r.txt", data, "")
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, stored{sub.Fid, data})
	}
	v2 := e.vols[1]
	lostVols, err := heldBy(v2)
	if err != nil {
		t.Fatal(err)
	}
	all := uniqueVolumes(files)
	t.Logf("files on volumes %v; %s holds %v", all, v2.Name, lostVols)

	v2.Kill()
	killed := time.Now()
	healthyWithout := func() bool {
		for _, vid := range lostVols {
			reps := e.replicas(vid)
			if len(reps) != 2 {
				return false
			}
			for _, r := range reps {
				if r.URL == v2.Addr() || r.Syncing || r.Stale {
					return false
				}
			}
		}
		return true
	}
	if !testcluster.Eventually(repairAfter+testcluster.Settle, healthyWithout) {
		for _, vid := range lostVols {
			t.Logf("volume %d: %v", vid, e.replicas(vid))
		}
		t.Fatalf("the volumes of the killed server were not re-replicated")
	}
	took := time.Since(killed)
	t.Logf("MEASURED %d volumes re-replicated %v after the kill (repairAfter %v)", len(lostVols), took.Round(time.Millisecond), repairAfter)
	if took < repairAfter {
		t.Errorf("re-replicated %v after the kill, before repairAfter %v", took, repairAfter)
	}
	readEverywhere := func(when string) {
		for _, f := range files {
			for _, rep := range e.replicas(volumeOf(f.Fid)) {
				r, err := testcluster.ReadDirect(rep.URL, f.Fid)
				if err != nil || r.Status != http.StatusOK || string(r.Body) != string(f.Data) {
					t.Errorf("%s: %s from %s: %v %v", when, f.Fid, rep.URL, r, err)
				}
			}
		}
	}
	readEverywhere("after re-replication")

	v2.Start()
	copies := func() map[needle.VolumeID]int {
		n := map[needle.VolumeID]int{}
		for _, v := range e.vols {
			held, err := heldBy(v)
			if err != nil {
				return nil
			}
			for _, vid := range held {
				n[vid]++
			}
		}
		return n
	}
	exact := func() bool {
		n := copies()
		if n == nil {
			return false
		}
		for vid, c := range n {
			if c != 2 || !e.allHealthy([]needle.VolumeID{vid}, 2) {
				return false
			}
		}
		return true
	}
	if !testcluster.Eventually(testcluster.Settle, exact) {
		t.Fatalf("copy counts after the node came back: %v", copies())
	}
	held, _ := heldBy(v2)
	t.Logf("after its return %s holds %v (held %v before the kill)", v2.Name, held, lostVols)
	for _, vid := range lostVols {
		if slices.Contains(held, vid) {
			t.Errorf("volume %d was re-replicated but %s kept its old copy", vid, v2.Name)
		}
	}
	readEverywhere("after the node came back")
	for _, f := range files {
		if r, err := testcluster.ReadFollow(e.master.Addr(), f.Fid); err != nil || r.Status != http.StatusOK {
			t.Errorf("%s through the master: %v %v", f.Fid, r, err)
		}
	}
}
