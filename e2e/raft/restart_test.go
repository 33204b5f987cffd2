package raft

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/testcluster"
)

// TestRestartAllMasters kills all three masters with -9 and starts them
// again from their -mdir: the file-key high-water mark and the highest
// volume id come back from the Raft state, not from the volume servers.
// The highest keys were only assigned, never uploaded, and the volumes with
// the highest ids were deleted before the kill, so no heartbeat can bring
// them back.
func TestRestartAllMasters(t *testing.T) {
	_, ms, _ := startGroup(t)
	leader, _ := waitLeaderAmong(t, ms, leaderBound)
	ledger := newFidLedger()

	// Files in the default collection, then assigns only, through every
	// master, one of them reserving a block of keys.
	var files []storedFile
	for i := 0; i < 10; i++ {
		a, err := assignOnce(ledger, ms[i%3].Addr(), nil)
		if err != nil {
			t.Fatal(err)
		}
		data := []byte(fmt.Sprintf("kept across the restart %d", i))
		if err := testcluster.Upload(a.URL, a.Fid, "k.txt", data); err != nil {
			t.Fatal(err)
		}
		files = append(files, storedFile{Fid: a.Fid, Data: data})
	}
	for i := 0; i < 30; i++ {
		q := url.Values{}
		if i == 20 {
			q.Set("count", "500")
		}
		if _, err := assignOnce(ledger, ms[i%3].Addr(), q); err != nil {
			t.Fatal(err)
		}
	}
	// The highest volume ids: a collection grown and deleted again.
	var grown struct {
		Count int `json:"count"`
	}
	status, err := doJSON(http.MethodGet, "http://"+ms[1].Addr()+"/vol/grow?collection=doomed&count=3", nil, "", &grown)
	if err != nil || status != http.StatusOK || grown.Count != 3 {
		t.Fatalf("grow doomed: %d %+v %v", status, grown, err)
	}
	st, err := getVolStatus(leader.Addr())
	if err != nil {
		t.Fatal(err)
	}
	var allIDs []needle.VolumeID
	for id := range st.records() {
		allIDs = append(allIDs, id)
	}
	maxVid := slices.Max(allIDs)
	if doomed := st.collectionVolumes("doomed"); !slices.Contains(doomed, maxVid) {
		t.Fatalf("the highest volume id %d is not in the doomed collection %v", maxVid, doomed)
	}
	status, err = doJSON(http.MethodGet, "http://"+ms[2].Addr()+"/col/delete?collection=doomed", nil, "", nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("col/delete doomed: %d %v", status, err)
	}
	maxKey := ledger.highest()
	t.Logf("before the restart: highest key %d, highest volume id %d (deleted)", maxKey, maxVid)

	// kill -9 every master, then start them all from their -mdir.
	for _, m := range ms {
		m.Kill()
	}
	for _, m := range ms {
		if _, err := os.Stat(filepath.Join(m.Dir, "raft.db")); err != nil {
			t.Errorf("%s: no Raft state in -mdir: %v", m.Name, err)
		}
	}
	restarted := time.Now()
	for _, m := range ms {
		m.StartNoWait()
	}
	for _, m := range ms {
		m.WaitReady()
	}
	newLeader, seen := waitLeaderAmong(t, ms, leaderBound)
	t.Logf("MEASURED leader %s elected %v after all three masters were started again", newLeader.Addr(), seen.Sub(restarted).Round(time.Millisecond))
	if err := testcluster.WaitForNodeCount(newLeader.Addr(), 2, settleBound); err != nil {
		t.Fatal(err)
	}

	// The next assign, through each master, is above every earlier key.
	for _, m := range ms {
		a, err := assignRetry(ledger, []string{m.Addr()}, nil, assignBound)
		if err != nil {
			t.Fatalf("assign through %s after the restart: %v", m.Name, err)
		}
		f, _ := needle.ParseFileID(a.Fid)
		if f.Key <= maxKey {
			t.Errorf("key %d assigned after the restart is not above %d, the highest before", f.Key, maxKey)
		}
	}
	// A growth gives ids above every earlier one, deleted ones included.
	a, err := assignRetry(ledger, []string{ms[0].Addr()}, url.Values{"collection": {"afterrestart"}}, assignBound)
	if err != nil {
		t.Fatalf("assign in a new collection after the restart: %v", err)
	}
	st, err = getVolStatus(newLeader.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fresh := st.collectionVolumes("afterrestart")
	if len(fresh) != growthOf001 {
		t.Errorf("new collection has volumes %v, want %d", fresh, growthOf001)
	}
	for _, id := range fresh {
		if id <= maxVid {
			t.Errorf("volume %d grown after the restart is not above %d, the highest before", id, maxVid)
		}
	}
	t.Logf("after the restart: assign %s, new volumes %v", a.Fid, fresh)

	// Files written before are still there, through every master.
	for _, f := range files {
		for _, m := range ms {
			if err := readThroughMaster(m.Addr(), f.Fid, f.Data); err != nil {
				t.Error(err)
			}
		}
	}
	ledger.check(t)
}
