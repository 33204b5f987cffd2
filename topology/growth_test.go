package topology

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

var allReplications = []string{"000", "001", "002", "010", "011", "020", "100", "101", "110", "200"}

func TestGrowthCount(t *testing.T) {
	for _, tc := range []struct{ copies, want int }{{1, 7}, {2, 6}, {3, 3}, {4, 1}, {10, 1}, {0, 1}} {
		if got := GrowthCount(tc.copies); got != tc.want {
			t.Errorf("GrowthCount(%d) = %d, want %d", tc.copies, got, tc.want)
		}
	}
}

// newTopo builds a topology from nodes, all beating at t0 with no volumes.
func newTopo(t testing.TB, seed uint64, nodes ...node) *Topology {
	t.Helper()
	topo := newTopology(t, Config{Seed: seed, VolumeSizeLimit: 1 << 30})
	for _, n := range nodes {
		mustBeat(t, topo, beat(n), t0)
	}
	return topo
}

// richNodes allow every replication string: three data centers, dc1 with
// three racks, racks with up to three nodes.
var richNodes = []node{
	{port: 8101, dc: "dc1", rack: "r1", max: 100},
	{port: 8102, dc: "dc1", rack: "r1", max: 100},
	{port: 8103, dc: "dc1", rack: "r1", max: 100},
	{port: 8111, dc: "dc1", rack: "r2", max: 100},
	{port: 8112, dc: "dc1", rack: "r2", max: 100},
	{port: 8113, dc: "dc1", rack: "r2", max: 100},
	{port: 8121, dc: "dc1", rack: "r3", max: 100},
	{port: 8122, dc: "dc1", rack: "r3", max: 100},
	{port: 8201, dc: "dc2", rack: "r1", max: 100},
	{port: 8202, dc: "dc2", rack: "r1", max: 100},
	{port: 8203, dc: "dc2", rack: "r1", max: 100},
	{port: 8211, dc: "dc2", rack: "r2", max: 100},
	{port: 8301, dc: "dc3", rack: "r1", max: 100},
}

// checkPlacement verifies that locs (as Reservation.Nodes orders them)
// satisfy p: distinct nodes, SameRack in the main rack, DiffRack in
// distinct other racks of the main data center, DiffDataCenter in distinct
// other data centers.
func checkPlacement(p needle.Placement, locs []NodeLocation) error {
	if len(locs) != p.CopyCount() {
		return fmt.Errorf("%d nodes for %s", len(locs), p)
	}
	seen := map[string]bool{}
	for _, l := range locs {
		if seen[l.URL] {
			return fmt.Errorf("node %s chosen twice", l.URL)
		}
		seen[l.URL] = true
	}
	main := locs[0]
	rest := locs[1:]
	for _, l := range rest[:p.SameRack] {
		if l.DataCenter != main.DataCenter || l.Rack != main.Rack {
			return fmt.Errorf("same-rack copy on %s:%s, main on %s:%s", l.DataCenter, l.Rack, main.DataCenter, main.Rack)
		}
	}
	rest = rest[p.SameRack:]
	racks := map[string]bool{main.Rack: true}
	for _, l := range rest[:p.DiffRack] {
		if l.DataCenter != main.DataCenter || racks[l.Rack] {
			return fmt.Errorf("other-rack copy on %s:%s, main on %s:%s", l.DataCenter, l.Rack, main.DataCenter, main.Rack)
		}
		racks[l.Rack] = true
	}
	rest = rest[p.DiffRack:]
	dcs := map[string]bool{main.DataCenter: true}
	for _, l := range rest {
		if dcs[l.DataCenter] {
			return fmt.Errorf("other-data-center copy on %s, main on %s", l.DataCenter, main.DataCenter)
		}
		dcs[l.DataCenter] = true
	}
	return nil
}

func TestPlaceVolumeSatisfiesEveryReplication(t *testing.T) {
	for _, repl := range allReplications {
		t.Run(repl, func(t *testing.T) {
			p := mustPlacement(t, repl)
			mains := map[string]int{}
			for seed := uint64(1); seed <= 200; seed++ {
				topo := newTopo(t, seed, richNodes...)
				r, err := topo.PlaceVolume(p, "")
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				locs := r.Nodes()
				if err := checkPlacement(p, locs); err != nil {
					t.Fatalf("seed %d: %v in %+v", seed, err, locs)
				}
				mains[locs[0].URL]++
				st := topo.DirStatus()
				if st.Free != st.Max-p.CopyCount() {
					t.Errorf("seed %d: free %d of %d after reserving %d slots", seed, st.Free, st.Max, p.CopyCount())
				}
				r.Release()
				if st := topo.DirStatus(); st.Free != st.Max {
					t.Errorf("seed %d: free %d of %d after release", seed, st.Free, st.Max)
				}
				checkInvariants(t, topo)
			}
			// With equal free slots every node that can be a main node is one
			// in some run.
			if repl == "000" && len(mains) != len(richNodes) {
				t.Errorf("main nodes over 200 runs: %v, want all %d nodes", mains, len(richNodes))
			}
			if repl == "020" && len(mains) != 8 {
				t.Errorf("020 main nodes %v, want the 8 nodes of dc1", mains)
			}
		})
	}
}

func TestPlaceVolumeChoosesWhatFits(t *testing.T) {
	tests := []struct {
		name      string
		repl      string
		preferred string
		nodes     []node
		// each run's choice, as URLs in Reservation.Nodes order, must be one of these
		want [][]string
	}{
		{
			name: "011 needs the rack with two nodes as main rack",
			repl: "011",
			nodes: []node{
				{port: 1, dc: "dc1", rack: "rA", max: 5}, {port: 2, dc: "dc1", rack: "rA", max: 5},
				{port: 3, dc: "dc1", rack: "rB", max: 50},
			},
			want: [][]string{{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}, {"127.0.0.1:2", "127.0.0.1:1", "127.0.0.1:3"}},
		},
		{
			name: "010 needs a data center with two racks",
			repl: "010",
			nodes: []node{
				{port: 1, dc: "dc1", rack: "rA", max: 90},
				{port: 2, dc: "dc2", rack: "rA", max: 1}, {port: 3, dc: "dc2", rack: "rB", max: 1},
			},
			want: [][]string{{"127.0.0.1:2", "127.0.0.1:3"}, {"127.0.0.1:3", "127.0.0.1:2"}},
		},
		{
			name: "001 skips a full node",
			repl: "001",
			nodes: []node{
				{port: 1, dc: "dc1", rack: "rA", max: 3}, {port: 2, dc: "dc1", rack: "rA", max: 0},
				{port: 3, dc: "dc1", rack: "rB", max: 1}, {port: 4, dc: "dc1", rack: "rB", max: 1},
			},
			want: [][]string{{"127.0.0.1:3", "127.0.0.1:4"}, {"127.0.0.1:4", "127.0.0.1:3"}},
		},
		{
			name:      "100 in the preferred data center",
			repl:      "100",
			preferred: "dc2",
			nodes: []node{
				{port: 1, dc: "dc1", rack: "rA", max: 90}, {port: 2, dc: "dc2", rack: "rA", max: 1},
			},
			want: [][]string{{"127.0.0.1:2", "127.0.0.1:1"}},
		},
		{
			name: "110 main data center is the one with two racks",
			repl: "110",
			nodes: []node{
				{port: 1, dc: "dc1", rack: "rA", max: 90},
				{port: 2, dc: "dc2", rack: "rA", max: 1}, {port: 3, dc: "dc2", rack: "rB", max: 1},
			},
			want: [][]string{{"127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:1"}, {"127.0.0.1:3", "127.0.0.1:2", "127.0.0.1:1"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPlacement(t, tc.repl)
			seen := map[string]bool{}
			for seed := uint64(1); seed <= 100; seed++ {
				topo := newTopo(t, seed, tc.nodes...)
				r, err := topo.PlaceVolume(p, tc.preferred)
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				var got []string
				for _, l := range r.Nodes() {
					got = append(got, l.URL)
				}
				ok := false
				for _, w := range tc.want {
					ok = ok || slices.Equal(got, w)
				}
				if !ok {
					t.Fatalf("seed %d: placed on %q, want one of %q", seed, got, tc.want)
				}
				seen[fmt.Sprint(got)] = true
				checkInvariants(t, topo)
			}
			if len(seen) != len(tc.want) {
				t.Errorf("choices seen %v, want all of %q", seen, tc.want)
			}
		})
	}
}

func TestPlaceVolumeWeightsByFreeSlots(t *testing.T) {
	counts := map[string]int{}
	for seed := uint64(1); seed <= 1000; seed++ {
		topo := newTopo(t, seed, node{port: 1, max: 1}, node{port: 2, max: 99})
		r, err := topo.PlaceVolume(needle.Placement{}, "")
		if err != nil {
			t.Fatal(err)
		}
		counts[r.Nodes()[0].URL]++
	}
	// Expected 10 and 990.
	if counts["127.0.0.1:1"] == 0 || counts["127.0.0.1:2"] < 950 {
		t.Errorf("choices %v, want about 1%% and 99%%", counts)
	}
}

func TestPlaceVolumeImpossible(t *testing.T) {
	tests := []struct {
		name      string
		repl      string
		preferred string
		nodes     []node
	}{
		{"empty topology", "000", "", nil},
		{"every node full", "000", "", []node{{port: 1, max: 0}, {port: 2, max: 0}}},
		{"001 with one node per rack", "001", "", []node{{port: 1, rack: "a", max: 7}, {port: 2, rack: "b", max: 7}}},
		{"001 with the rack mate full", "001", "", []node{{port: 1, rack: "a", max: 7}, {port: 2, rack: "a", max: 0}}},
		{"002 with two nodes in the rack", "002", "", []node{{port: 1, max: 7}, {port: 2, max: 7}}},
		{"010 with one rack", "010", "", []node{{port: 1, max: 7}, {port: 2, max: 7}, {port: 3, max: 7}}},
		{"020 with two racks", "020", "", []node{{port: 1, rack: "a", max: 7}, {port: 2, rack: "b", max: 7}}},
		{"011 with one node per rack", "011", "", []node{{port: 1, rack: "a", max: 7}, {port: 2, rack: "b", max: 7}}},
		{"100 with one data center", "100", "", []node{{port: 1, rack: "a", max: 7}, {port: 2, rack: "b", max: 7}}},
		{"101 with one node per data center", "101", "", []node{{port: 1, dc: "dc1", max: 7}, {port: 2, dc: "dc2", max: 7}}},
		{"110 with one rack per data center", "110", "", []node{{port: 1, dc: "dc1", max: 7}, {port: 2, dc: "dc2", max: 7}, {port: 3, dc: "dc3", max: 7}}},
		{"200 with two data centers", "200", "", []node{{port: 1, dc: "dc1", max: 7}, {port: 2, dc: "dc2", max: 7}}},
		{"100 with the other data center full", "100", "", []node{{port: 1, dc: "dc1", max: 7}, {port: 2, dc: "dc1", max: 7}, {port: 3, dc: "dc2", max: 0}}},
		{"unknown preferred data center", "000", "dc9", []node{{port: 1, dc: "dc1", max: 7}}},
		{"preferred data center full", "000", "dc2", []node{{port: 1, dc: "dc1", max: 7}, {port: 2, dc: "dc2", max: 0}}},
		{"020 preferred where two racks are missing", "020", "dc2", richNodes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topo := newTopo(t, 1, tc.nodes...)
			before := topo.DirStatus()
			r, err := topo.PlaceVolume(mustPlacement(t, tc.repl), tc.preferred)
			if r != nil || !errors.Is(err, ErrNotEnoughDataNodes) {
				t.Fatalf("PlaceVolume = %v, %v; want ErrNotEnoughDataNodes", r, err)
			}
			if got := err.Error(); got != "Cannot grow volume group! Not enough data node found!" {
				t.Errorf("error text %q", got)
			}
			if after := topo.DirStatus(); after.Free != before.Free {
				t.Errorf("a failed placement changed free slots from %d to %d", before.Free, after.Free)
			}
		})
	}
}

func TestReservationAccounting(t *testing.T) {
	topo := newTopo(t, 1, node{port: 8080, max: 2})
	p := needle.Placement{}
	free := func() (free, volumes int) {
		n := topo.DirStatus().DataCenters[0].Racks[0].DataNodes[0]
		return n.Free, n.Volumes
	}
	type state struct{ free, volumes int }
	expect := func(step string, want state) {
		t.Helper()
		f, v := free()
		if (state{f, v}) != want {
			t.Errorf("%s: free %d volumes %d, want %+v", step, f, v, want)
		}
		checkInvariants(t, topo)
	}
	r1, err := topo.PlaceVolume(p, "")
	if err != nil {
		t.Fatal(err)
	}
	expect("one reserved", state{1, 0})
	r2, err := topo.PlaceVolume(p, "")
	if err != nil {
		t.Fatal(err)
	}
	expect("two reserved", state{0, 0})
	if _, err := topo.PlaceVolume(p, ""); !errors.Is(err, ErrNotEnoughDataNodes) {
		t.Fatalf("third placement on a full node: %v", err)
	}
	r1.Release()
	expect("one released", state{1, 0})
	r1.Release()
	expect("released twice", state{1, 0})
	if err := r1.Commit(1, "", needle.TTL{}); !errors.Is(err, ErrReservationDone) {
		t.Errorf("commit after release: %v, want ErrReservationDone", err)
	}
	ttl, _ := needle.ParseTTL("3d")
	if err := r2.Commit(7, "pics", ttl); err != nil {
		t.Fatal(err)
	}
	expect("committed", state{1, 1})
	if err := r2.Commit(8, "pics", ttl); !errors.Is(err, ErrReservationDone) {
		t.Errorf("second commit: %v, want ErrReservationDone", err)
	}
	r2.Release()
	expect("release after commit", state{1, 1})

	// The committed volume is routed and writable at once, in its own layout.
	vid, locs, err := topo.PickForWrite(WriteRequest{Collection: "pics", TTL: ttl})
	if err != nil || vid != 7 || len(locs) != 1 || locs[0].URL != "127.0.0.1:8080" {
		t.Errorf("PickForWrite = %d, %v, %v; want volume 7 on 127.0.0.1:8080", vid, locs, err)
	}
	v := topo.VolStatus().DataCenters[DefaultDataCenter][DefaultRack]["127.0.0.1:8080"][0]
	if v.ID != 7 || v.Collection != "pics" || v.TTL != "3d" || v.Version != needle.CurrentVersion {
		t.Errorf("registered volume %+v", v)
	}
	// The heartbeat that finally reports it changes nothing.
	mustBeat(t, topo, beat(node{port: 8080, max: 2}, v), t0)
	expect("reported", state{1, 1})
}

func TestReservationOnExpiredNode(t *testing.T) {
	topo := newTopo(t, 1, node{port: 8081, dc: "dc1", max: 7}, node{port: 8082, dc: "dc2", max: 7})
	r, err := topo.PlaceVolume(mustPlacement(t, "100"), "")
	if err != nil {
		t.Fatal(err)
	}
	mustBeat(t, topo, beat(node{port: 8081, dc: "dc1", max: 7}), t0.Add(wire.DeadPulses*topo.pulse))
	if removed := topo.Expire(t0.Add(wire.DeadPulses*topo.pulse + 1)); len(removed) != 1 || removed[0].URL != "127.0.0.1:8082" {
		t.Fatalf("Expire removed %+v", removed)
	}
	if err := r.Commit(1, "", needle.TTL{}); err != nil {
		t.Fatal(err)
	}
	locs, err := topo.Lookup(1)
	if err != nil || !slices.Equal(urls(locs), []string{"127.0.0.1:8081"}) {
		t.Errorf("Lookup(1) = %v, %v; want the surviving node only", locs, err)
	}
	if w := writables(topo, "", "100"); len(w) != 0 {
		t.Errorf("volume with a missing copy is writable: %v", w)
	}
	// The dead node comes back fresh, with no stale reservation.
	mustBeat(t, topo, beat(node{port: 8082, dc: "dc2", max: 7}), t0.Add(wire.DeadPulses*topo.pulse+2))
	if st := topo.DirStatus(); st.Free != 13 {
		t.Errorf("free = %d, want 13", st.Free)
	}
}

func TestConcurrentPlacementNeverExceedsMax(t *testing.T) {
	nodes := []node{
		{port: 8081, dc: "dc1", rack: "r1", max: 5},
		{port: 8082, dc: "dc1", rack: "r1", max: 3},
		{port: 8083, dc: "dc1", rack: "r2", max: 4},
		{port: 8084, dc: "dc2", rack: "r1", max: 6},
		{port: 8085, dc: "dc2", rack: "r1", max: 2},
	}
	totalMax := 20
	for _, mode := range []string{"hold", "commit", "mixed"} {
		t.Run(mode, func(t *testing.T) {
			topo := newTopo(t, 7, nodes...)
			var nextVid atomic.Uint32
			var slots atomic.Int64
			var wg sync.WaitGroup
			for g := range 32 {
				wg.Go(func() {
					p := mustPlacement(t, allReplications[g%len(allReplications)])
					for k := 0; ; k++ {
						r, err := topo.PlaceVolume(p, "")
						if errors.Is(err, ErrNotEnoughDataNodes) {
							return
						}
						if err != nil {
							t.Error(err)
							return
						}
						if err := checkPlacement(p, r.Nodes()); err != nil {
							t.Error(err)
						}
						switch {
						case mode == "hold":
							slots.Add(int64(p.CopyCount()))
						case mode == "commit" || k%3 != 0:
							if err := r.Commit(needle.VolumeID(nextVid.Add(1)), "", needle.TTL{}); err != nil {
								t.Error(err)
							}
							slots.Add(int64(p.CopyCount()))
						default:
							r.Release()
						}
					}
				})
			}
			wg.Wait()
			if got := slots.Load(); got > int64(totalMax) {
				t.Errorf("%d slots handed out, only %d exist", got, totalMax)
			}
			topo.mu.RLock()
			used := 0
			for url, n := range topo.nodes {
				if len(n.volumes)+n.reserved > n.max {
					t.Errorf("node %s: %d volumes + %d reserved > max %d", url, len(n.volumes), n.reserved, n.max)
				}
				used += len(n.volumes) + n.reserved
			}
			topo.mu.RUnlock()
			if int64(used) != slots.Load() {
				t.Errorf("%d slots in use, %d handed out", used, slots.Load())
			}
		})
	}
}

// TestWalkthroughGrowth replays sections 二, 三 and 六 of the walk-through:
// 8081 and 8082 in dc1, 8083 in dc2, max 7, replication 100.
func TestWalkthroughGrowth(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		topo := newTopo(t, seed,
			node{port: 8081, dc: "dc1", max: 7}, node{port: 8082, dc: "dc1", max: 7}, node{port: 8083, dc: "dc2", max: 7})
		p := mustPlacement(t, "100")
		grow := func(vid needle.VolumeID, collection string) error {
			r, err := topo.PlaceVolume(p, "")
			if err != nil {
				return err
			}
			return r.Commit(vid, collection, needle.TTL{})
		}
		for vid := needle.VolumeID(1); vid <= needle.VolumeID(GrowthCount(p.CopyCount())); vid++ {
			if err := grow(vid, ""); err != nil {
				t.Fatalf("seed %d: growing volume %d: %v", seed, vid, err)
			}
		}
		for _, v := range topo.Volumes() {
			var got []string
			for _, r := range v.Replicas {
				got = append(got, r.URL)
			}
			if len(got) != 2 || (got[0] != "127.0.0.1:8081" && got[0] != "127.0.0.1:8082") || got[1] != "127.0.0.1:8083" {
				t.Fatalf("seed %d: volume %d on %q, want one dc1 node and 8083", seed, v.ID, got)
			}
		}
		st := topo.DirStatus()
		if st.Free != 9 || st.Max != 21 || st.DataCenters[0].Free != 8 || st.DataCenters[1].Free != 1 {
			t.Errorf("seed %d: free %d/%d, dc1 %d, dc2 %d; want 9/21, 8, 1",
				seed, st.Free, st.Max, st.DataCenters[0].Free, st.DataCenters[1].Free)
		}
		if w := writables(topo, "", "100"); !slices.Equal(w, []needle.VolumeID{1, 2, 3, 4, 5, 6}) {
			t.Errorf("seed %d: writables %v", seed, w)
		}
		// Section 六: picture_7 takes 8083's last slot, then video cannot grow.
		if err := grow(7, "picture"); err != nil {
			t.Fatalf("seed %d: picture: %v", seed, err)
		}
		err := grow(8, "video")
		if !errors.Is(err, ErrNotEnoughDataNodes) || err.Error() != "Cannot grow volume group! Not enough data node found!" {
			t.Errorf("seed %d: video growth err = %v", seed, err)
		}
		checkInvariants(t, topo)
	}
}
