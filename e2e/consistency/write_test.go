package consistency

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/weedfs/weed/testcluster"
)

// TestWriteWithReplicaDown writes while one of three volume servers (001)
// is stopped: first while the master still lists it (a write to one of
// its volumes fails and leaves nothing readable anywhere), then after the
// master dropped it (every write lands on a volume whose two replicas are
// up). Once the server is back and synced, every acknowledged write reads
// back from every replica and no failed one from any.
func TestWriteWithReplicaDown(t *testing.T) {
	e := newEnv(t, "001", 3, nil)
	v2 := e.vols[1]
	var ok []stored
	for i := range 6 {
		data := []byte(fmt.Sprintf("before the outage %d", i))
		sub, err := testcluster.Submit(e.master.Addr(), "b.txt", data, "")
		if err != nil {
			t.Fatal(err)
		}
		ok = append(ok, stored{sub.Fid, data})
	}

	v2.Stop()
	var failed []string
	write := func(tag string, i int) (stored, error) {
		a, err := testcluster.Assign(e.master.Addr(), "count=1")
		if err != nil {
			return stored{}, err
		}
		data := []byte(fmt.Sprintf("%s %d", tag, i))
		err = testcluster.Upload(a.URL, a.Fid, "f.txt", data)
		if err != nil {
			failed = append(failed, a.Fid)
		}
		return stored{a.Fid, data}, err
	}
	// Before the master drops v2, writes to its volumes fail.
	for i := range 10 {
		s, err := write("while listed", i)
		if err != nil {
			t.Logf("write %s while v2 is still listed: %v", s.Fid, err)
			continue
		}
		ok = append(ok, s)
	}
	for _, fid := range failed {
		for _, v := range e.vols {
			if v == v2 {
				continue
			}
			if r, err := testcluster.ReadDirect(v.Addr(), fid); err == nil && r.Status == http.StatusOK {
				t.Errorf("the failed write %s reads from %s: %v", fid, v.Name, r)
			}
		}
	}
	if !testcluster.Eventually(testcluster.Settle, func() bool {
		var st struct {
			Topology struct {
				DataCenters []struct {
					Racks []struct {
						DataNodes []struct{ Url string }
					}
				}
			}
		}
		if err := e.master.GetJSON("/dir/status", &st); err != nil {
			return false
		}
		for _, dc := range st.Topology.DataCenters {
			for _, r := range dc.Racks {
				for _, n := range r.DataNodes {
					if n.Url == v2.Addr() {
						return false
					}
				}
			}
		}
		return true
	}) {
		t.Fatal("the master did not drop the stopped server")
	}
	// After: every write lands on a volume both of whose replicas are up.
	for i := range 10 {
		s, err := write("after the drop", i)
		if err != nil {
			t.Fatalf("write %s after the master dropped v2: %v", s.Fid, err)
		}
		reps := e.replicas(volumeOf(s.Fid))
		if len(reps) != 2 || slices.ContainsFunc(reps, func(r replicaInfo) bool { return r.URL == v2.Addr() }) {
			t.Errorf("write %s landed on volume %d with replicas %v", s.Fid, volumeOf(s.Fid), reps)
		}
		ok = append(ok, s)
	}
	t.Logf("%d writes acknowledged, %d failed while v2 was down", len(ok)-6, len(failed))

	v2.Start()
	vids := uniqueVolumes(ok)
	if !testcluster.Eventually(testcluster.Settle, func() bool { return e.allHealthy(vids, 2) }) {
		t.Fatalf("volumes %v not healthy after v2 came back", vids)
	}
	if err := testcluster.Poll(rejoinBound, func() error {
		var bad error
		for _, s := range ok {
			for _, rep := range e.replicas(volumeOf(s.Fid)) {
				if r, err := testcluster.ReadDirect(rep.URL, s.Fid); err != nil || r.Status != http.StatusOK || string(r.Body) != string(s.Data) {
					bad = fmt.Errorf("%s on %s: %v %v", s.Fid, rep.URL, r, err)
				}
			}
		}
		return bad
	}); err != nil {
		t.Fatalf("acknowledged write not on every replica: %v", err)
	}
	for _, fid := range failed {
		for _, v := range e.vols {
			if r, err := testcluster.ReadDirect(v.Addr(), fid); err == nil && r.Status == http.StatusOK {
				t.Errorf("the failed write %s reads from %s after the sync: %v", fid, v.Name, r)
			}
		}
	}
}
