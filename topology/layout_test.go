package topology

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

var layoutNodes = []node{
	{port: 8081, dc: "dc1", rack: "r1", max: 7},
	{port: 8082, dc: "dc1", rack: "r1", max: 7},
	{port: 8083, dc: "dc2", rack: "r1", max: 7},
}

// copySpec is one replica of volume 1 in a writable-set case.
type copySpec struct {
	node     int // index in layoutNodes
	size     uint64
	readOnly bool
	syncing  bool
}

func TestWritableSet(t *testing.T) {
	const limit = 1000
	tests := []struct {
		name     string
		repl     string
		copies   []copySpec
		writable bool
	}{
		{"one copy", "000", []copySpec{{node: 0}}, true},
		{"just below the limit", "000", []copySpec{{node: 0, size: limit - 1}}, true},
		{"at the limit", "000", []copySpec{{node: 0, size: limit}}, false},
		{"above the limit", "000", []copySpec{{node: 0, size: limit + 8}}, false},
		{"read-only", "000", []copySpec{{node: 0, readOnly: true}}, false},
		{"syncing", "000", []copySpec{{node: 0, syncing: true}}, false},
		{"001 missing a copy", "001", []copySpec{{node: 0}}, false},
		{"001 complete", "001", []copySpec{{node: 0}, {node: 1}}, true},
		{"001 one copy read-only", "001", []copySpec{{node: 0}, {node: 1, readOnly: true}}, false},
		{"001 one copy syncing", "001", []copySpec{{node: 0, syncing: true}, {node: 1}}, false},
		{"001 one copy full", "001", []copySpec{{node: 0}, {node: 1, size: limit}}, false},
		{"001 over-replicated", "001", []copySpec{{node: 0}, {node: 1}, {node: 2}}, false},
		{"100 complete", "100", []copySpec{{node: 0}, {node: 2}}, true},
		{"110 missing a copy", "110", []copySpec{{node: 0}, {node: 2}}, false},
		{"110 complete", "110", []copySpec{{node: 0}, {node: 1}, {node: 2}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topo := newTopology(t, Config{VolumeSizeLimit: limit})
			held := make([][]wire.VolumeInfo, len(layoutNodes))
			for _, c := range tc.copies {
				v := vol(1, tc.repl)
				v.Size, v.ReadOnly, v.Syncing = c.size, c.readOnly, c.syncing
				held[c.node] = append(held[c.node], v)
			}
			for i, n := range layoutNodes {
				mustBeat(t, topo, beat(n, held[i]...), t0)
			}
			want := []needle.VolumeID{}
			if tc.writable {
				want = []needle.VolumeID{1}
			}
			if got := writables(topo, "", tc.repl); !slices.Equal(got, want) {
				t.Errorf("writables = %v, want %v", got, want)
			}
			vid, _, err := topo.PickForWrite(WriteRequest{Placement: mustPlacement(t, tc.repl)})
			if tc.writable && (err != nil || vid != 1) {
				t.Errorf("PickForWrite = %d, %v; want volume 1", vid, err)
			}
			if !tc.writable && !errors.Is(err, ErrNoWritableVolume) {
				t.Errorf("PickForWrite err = %v, want ErrNoWritableVolume", err)
			}
			if v, err := topo.Volume(1); err != nil || v.Writable != tc.writable {
				t.Errorf("Volume(1) = %+v, %v; want Writable %v", v, err, tc.writable)
			}
		})
	}
}

// TestWritableSetFollowsChanges walks one layout through size growth, a
// read-only flip, a vacuum and a lost copy.
func TestWritableSetFollowsChanges(t *testing.T) {
	const limit = 1000
	topo := newTopology(t, Config{VolumeSizeLimit: limit})
	a, b := layoutNodes[0], layoutNodes[1]
	v := func(id needle.VolumeID, size uint64, ro bool) wire.VolumeInfo {
		x := vol(id, "001")
		x.Size, x.ReadOnly = size, ro
		return x
	}
	steps := []struct {
		name   string
		do     func()
		want   []needle.VolumeID
		wantDC []needle.VolumeID // writables in dc1, picked many times
	}{
		{"three volumes", func() {
			mustBeat(t, topo, beat(a, v(1, 0, false), v(2, 0, false), v(3, 0, false)), t0)
			mustBeat(t, topo, beat(b, v(1, 0, false), v(2, 0, false), v(3, 0, false)), t0)
		}, []needle.VolumeID{1, 2, 3}, []needle.VolumeID{1, 2, 3}},
		{"volume 2 fills up on one copy", func() {
			mustBeat(t, topo, beat(a, v(1, 10, false), v(2, limit, false), v(3, 10, false)), t0)
		}, []needle.VolumeID{1, 3}, []needle.VolumeID{1, 3}},
		{"volume 3 turns read-only", func() {
			mustBeat(t, topo, beat(b, v(1, 10, false), v(2, limit, false), v(3, 10, true)), t0)
		}, []needle.VolumeID{1}, []needle.VolumeID{1}},
		{"volume 3 writable again", func() {
			mustBeat(t, topo, beat(b, v(1, 10, false), v(2, limit, false), v(3, 10, false)), t0)
		}, []needle.VolumeID{1, 3}, []needle.VolumeID{1, 3}},
		{"volume 1 vacuumed", func() {
			if err := topo.SetVacuuming(1, true); err != nil {
				t.Fatal(err)
			}
		}, []needle.VolumeID{3}, []needle.VolumeID{3}},
		{"vacuum marks are idempotent", func() {
			if err := topo.SetVacuuming(1, true); err != nil {
				t.Fatal(err)
			}
		}, []needle.VolumeID{3}, []needle.VolumeID{3}},
		{"volume 1 vacuum done", func() {
			if err := topo.SetVacuuming(1, false); err != nil {
				t.Fatal(err)
			}
		}, []needle.VolumeID{1, 3}, []needle.VolumeID{1, 3}},
		{"b drops volume 3", func() {
			mustBeat(t, topo, beat(b, v(1, 10, false), v(2, limit, false)), t0)
		}, []needle.VolumeID{1}, []needle.VolumeID{1}},
	}
	for _, s := range steps {
		s.do()
		if got := writables(topo, "", "001"); !slices.Equal(got, s.want) {
			t.Errorf("%s: writables = %v, want %v", s.name, got, s.want)
		}
		seen := map[needle.VolumeID]bool{}
		for range 200 {
			vid, locs, err := topo.PickForWrite(WriteRequest{Placement: mustPlacement(t, "001"), DataCenter: "dc1"})
			if err != nil {
				t.Fatalf("%s: PickForWrite: %v", s.name, err)
			}
			if len(locs) != 2 {
				t.Errorf("%s: volume %d has %d locations, want 2", s.name, vid, len(locs))
			}
			seen[vid] = true
		}
		var got []needle.VolumeID
		for vid := range seen {
			got = append(got, vid)
		}
		slices.Sort(got)
		if !slices.Equal(got, s.wantDC) {
			t.Errorf("%s: PickForWrite chose %v, want each of %v", s.name, got, s.wantDC)
		}
		checkInvariants(t, topo)
	}
	if err := topo.SetVacuuming(99, true); !errors.Is(err, ErrVolumeNotFound) {
		t.Errorf("SetVacuuming(99) err = %v, want ErrVolumeNotFound", err)
	}
}

func TestPickForWrite(t *testing.T) {
	topo := newTopology(t, Config{VolumeSizeLimit: 1 << 30})
	n1 := node{port: 8081, dc: "dc1", max: 7}
	n2 := node{port: 8082, dc: "dc1", max: 7}
	n3 := node{port: 8083, dc: "dc2", max: 7}
	n4 := node{port: 8084, dc: "dc3", max: 7}
	pic := vol(9, "000")
	pic.Collection = "picture"
	mustBeat(t, topo, beat(n1, vol(1, "100")), t0)
	mustBeat(t, topo, beat(n2, vol(2, "100"), pic), t0)
	mustBeat(t, topo, beat(n3, vol(1, "100")), t0)
	mustBeat(t, topo, beat(n4, vol(2, "100")), t0)
	checkInvariants(t, topo)

	p100 := mustPlacement(t, "100")
	tests := []struct {
		name     string
		req      WriteRequest
		wantVids []needle.VolumeID // every one must come up
		wantLocs map[needle.VolumeID][]string
		wantErr  error
	}{
		{name: "any data center", req: WriteRequest{Placement: p100}, wantVids: []needle.VolumeID{1, 2},
			wantLocs: map[needle.VolumeID][]string{1: {n1.url(), n3.url()}, 2: {n2.url(), n4.url()}}},
		{name: "dc1 holds both", req: WriteRequest{Placement: p100, DataCenter: "dc1"}, wantVids: []needle.VolumeID{1, 2},
			wantLocs: map[needle.VolumeID][]string{1: {n1.url(), n3.url()}, 2: {n2.url(), n4.url()}}},
		{name: "dc2 holds volume 1", req: WriteRequest{Placement: p100, DataCenter: "dc2"}, wantVids: []needle.VolumeID{1},
			wantLocs: map[needle.VolumeID][]string{1: {n3.url(), n1.url()}}},
		{name: "dc3 holds volume 2", req: WriteRequest{Placement: p100, DataCenter: "dc3"}, wantVids: []needle.VolumeID{2},
			wantLocs: map[needle.VolumeID][]string{2: {n4.url(), n2.url()}}},
		{name: "collection", req: WriteRequest{Collection: "picture"}, wantVids: []needle.VolumeID{9},
			wantLocs: map[needle.VolumeID][]string{9: {n2.url()}}},
		{name: "unknown data center", req: WriteRequest{Placement: p100, DataCenter: "dc9"}, wantErr: ErrNoWritableVolume},
		{name: "no such layout", req: WriteRequest{Placement: mustPlacement(t, "001")}, wantErr: ErrNoWritableVolume},
		{name: "collection elsewhere", req: WriteRequest{Collection: "picture", DataCenter: "dc2"}, wantErr: ErrNoWritableVolume},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[needle.VolumeID]bool{}
			for range 200 {
				vid, locs, err := topo.PickForWrite(tc.req)
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("err = %v, want %v", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				seen[vid] = true
				if want, ok := tc.wantLocs[vid]; !ok || !slices.Equal(urls(locs), want) {
					t.Fatalf("volume %d at %q, want %q", vid, urls(locs), want)
				}
			}
			for _, vid := range tc.wantVids {
				if !seen[vid] {
					t.Errorf("volume %d never picked", vid)
				}
			}
			if len(seen) != len(tc.wantVids) {
				t.Errorf("picked %v, want only %v", seen, tc.wantVids)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	topo := newTopology(t, Config{})
	a, b, c := layoutNodes[0], layoutNodes[1], layoutNodes[2]
	syncing := vol(2, "001")
	syncing.Syncing = true
	gone := vol(3, "000")
	gone.Syncing = true
	mustBeat(t, topo, beat(a, vol(1, "100"), vol(2, "001")), t0)
	mustBeat(t, topo, beat(b, syncing), t0)
	mustBeat(t, topo, beat(c, vol(1, "100"), gone), t0)
	tests := []struct {
		vid     needle.VolumeID
		want    []string
		wantErr error
	}{
		{vid: 1, want: []string{a.url(), c.url()}},
		{vid: 2, want: []string{a.url()}},
		// Every replica syncing (all restarted): the ones not marked
		// stale are read from.
		{vid: 3, want: []string{c.url()}},
		{vid: 9999, wantErr: ErrVolumeNotFound},
	}
	for _, tc := range tests {
		locs, err := topo.Lookup(tc.vid)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Lookup(%d) err = %v, want %v", tc.vid, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(urls(locs), tc.want) {
			t.Errorf("Lookup(%d) = %q, %v; want %q", tc.vid, urls(locs), err, tc.want)
		}
		locs[0].URL = "scribbled" // the caller owns the slice
	}
	if locs, _ := topo.Lookup(1); locs[0].URL != a.url() {
		t.Errorf("Lookup returned shared memory")
	}
}

func TestCommittedVolumeSurvivesStaleHeartbeats(t *testing.T) {
	topo := newTopology(t, Config{})
	n := node{port: 8080, max: 7}
	mustBeat(t, topo, beat(n), t0)
	r, err := topo.PlaceVolume(mustPlacement(t, "000"), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(1, "", needle.TTL{}); err != nil {
		t.Fatal(err)
	}
	// Heartbeats built before the volume server created volume 1.
	for i := range committedGrace {
		mustBeat(t, topo, beat(n), t0.Add(time.Duration(i+1)*time.Second))
		if _, err := topo.Lookup(1); err != nil {
			t.Fatalf("stale heartbeat %d dropped the committed volume: %v", i+1, err)
		}
		checkInvariants(t, topo)
	}
	mustBeat(t, topo, beat(n), t0.Add(10*time.Second))
	if _, err := topo.Lookup(1); !errors.Is(err, ErrVolumeNotFound) {
		t.Errorf("volume never reported is still routed: %v", err)
	}
	// Once reported, the grace is over: the next beat without it drops it.
	r, err = topo.PlaceVolume(mustPlacement(t, "000"), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(2, "", needle.TTL{}); err != nil {
		t.Fatal(err)
	}
	mustBeat(t, topo, beat(n, vol(2, "000")), t0.Add(11*time.Second))
	mustBeat(t, topo, beat(n), t0.Add(12*time.Second))
	if _, err := topo.Lookup(2); !errors.Is(err, ErrVolumeNotFound) {
		t.Errorf("volume 2 deleted on the node is still routed: %v", err)
	}
}

// TestConcurrentReadersAndWriters runs heartbeats, expiry, assigns, lookups,
// growth and status at once; the race detector and the invariants judge.
func TestConcurrentReadersAndWriters(t *testing.T) {
	topo := newTopology(t, Config{VolumeSizeLimit: 1000, Pulse: time.Second})
	nodes := []node{
		{port: 8081, dc: "dc1", rack: "r1", max: 20},
		{port: 8082, dc: "dc1", rack: "r1", max: 20},
		{port: 8083, dc: "dc2", rack: "r1", max: 20},
	}
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			for k := range 200 {
				v1 := vol(1, "001")
				v1.Size = uint64(k * 10 % 1200)
				vols := []wire.VolumeInfo{v1, vol(needle.VolumeID(10+i), "000")}
				if k%7 == 0 {
					vols = vols[1:]
				}
				if _, err := topo.ProcessHeartbeat(beat(n, vols...), t0.Add(time.Duration(k)*time.Millisecond)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Go(func() {
		for k := range 100 {
			topo.Expire(t0.Add(time.Duration(k) * time.Millisecond))
			_ = topo.SetVacuuming(1, k%2 == 0)
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 500 {
				if vid, locs, err := topo.PickForWrite(WriteRequest{}); err == nil && len(locs) != 1 {
					t.Errorf("volume %d: %d locations", vid, len(locs))
				}
				_, _, _ = topo.PickForWrite(WriteRequest{Placement: mustPlacement(t, "001"), DataCenter: "dc1"})
				_, _ = topo.Lookup(1)
			}
		})
	}
	wg.Go(func() {
		for k := range 50 {
			_ = topo.DirStatus()
			_ = topo.VolStatus()
			_ = topo.Volumes()
			if r, err := topo.PlaceVolume(mustPlacement(t, "000"), ""); err == nil {
				if k%2 == 0 {
					r.Release()
				} else if err := r.Commit(needle.VolumeID(100+k), "", needle.TTL{}); err != nil {
					t.Error(err)
				}
			}
		}
	})
	wg.Wait()
}

// BenchmarkPickForWrite measures the assign hot path under parallel load.
func BenchmarkPickForWrite(b *testing.B) {
	topo := New(Config{VolumeSizeLimit: 1 << 30})
	for i, n := range layoutNodes {
		var vols []wire.VolumeInfo
		for vid := needle.VolumeID(1); vid <= 100; vid++ {
			if i < 2 {
				vols = append(vols, vol(vid, "001"))
			}
		}
		mustBeat(b, topo, beat(n, vols...), t0)
	}
	req := WriteRequest{Placement: mustPlacement(b, "001"), DataCenter: "dc1"}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := topo.PickForWrite(req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
