package topology

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// treeShape renders the tree as "dc/rack/url" paths, sorted.
func treeShape(topo *Topology) []string {
	var out []string
	for _, dc := range topo.DirStatus().DataCenters {
		for _, r := range dc.Racks {
			for _, n := range r.DataNodes {
				out = append(out, dc.ID+"/"+r.ID+"/"+n.URL)
			}
		}
	}
	return out
}

// nodeURLs lists the URLs of the nodes in the tree, sorted.
func nodeURLs(topo *Topology) []string {
	var out []string
	for _, dc := range topo.DirStatus().DataCenters {
		for _, r := range dc.Racks {
			for _, n := range r.DataNodes {
				out = append(out, n.URL)
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestHeartbeatsBuildTree(t *testing.T) {
	tests := []struct {
		name  string
		beats []node
		want  []string
	}{
		{
			name:  "defaults",
			beats: []node{{port: 8080, max: 7}},
			want:  []string{"DefaultDataCenter/DefaultRack/127.0.0.1:8080"},
		},
		{
			name:  "walk-through",
			beats: []node{{port: 8081, dc: "dc1", max: 7}, {port: 8082, dc: "dc1", max: 7}, {port: 8083, dc: "dc2", max: 7}},
			want: []string{
				"dc1/DefaultRack/127.0.0.1:8081",
				"dc1/DefaultRack/127.0.0.1:8082",
				"dc2/DefaultRack/127.0.0.1:8083",
			},
		},
		{
			name: "move between racks",
			beats: []node{
				{port: 8081, dc: "dc1", rack: "r1", max: 7},
				{port: 8082, dc: "dc1", rack: "r1", max: 7},
				{port: 8081, dc: "dc1", rack: "r2", max: 7},
			},
			want: []string{"dc1/r1/127.0.0.1:8082", "dc1/r2/127.0.0.1:8081"},
		},
		{
			name: "move to another data center drops empty ones",
			beats: []node{
				{port: 8081, dc: "dc1", rack: "r1", max: 7},
				{port: 8081, dc: "dc2", rack: "r9", max: 7},
			},
			want: []string{"dc2/r9/127.0.0.1:8081"},
		},
		{
			name: "repeated beats change nothing",
			beats: []node{
				{port: 8081, dc: "dc1", max: 7},
				{port: 8081, dc: "dc1", max: 7},
				{port: 8081, dc: "dc1", max: 7},
			},
			want: []string{"dc1/DefaultRack/127.0.0.1:8081"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topo := newTopology(t, Config{})
			for i, n := range tc.beats {
				mustBeat(t, topo, beat(n), t0.Add(time.Duration(i)*time.Second))
			}
			if got := treeShape(topo); !slices.Equal(got, tc.want) {
				t.Errorf("tree = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHeartbeatMoveKeepsVolumesRouted(t *testing.T) {
	topo := newTopology(t, Config{})
	a := node{port: 8081, dc: "dc1", rack: "r1", max: 7}
	b := node{port: 8082, dc: "dc2", rack: "r1", max: 7}
	mustBeat(t, topo, beat(a, vol(1, "100")), t0)
	mustBeat(t, topo, beat(b, vol(1, "100")), t0)
	if _, _, err := topo.PickForWrite(WriteRequest{Placement: mustPlacement(t, "100"), DataCenter: "dc3"}); !errors.Is(err, ErrNoWritableVolume) {
		t.Fatalf("PickForWrite in dc3 before the move: err %v, want ErrNoWritableVolume", err)
	}
	b.dc = "dc3"
	mustBeat(t, topo, beat(b, vol(1, "100")), t0.Add(time.Second))
	vid, locs, err := topo.PickForWrite(WriteRequest{Placement: mustPlacement(t, "100"), DataCenter: "dc3"})
	if err != nil || vid != 1 {
		t.Fatalf("PickForWrite in dc3 after the move = %d, %v", vid, err)
	}
	if got := urls(locs); !slices.Equal(got, []string{b.url(), a.url()}) {
		t.Errorf("locations = %q, want the dc3 replica first", got)
	}
	if _, _, err := topo.PickForWrite(WriteRequest{Placement: mustPlacement(t, "100"), DataCenter: "dc2"}); !errors.Is(err, ErrNoWritableVolume) {
		t.Errorf("PickForWrite in dc2 after the move: err %v, want ErrNoWritableVolume", err)
	}
	v, err := topo.Volume(1)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Replicas[1].DataCenter; got != "dc3" {
		t.Errorf("replica data center = %q, want dc3", got)
	}
}

func TestHeartbeatPublicURL(t *testing.T) {
	topo := newTopology(t, Config{})
	hb := beat(node{port: 8080, max: 7}, vol(1, "000"))
	mustBeat(t, topo, hb, t0)
	locs, err := topo.Lookup(1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Location{{URL: "127.0.0.1:8080", PublicURL: "127.0.0.1:8080"}}; !slices.Equal(locs, want) {
		t.Errorf("Lookup = %+v, want %+v (public URL defaults to the URL)", locs, want)
	}
	hb.PublicURL = "files.example.com"
	mustBeat(t, topo, hb, t0.Add(time.Second))
	locs, err = topo.Lookup(1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Location{{URL: "127.0.0.1:8080", PublicURL: "files.example.com"}}; !slices.Equal(locs, want) {
		t.Errorf("Lookup = %+v, want %+v", locs, want)
	}
}

func TestHeartbeatResult(t *testing.T) {
	topo := newTopology(t, Config{})
	n := node{port: 8080, max: 7}
	tests := []struct {
		name string
		vols []needle.VolumeID
		key  needle.Key
		want HeartbeatResult
	}{
		{"first", []needle.VolumeID{3, 1}, 0x42, HeartbeatResult{NewNode: true, NewVolumes: []needle.VolumeID{1, 3}, MaxVolumeID: 3, MaxFileKey: 0x42}},
		{"same", []needle.VolumeID{1, 3}, 0x42, HeartbeatResult{MaxVolumeID: 3, MaxFileKey: 0x42}},
		{"one gone one new", []needle.VolumeID{1, 7}, 0x99, HeartbeatResult{NewVolumes: []needle.VolumeID{7}, DeletedVolumes: []needle.VolumeID{3}, MaxVolumeID: 7, MaxFileKey: 0x99}},
		{"empty", nil, 0, HeartbeatResult{DeletedVolumes: []needle.VolumeID{1, 7}}},
	}
	for i, tc := range tests {
		hb := beat(n)
		hb.MaxFileKey = tc.key
		for _, vid := range tc.vols {
			hb.Volumes = append(hb.Volumes, vol(vid, "000"))
		}
		got := mustBeat(t, topo, hb, t0.Add(time.Duration(i)*time.Second))
		if got.NewNode != tc.want.NewNode || !slices.Equal(got.NewVolumes, tc.want.NewVolumes) ||
			!slices.Equal(got.DeletedVolumes, tc.want.DeletedVolumes) ||
			got.MaxVolumeID != tc.want.MaxVolumeID || got.MaxFileKey != tc.want.MaxFileKey {
			t.Errorf("%s: result %+v, want %+v", tc.name, got, tc.want)
		}
		checkInvariants(t, topo)
	}
}

func TestHeartbeatRejectsMalformed(t *testing.T) {
	good := func() *wire.Heartbeat { return beat(node{port: 8080, max: 7}, vol(1, "001")) }
	tests := []struct {
		name   string
		mutate func(*wire.Heartbeat)
	}{
		{"version 0", func(hb *wire.Heartbeat) { hb.Version = 0 }},
		{"version 2", func(hb *wire.Heartbeat) { hb.Version = 2 }},
		{"empty ip", func(hb *wire.Heartbeat) { hb.IP = "" }},
		{"port 0", func(hb *wire.Heartbeat) { hb.Port = 0 }},
		{"port too big", func(hb *wire.Heartbeat) { hb.Port = 65536 }},
		{"negative max", func(hb *wire.Heartbeat) { hb.MaxVolumeCount = -1 }},
		{"volume id 0", func(hb *wire.Heartbeat) { hb.Volumes[0].ID = 0 }},
		{"duplicate volume", func(hb *wire.Heartbeat) { hb.Volumes = append(hb.Volumes, hb.Volumes[0]) }},
		{"bad ttl", func(hb *wire.Heartbeat) { hb.Volumes[0].TTL = "5x" }},
		{"ttl too big", func(hb *wire.Heartbeat) { hb.Volumes[0].TTL = "256d" }},
		{"negative placement digit", func(hb *wire.Heartbeat) { hb.Volumes[0].ReplicaPlacement.SameRack = -1 }},
		{"placement digit above 9", func(hb *wire.Heartbeat) { hb.Volumes[0].ReplicaPlacement.DiffRack = 10 }},
		{"placement above 255", func(hb *wire.Heartbeat) { hb.Volumes[0].ReplicaPlacement.DiffDataCenter = 3 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topo := newTopology(t, Config{})
			hb := good()
			tc.mutate(hb)
			if _, err := topo.ProcessHeartbeat(hb, t0); !errors.Is(err, ErrBadHeartbeat) {
				t.Fatalf("err = %v, want ErrBadHeartbeat", err)
			}
			if st := topo.DirStatus(); len(st.DataCenters) != 0 || len(st.Layouts) != 0 {
				t.Errorf("a rejected heartbeat changed the topology: %+v", st)
			}
			if _, err := topo.ProcessHeartbeat(good(), t0); err != nil {
				t.Errorf("good heartbeat: %v", err)
			}
		})
	}
}

func TestHeartbeatCanonicalTTL(t *testing.T) {
	topo := newTopology(t, Config{})
	v := vol(1, "000")
	v.TTL = "0m" // zero count: no ttl
	w := vol(2, "000")
	w.TTL = "3d"
	mustBeat(t, topo, beat(node{port: 8080, max: 7}, v, w), t0)
	if _, _, err := topo.PickForWrite(WriteRequest{}); err != nil {
		t.Errorf("PickForWrite without ttl: %v", err)
	}
	ttl, _ := needle.ParseTTL("3d")
	if vid, _, err := topo.PickForWrite(WriteRequest{TTL: ttl}); err != nil || vid != 2 {
		t.Errorf("PickForWrite ttl 3d = %d, %v; want volume 2", vid, err)
	}
	if got := topo.VolStatus().DataCenters[DefaultDataCenter][DefaultRack]["127.0.0.1:8080"][0].TTL; got != "" {
		t.Errorf("stored ttl = %q, want \"\"", got)
	}
}

func TestExpireDeadNodes(t *testing.T) {
	pulse := time.Second
	topo := newTopology(t, Config{Pulse: pulse, VolumeSizeLimit: 1 << 30})
	a := node{port: 8081, dc: "dc1", max: 7}
	b := node{port: 8082, dc: "dc1", max: 7}
	c := node{port: 8083, dc: "dc2", max: 7}
	mustBeat(t, topo, beat(a, vol(1, "100"), vol(2, "000")), t0)
	mustBeat(t, topo, beat(b, vol(3, "000")), t0)
	mustBeat(t, topo, beat(c, vol(1, "100")), t0)
	// b and c keep beating; a falls silent.
	mustBeat(t, topo, beat(b, vol(3, "000")), t0.Add(2*pulse))
	mustBeat(t, topo, beat(c, vol(1, "100")), t0.Add(2*pulse))

	steps := []struct {
		at        time.Duration
		removed   []string
		remaining []string
	}{
		{at: 3 * pulse, remaining: []string{a.url(), b.url(), c.url()}},
		{at: 3*pulse + time.Nanosecond, removed: []string{a.url()}, remaining: []string{b.url(), c.url()}},
		{at: 4 * pulse, remaining: []string{b.url(), c.url()}},
		{at: 6 * pulse, removed: []string{b.url(), c.url()}},
	}
	for _, s := range steps {
		removed := topo.Expire(t0.Add(s.at))
		var got []string
		for _, r := range removed {
			got = append(got, r.URL)
		}
		if !slices.Equal(got, s.removed) {
			t.Errorf("Expire(+%v) removed %q, want %q", s.at, got, s.removed)
		}
		if left := nodeURLs(topo); !slices.Equal(left, s.remaining) {
			t.Errorf("after Expire(+%v) nodes %q, want %q", s.at, left, s.remaining)
		}
		checkInvariants(t, topo)
		if s.at == 3*pulse+time.Nanosecond {
			if r := removed[0]; r.DataCenter != "dc1" || r.Rack != DefaultRack || !slices.Equal(r.Volumes, []needle.VolumeID{1, 2}) {
				t.Errorf("removed node = %+v", r)
			}
			// Volume 1 lost a copy: still readable on c, no longer writable.
			locs, err := topo.Lookup(1)
			if err != nil || !slices.Equal(urls(locs), []string{c.url()}) {
				t.Errorf("Lookup(1) = %v, %v; want only %s", locs, err, c.url())
			}
			if w := writables(topo, "", "100"); len(w) != 0 {
				t.Errorf("writables of 100 = %v, want none", w)
			}
			if _, err := topo.Lookup(2); !errors.Is(err, ErrVolumeNotFound) {
				t.Errorf("Lookup(2) err = %v, want ErrVolumeNotFound", err)
			}
			if w := writables(topo, "", "000"); !slices.Equal(w, []needle.VolumeID{3}) {
				t.Errorf("writables of 000 = %v, want [3]", w)
			}
		}
	}
	if st := topo.DirStatus(); len(st.DataCenters) != 0 || len(st.Layouts) != 0 || st.Max != 0 {
		t.Errorf("everything expired, status still %+v", st)
	}
	// A dead node that comes back is a new node again.
	if res := mustBeat(t, topo, beat(a, vol(2, "000")), t0.Add(10*pulse)); !res.NewNode {
		t.Errorf("returning node: NewNode false")
	}
}

func TestHeartbeatConflictingLayout(t *testing.T) {
	topo := newTopology(t, Config{Pulse: time.Second})
	a := node{port: 8081, max: 7}
	b := node{port: 8082, max: 7}
	va := vol(5, "000")
	va.Collection = "a"
	vb := vol(5, "000")
	vb.Collection = "b"
	mustBeat(t, topo, beat(a, va), t0)
	mustBeat(t, topo, beat(b, vb), t0.Add(2*time.Second))
	locs, err := topo.Lookup(5)
	if err != nil || !slices.Equal(urls(locs), []string{a.url()}) {
		t.Fatalf("Lookup(5) = %v, %v; want only the first reporter", locs, err)
	}
	checkInvariants(t, topo)
	// When a dies, b's copy is routed at once, in its own layout.
	if removed := topo.Expire(t0.Add(3*time.Second + 1)); len(removed) != 1 || removed[0].URL != a.url() {
		t.Fatalf("Expire removed %+v, want a", removed)
	}
	locs, err = topo.Lookup(5)
	if err != nil || !slices.Equal(urls(locs), []string{b.url()}) {
		t.Fatalf("Lookup(5) = %v, %v; want b's copy once a is gone", locs, err)
	}
	if v, _ := topo.Volume(5); v.Collection != "b" {
		t.Errorf("volume 5 collection = %q, want b", v.Collection)
	}
}

func TestWireJSON(t *testing.T) {
	hb := wire.Heartbeat{
		Version: 1, IP: "127.0.0.1", Port: 8083, PublicURL: "127.0.0.1:8083", DataCenter: "dc2",
		MaxVolumeCount: 7, MaxFileKey: 42,
		Volumes: []wire.VolumeInfo{{
			ID: 6, Size: 104, ReplicaPlacement: mustPlacement(t, "100"), Version: 3, FileCount: 1,
		}},
	}
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"heartbeat", hb, `{"version":1,"ip":"127.0.0.1","port":8083,"publicUrl":"127.0.0.1:8083","dataCenter":"dc2","rack":"","maxVolumeCount":7,"maxFileKey":42,"volumes":[{"Id":6,"Size":104,"ReplicaPlacement":{"SameRackCount":0,"DiffRackCount":0,"DiffDataCenterCount":1},"Ttl":"","Collection":"","Version":3,"FileCount":1,"DeleteCount":0,"DeletedByteCount":0,"ReadOnly":false,"CompactRevision":0,"Syncing":false}]}`},
		{"reply", wire.HeartbeatReply{Version: 1, IsLeader: true, Leader: "127.0.0.1:9333", VolumeSizeLimit: 30000 << 20}, `{"version":1,"isLeader":true,"leader":"127.0.0.1:9333","volumeSizeLimit":31457280000}`},
	}
	for _, tc := range tests {
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("%s JSON:\n got %s\nwant %s", tc.name, b, tc.want)
		}
	}
	var back wire.Heartbeat
	b, _ := json.Marshal(hb)
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.URL() != "127.0.0.1:8083" || back.Volumes[0] != hb.Volumes[0] || back.MaxFileKey != 42 {
		t.Errorf("round trip = %+v", back)
	}
}
