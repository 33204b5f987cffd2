package topology

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/weedfs/weed/needle"
)

// TestStaleReplicas: a replica the stale check names leaves the read view,
// makes its volume unwritable and shows in the node status, until the
// check clears it.
func TestStaleReplicas(t *testing.T) {
	topo := newTopology(t, Config{})
	a := node{port: 8081, dc: "dc1", rack: "r1", max: 5}
	b := node{port: 8082, dc: "dc1", rack: "r1", max: 5}
	var mu sync.Mutex
	stale := map[string]bool{}
	topo.SetStaleCheck(func(vid needle.VolumeID, url string) bool {
		mu.Lock()
		defer mu.Unlock()
		return vid == 3 && stale[url]
	})
	mustBeat(t, topo, beat(a, vol(3, "001")), t0)
	mustBeat(t, topo, beat(b, vol(3, "001")), t0)
	if w := writables(topo, "", "001"); !slices.Equal(w, []needle.VolumeID{3}) {
		t.Fatalf("writables %v", w)
	}
	mu.Lock()
	stale[b.url()] = true
	mu.Unlock()
	topo.RefreshStale(3)
	locs, err := topo.Lookup(3)
	if err != nil || !slices.Equal(urls(locs), []string{a.url()}) {
		t.Fatalf("read view with b stale: %v %v", urls(locs), err)
	}
	if w := writables(topo, "", "001"); len(w) != 0 {
		t.Fatalf("writables with a stale replica: %v", w)
	}
	view, _ := topo.Volume(3)
	if len(view.Replicas) != 2 || !view.Replicas[1].Stale || view.Replicas[0].Stale {
		t.Fatalf("fan-out view %+v", view.Replicas)
	}
	if got := topo.StaleVolumes(b.url()); !slices.Equal(got, []needle.VolumeID{3}) {
		t.Fatalf("StaleVolumes(b) = %v", got)
	}
	st := topo.DirStatus()
	var seen []needle.VolumeID
	for _, dc := range st.DataCenters {
		for _, r := range dc.Racks {
			for _, n := range r.DataNodes {
				if n.URL == b.url() {
					seen = n.Stale
				}
			}
		}
	}
	if !slices.Equal(seen, []needle.VolumeID{3}) {
		t.Fatalf("/dir/status Stale of b = %v", seen)
	}
	// A heartbeat re-registers the replica: still stale.
	mustBeat(t, topo, beat(b, vol(3, "001")), t0)
	if locs, _ := topo.Lookup(3); len(locs) != 1 {
		t.Fatalf("read view after b's heartbeat: %v", urls(locs))
	}
	mu.Lock()
	stale[b.url()] = false
	mu.Unlock()
	topo.RefreshStale()
	if locs, _ := topo.Lookup(3); len(locs) != 2 {
		t.Fatalf("read view after the mark cleared: %v", urls(locs))
	}
	if w := writables(topo, "", "001"); !slices.Equal(w, []needle.VolumeID{3}) {
		t.Fatalf("writables after the mark cleared: %v", w)
	}
}

// TestSyncingInDirStatus: a replica that reports syncing is listed on its
// node and left out of the read view.
func TestSyncingInDirStatus(t *testing.T) {
	topo := newTopology(t, Config{})
	a := node{port: 8081, max: 5}
	b := node{port: 8082, max: 5}
	syncing := vol(4, "001")
	syncing.Syncing = true
	mustBeat(t, topo, beat(a, vol(4, "001")), t0)
	mustBeat(t, topo, beat(b, syncing), t0)
	if locs, _ := topo.Lookup(4); !slices.Equal(urls(locs), []string{a.url()}) {
		t.Fatalf("read view %v", urls(locs))
	}
	for _, dc := range topo.DirStatus().DataCenters {
		for _, r := range dc.Racks {
			for _, n := range r.DataNodes {
				want := []needle.VolumeID(nil)
				if n.URL == b.url() {
					want = []needle.VolumeID{4}
				}
				if !slices.Equal(n.Syncing, want) {
					t.Errorf("%s Syncing = %v, want %v", n.URL, n.Syncing, want)
				}
			}
		}
	}
}

func TestPlaceReplica(t *testing.T) {
	topo := newTopology(t, Config{Seed: 1})
	a := node{port: 8081, dc: "dc1", rack: "r1", max: 5}
	b := node{port: 8082, dc: "dc1", rack: "r1", max: 5}
	c := node{port: 8083, dc: "dc1", rack: "r2", max: 5}
	d := node{port: 8084, dc: "dc2", rack: "r1", max: 5}
	full := node{port: 8085, dc: "dc1", rack: "r1", max: 0}
	for _, n := range []node{a, b, c, d, full} {
		mustBeat(t, topo, beat(n), t0)
	}
	// 001 with a copy on a: the other copy goes to b, the only free node
	// of a's rack.
	mustBeat(t, topo, beat(a, vol(5, "001")), t0)
	res, err := topo.PlaceReplica(5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Nodes(); len(n) != 1 || n[0].URL != b.url() {
		t.Fatalf("001 replica placed on %v, want %s", n, b.url())
	}
	res.Release()
	if _, err := topo.PlaceReplica(5, map[string]bool{b.url(): true}); !errors.Is(err, ErrNotEnoughDataNodes) {
		t.Fatalf("with b busy: %v, want ErrNotEnoughDataNodes", err)
	}
	// 100 with a copy on a: another data center.
	mustBeat(t, topo, beat(a, vol(5, "001"), vol(6, "100")), t0)
	res, err = topo.PlaceReplica(6, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Nodes(); n[0].URL != d.url() {
		t.Fatalf("100 replica placed on %v, want %s", n, d.url())
	}
	// The slot is reserved until released.
	before := topo.DirStatus().Free
	res.Release()
	if after := topo.DirStatus().Free; after != before+1 {
		t.Errorf("free slots %d after the release, want %d", after, before+1)
	}
	if _, err := topo.PlaceReplica(99, nil); !errors.Is(err, ErrVolumeNotFound) {
		t.Fatalf("unknown volume: %v", err)
	}
}
