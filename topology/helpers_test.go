package topology

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// t0 is the arrival time of the first heartbeats in tests.
var t0 = time.Date(2015, 8, 20, 14, 44, 29, 0, time.UTC)

// node describes a volume server in tests: "127.0.0.1:<port>" in dc/rack.
type node struct {
	port     int
	dc, rack string
	max      int
}

func (n node) url() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

// beat builds a heartbeat from node n holding vols.
func beat(n node, vols ...wire.VolumeInfo) *wire.Heartbeat {
	return &wire.Heartbeat{
		Version:        wire.HeartbeatVersion,
		IP:             "127.0.0.1",
		Port:           n.port,
		DataCenter:     n.dc,
		Rack:           n.rack,
		MaxVolumeCount: n.max,
		Volumes:        vols,
	}
}

// vol builds the wire.VolumeInfo of volume id in the default collection.
func vol(id needle.VolumeID, repl string) wire.VolumeInfo {
	p, err := needle.ParsePlacement(repl)
	if err != nil {
		panic(err)
	}
	return wire.VolumeInfo{ID: id, ReplicaPlacement: p, Version: needle.CurrentVersion}
}

func mustPlacement(t testing.TB, s string) needle.Placement {
	t.Helper()
	p, err := needle.ParsePlacement(s)
	if err != nil {
		t.Fatalf("ParsePlacement(%q): %v", s, err)
	}
	return p
}

// mustBeat processes hb at now and fails the test on error.
func mustBeat(t testing.TB, topo *Topology, hb *wire.Heartbeat, now time.Time) HeartbeatResult {
	t.Helper()
	res, err := topo.ProcessHeartbeat(hb, now)
	if err != nil {
		t.Fatalf("ProcessHeartbeat(%s): %v", hb.URL(), err)
	}
	return res
}

// writables returns the writable ids of the layout named by collection and
// replication string, from DirStatus.
func writables(topo *Topology, collection, repl string) []needle.VolumeID {
	for _, l := range topo.DirStatus().Layouts {
		if l.Collection == collection && l.Replication == repl {
			return l.Writables
		}
	}
	return []needle.VolumeID{}
}

// urls returns the URLs of locs.
func urls(locs []Location) []string {
	out := make([]string, len(locs))
	for i, l := range locs {
		out[i] = l.URL
	}
	return out
}

// newTopology is New(cfg) for a test: when the test ends, checkInvariants
// proves the topology's structures agree with each other, so every test
// that builds a topology is checked without asking for it.
func newTopology(t testing.TB, cfg Config) *Topology {
	t.Helper()
	topo := New(cfg)
	t.Cleanup(func() { checkInvariants(t, topo) })
	return topo
}

// checkInvariants proves that the topology's structures agree with each
// other: tree links, node index, layouts, volume index, writable sets.
// Tests call it after every scenario.
func checkInvariants(t testing.TB, topo *Topology) {
	t.Helper()
	topo.mu.RLock()
	defer topo.mu.RUnlock()
	inTree := 0
	for dcID, dc := range topo.dcs {
		if dc.id != dcID || len(dc.racks) == 0 {
			t.Errorf("data center %q: id %q, %d racks", dcID, dc.id, len(dc.racks))
		}
		for rackID, r := range dc.racks {
			if r.id != rackID || r.dc != dc || len(r.nodes) == 0 {
				t.Errorf("rack %s:%s: id %q, dc %p/%p, %d nodes", dcID, rackID, r.id, r.dc, dc, len(r.nodes))
			}
			for url, n := range r.nodes {
				inTree++
				if n.url != url || n.rack != r || topo.nodes[url] != n {
					t.Errorf("node %s: url %q, misplaced in tree", url, n.url)
				}
			}
		}
	}
	if inTree != len(topo.nodes) {
		t.Errorf("%d nodes in tree, %d in index", inTree, len(topo.nodes))
	}
	for url, n := range topo.nodes {
		if n.reserved < 0 {
			t.Errorf("node %s: reserved %d", url, n.reserved)
		}
		for vid, info := range n.volumes {
			if info.ID != vid {
				t.Errorf("node %s: volume %d has id %d", url, vid, info.ID)
			}
			key, err := layoutOf(info)
			if err != nil {
				t.Errorf("node %s volume %d: %v", url, vid, err)
				continue
			}
			l := topo.index[vid]
			if l == nil {
				t.Errorf("node %s: volume %d missing from the index", url, vid)
				continue
			}
			if l.key != key {
				continue // conflicting report, deliberately not routed
			}
			e := l.volumes[vid]
			i, found := slices.BinarySearchFunc(e.replicas, url, compareReplicaURL)
			if !found {
				t.Errorf("node %s: volume %d not in layout %s", url, vid, l.key)
				continue
			}
			want := replica{NodeLocation: n.nodeLocation(), info: info}
			if e.replicas[i] != want {
				t.Errorf("volume %d replica on %s = %+v, want %+v", vid, url, e.replicas[i], want)
			}
		}
	}
	for key, l := range topo.layouts {
		if l.key != key || l.empty() {
			t.Errorf("layout %s: key %s, %d volumes", key, l.key, len(l.volumes))
		}
		nWritable := 0
		perDC := map[string]int{}
		for vid, e := range l.volumes {
			if topo.index[vid] != l {
				t.Errorf("volume %d of %s: index points elsewhere", vid, key)
			}
			if len(e.replicas) == 0 {
				t.Errorf("volume %d of %s has no replica", vid, key)
			}
			if !slices.IsSortedFunc(e.replicas, func(a, b replica) int { return strings.Compare(a.URL, b.URL) }) {
				t.Errorf("volume %d of %s: replicas not sorted", vid, key)
			}
			var wantLocs, wantRead []Location
			for _, r := range e.replicas {
				n := topo.nodes[r.URL]
				if n == nil || n.volumes[vid] != r.info {
					t.Errorf("volume %d of %s: replica on %s not held by a live node", vid, key, r.URL)
				}
				wantLocs = append(wantLocs, r.Location)
				if !r.info.Syncing && !r.stale {
					wantRead = append(wantRead, r.Location)
				}
			}
			if len(wantRead) == 0 {
				for _, r := range e.replicas {
					if !r.stale {
						wantRead = append(wantRead, r.Location)
					}
				}
			}
			if !slices.Equal(e.locs, wantLocs) || !slices.Equal(e.readLocs, wantRead) {
				t.Errorf("volume %d of %s: stale location lists", vid, key)
			}
			w := l.isWritable(e, topo.volumeSizeLimit)
			if e.writable != w {
				t.Errorf("volume %d of %s: writable flag %v, computed %v", vid, key, e.writable, w)
			}
			if _, in := l.writables.pos[vid]; in != w {
				t.Errorf("volume %d of %s: in writable set %v, writable %v", vid, key, in, w)
			}
			if w {
				nWritable++
				dcs := map[string]bool{}
				for _, r := range e.replicas {
					dcs[r.DataCenter] = true
				}
				for dc := range dcs {
					perDC[dc]++
					if s := l.byDC[dc]; s == nil {
						t.Errorf("volume %d of %s: missing from data center %s set", vid, key, dc)
					} else if _, in := s.pos[vid]; !in {
						t.Errorf("volume %d of %s: missing from data center %s set", vid, key, dc)
					}
				}
			}
		}
		checkIDSet(t, &l.writables, nWritable)
		if len(l.byDC) != len(perDC) {
			t.Errorf("layout %s: %d data center sets, want %d", key, len(l.byDC), len(perDC))
		}
		for dc, s := range l.byDC {
			checkIDSet(t, s, perDC[dc])
		}
	}
	for vid, l := range topo.index {
		if topo.layouts[l.key] != l || l.volumes[vid] == nil {
			t.Errorf("index entry for volume %d points at a dropped layout or entry", vid)
		}
	}
}

func checkIDSet(t testing.TB, s *idSet, want int) {
	t.Helper()
	if len(s.ids) != want || len(s.pos) != want {
		t.Errorf("id set holds %d ids, %d positions, want %d", len(s.ids), len(s.pos), want)
	}
	for i, vid := range s.ids {
		if s.pos[vid] != i {
			t.Errorf("id set: volume %d at %d, position says %d", vid, i, s.pos[vid])
		}
	}
}
