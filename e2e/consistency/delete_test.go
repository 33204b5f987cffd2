package consistency

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/weedfs/weed/testcluster"
)

// rejoinBound is how soon after a replica's restart every read path must
// agree with the acknowledged deletes and writes (the 5 seconds).
const rejoinBound = 5 * time.Second

// TestDeleteWithReplicaDown is walk-through 四.2 done right: two replicas
// (001), one stopped, three of five files deleted (one while the master
// still lists the stopped replica, two after it dropped it), the replica
// restarted. From its restart on, no read by any path (that replica's URL,
// the other's, master redirects) returns a deleted file, and within five
// seconds the two other files are served by both replicas directly.
func TestDeleteWithReplicaDown(t *testing.T) {
	e := newEnv(t, "001", 2, nil)
	v1, v2 := e.vols[0], e.vols[1]
	var files []stored
	for i := range 5 {
		data := []byte(fmt.Sprintf("hello weed-fs %d!\n", i))
		sub, err := testcluster.Submit(e.master.Addr(), fmt.Sprintf("hello%d.txt", i), data, "")
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, stored{sub.Fid, data})
	}
	vids := uniqueVolumes(files)
	for _, f := range files {
		for _, v := range e.vols {
			if r, err := testcluster.ReadDirect(v.Addr(), f.Fid); err != nil || r.Status != http.StatusOK {
				t.Fatalf("%s on %s before the outage: %v %v", f.Fid, v.Name, r, err)
			}
		}
	}

	v2.Stop()
	// The master still lists v2: the delete cannot reach it and marks it
	// stale before it is acknowledged.
	r, err := testcluster.Delete(v1.Addr(), files[0].Fid)
	if err != nil || r.Status != http.StatusAccepted {
		t.Fatalf("delete %s with v2 down: %v %v", files[0].Fid, r, err)
	}
	var del struct {
		Size int `json:"size"`
	}
	if err := json.Unmarshal(r.Body, &del); err != nil || del.Size != len(files[0].Data) {
		t.Fatalf("delete reply %s, want {\"size\":%d}", r, len(files[0].Data))
	}
	// Once the master dropped v2, deletes go through it as weed-fs users
	// send them: curl -L -X DELETE http://master/<fid>.
	if !testcluster.Eventually(testcluster.Settle, func() bool {
		for _, vid := range vids {
			if reps := e.replicas(vid); len(reps) != 1 {
				return false
			}
		}
		return true
	}) {
		t.Fatal("the master still lists the stopped replica")
	}
	for _, f := range files[1:3] {
		r, err := testcluster.DeleteThroughMaster(e.master.Addr(), f.Fid)
		if err != nil || r.Status != http.StatusAccepted {
			t.Fatalf("delete %s through the master with v2 gone: %v %v", f.Fid, r, err)
		}
	}
	deleted, kept := files[:3], files[3:]
	var marks map[string]any
	if err := e.master.GetJSON("/admin/stale/list", &marks); err == nil {
		t.Logf("stale marks before the restart: %v", marks)
	}

	v2.Start()
	restarted := time.Now()
	var servedAt time.Duration
	paths := func(fid string) map[string]func() (testcluster.Reply, error) {
		return map[string]func() (testcluster.Reply, error){
			"v2 direct":       func() (testcluster.Reply, error) { return testcluster.ReadDirect(v2.Addr(), fid) },
			"v2 -L":           func() (testcluster.Reply, error) { return testcluster.ReadFollow(v2.Addr(), fid) },
			"v1 direct":       func() (testcluster.Reply, error) { return testcluster.ReadDirect(v1.Addr(), fid) },
			"master redirect": func() (testcluster.Reply, error) { return testcluster.ReadFollow(e.master.Addr(), fid) },
		}
	}
	rounds := 0
	var healthyAt time.Duration
	for time.Since(restarted) < rejoinBound || servedAt == 0 || healthyAt == 0 {
		if time.Since(restarted) > testcluster.Settle {
			t.Fatalf("v2 did not serve the kept files directly, or the volumes are not healthy, within %v", testcluster.Settle)
		}
		rounds++
		for _, f := range deleted {
			for name, read := range paths(f.Fid) {
				r, err := read()
				if err == nil && r.Status == http.StatusOK {
					t.Fatalf("%v after the restart: %s (%s) returned the deleted %s: %v", time.Since(restarted), name, v2.Addr(), f.Fid, r)
				}
			}
		}
		direct := true
		for _, f := range kept {
			for name, read := range paths(f.Fid) {
				r, err := read()
				if name == "v2 direct" {
					direct = direct && err == nil && r.Status == http.StatusOK && string(r.Body) == string(f.Data)
					continue
				}
				if err != nil || r.Status != http.StatusOK || string(r.Body) != string(f.Data) {
					t.Errorf("%v after the restart: %s read of kept %s: %v %v", time.Since(restarted), name, f.Fid, r, err)
				}
			}
		}
		if direct && servedAt == 0 {
			servedAt = time.Since(restarted)
		}
		if healthyAt == 0 && e.allHealthy(vids, 2) {
			healthyAt = time.Since(restarted)
		}
	}
	t.Logf("MEASURED every volume synced and routed to both replicas %v after v2 answered again", healthyAt.Round(time.Millisecond))
	if healthyAt > rejoinBound {
		t.Errorf("volumes healthy on both replicas only %v after the restart, want within %v", healthyAt, rejoinBound)
	}
	t.Logf("MEASURED v2 served the kept files itself %v after its restart (%d read rounds, no deleted file seen)", servedAt.Round(time.Millisecond), rounds)
	if servedAt > rejoinBound {
		t.Errorf("v2 served the kept files directly only %v after its restart, want within %v", servedAt, rejoinBound)
	}
	for _, vid := range vids {
		d1, err1 := digest(v1.Addr(), vid)
		d2, err2 := digest(v2.Addr(), vid)
		if err1 != nil || err2 != nil || d1 != d2 {
			t.Errorf("volume %d: replicas differ after the sync (%v %v)", vid, err1, err2)
		}
	}
}
