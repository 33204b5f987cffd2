package topology

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// GrowthCount is how many volumes the master grows at once for a layout
// whose volumes have copyCount copies: 7 for 1, 6 for 2, 3 for 3, else 1.
func GrowthCount(copyCount int) int {
	switch copyCount {
	case 1:
		return 7
	case 2:
		return 6
	case 3:
		return 3
	}
	return 1
}

// Reservation holds one free slot on each node chosen for a new volume until
// the master commits it (the volume servers created the volume) or releases
// it. While held, the slots count as used, so concurrent placements never
// over-commit a node. Safe for concurrent use.
type Reservation struct {
	t         *Topology
	placement needle.Placement
	nodes     []*dataNode
	locs      []NodeLocation
	done      bool // guarded by t.mu
}

// Placement returns the replication the nodes were chosen for.
func (r *Reservation) Placement() needle.Placement { return r.placement }

// Nodes returns the chosen nodes as they were at placement time: the main
// node first, then the other nodes of its rack, then one node in each other
// rack of its data center, then one node in each other data center. The
// caller owns the returned slice.
func (r *Reservation) Nodes() []NodeLocation { return slices.Clone(r.locs) }

// Commit registers volume vid (with the given collection and ttl and the
// reservation's placement) on every chosen node that is still alive, and
// frees the reservation. With all its copies registered the volume is
// writable at once. A node that expired meanwhile is skipped; its next
// heartbeat reports what it holds.
// Commit returns ErrReservationDone if the reservation was already
// committed or released.
func (r *Reservation) Commit(vid needle.VolumeID, collection string, ttl needle.TTL) error {
	t := r.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.done {
		return ErrReservationDone
	}
	r.done = true
	info := wire.VolumeInfo{
		ID:               vid,
		ReplicaPlacement: r.placement,
		TTL:              ttl.String(),
		Collection:       collection,
		Version:          needle.CurrentVersion,
	}
	for _, n := range r.nodes {
		n.reserved--
		if t.nodes[n.url] != n {
			glog.Warningf("volume %d: node %s left before the growth was committed", vid, n.url)
			continue
		}
		if _, ok := n.volumes[vid]; ok {
			continue // a heartbeat already reported it
		}
		n.volumes[vid] = info
		n.fresh[vid] = committedGrace
		t.register(n, info)
		glog.Infof("volume %d registered on %s", vid, n.path())
	}
	return nil
}

// Release gives the reserved slots back. Releasing a committed or released
// reservation does nothing.
func (r *Reservation) Release() {
	t := r.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	for _, n := range r.nodes {
		n.reserved--
	}
}

// rackStat and dcStat summarize free capacity for one placement decision.
type rackStat struct {
	r         *rack
	free      int
	freeNodes []*dataNode // sorted by URL
}

type dcStat struct {
	dc          *dataCenter
	free        int
	racks       []rackStat // sorted by id
	usableRacks int        // racks with at least one free node
}

// PlaceVolume chooses placement.CopyCount() distinct nodes with a free slot
// for one new volume and reserves a slot on each: a main node (in
// preferredDataCenter when it is not empty), SameRack more nodes in the main
// node's rack, DiffRack nodes in distinct other racks of the main data
// center, and DiffDataCenter nodes in distinct other data centers. Every
// choice is random, weighted by free slots, among those that leave the whole
// placement possible. When no placement is possible it returns
// ErrNotEnoughDataNodes, unwrapped; a placement with a digit outside 0..9
// returns needle.ErrBadPlacement.
func (t *Topology) PlaceVolume(p needle.Placement, preferredDataCenter string) (*Reservation, error) {
	if !validDigit(p.SameRack) || !validDigit(p.DiffRack) || !validDigit(p.DiffDataCenter) {
		return nil, fmt.Errorf("%w: %+v", needle.ErrBadPlacement, p)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	nodes := t.place(p, preferredDataCenter)
	if nodes == nil {
		glog.V(1).Infof("no placement for replication %s in data center %q", p, preferredDataCenter)
		return nil, ErrNotEnoughDataNodes
	}
	r := &Reservation{t: t, placement: p, nodes: nodes}
	for _, n := range nodes {
		n.reserved++
		r.locs = append(r.locs, n.nodeLocation())
	}
	glog.V(2).Infof("replication %s placed on %v", p, r.locs)
	return r, nil
}

// place returns the chosen nodes, or nil when p cannot be satisfied.
// Caller holds t.mu for writing (t.rng is used).
func (t *Topology) place(p needle.Placement, preferredDC string) []*dataNode {
	stats := t.capacity()
	dcsWithFree := 0
	for _, d := range stats {
		if d.free > 0 {
			dcsWithFree++
		}
	}
	// A rack can hold the main node when it has SameRack+1 free nodes and its
	// data center has DiffRack other racks with a free node; a data center
	// can when it has such a rack and DiffDataCenter others have a free node.
	rackFits := func(d *dcStat, rs *rackStat) bool {
		return len(rs.freeNodes) >= p.SameRack+1 && d.usableRacks-1 >= p.DiffRack
	}
	dcWeights := make([]int, len(stats))
	for i := range stats {
		d := &stats[i]
		if preferredDC != "" && d.dc.id != preferredDC {
			continue
		}
		others := dcsWithFree
		if d.free > 0 {
			others--
		}
		if others < p.DiffDataCenter {
			continue
		}
		for j := range d.racks {
			if rackFits(d, &d.racks[j]) {
				dcWeights[i] += d.racks[j].free
			}
		}
	}
	di := pickWeighted(t.rng, dcWeights)
	if di < 0 {
		return nil
	}
	mainDC := &stats[di]
	rackWeights := make([]int, len(mainDC.racks))
	for j := range mainDC.racks {
		if rackFits(mainDC, &mainDC.racks[j]) {
			rackWeights[j] = mainDC.racks[j].free
		}
	}
	ri := pickWeighted(t.rng, rackWeights)
	mainRack := &mainDC.racks[ri]

	var chosen []*dataNode
	for _, k := range pickDistinct(t.rng, nodeWeights(mainRack.freeNodes), p.SameRack+1) {
		chosen = append(chosen, mainRack.freeNodes[k])
	}
	otherRackWeights := make([]int, len(mainDC.racks))
	for j := range mainDC.racks {
		if j != ri {
			otherRackWeights[j] = mainDC.racks[j].free
		}
	}
	for _, j := range pickDistinct(t.rng, otherRackWeights, p.DiffRack) {
		chosen = append(chosen, t.pickNode(mainDC.racks[j].freeNodes))
	}
	otherDCWeights := make([]int, len(stats))
	for i := range stats {
		if i != di {
			otherDCWeights[i] = stats[i].free
		}
	}
	for _, i := range pickDistinct(t.rng, otherDCWeights, p.DiffDataCenter) {
		d := &stats[i]
		w := make([]int, len(d.racks))
		for j := range d.racks {
			w[j] = d.racks[j].free
		}
		chosen = append(chosen, t.pickNode(d.racks[pickWeighted(t.rng, w)].freeNodes))
	}
	if len(chosen) != p.CopyCount() {
		return nil
	}
	return chosen
}

// pickNode picks one of nodes (all with a free slot) weighted by free slots.
func (t *Topology) pickNode(nodes []*dataNode) *dataNode {
	return nodes[pickWeighted(t.rng, nodeWeights(nodes))]
}

func nodeWeights(nodes []*dataNode) []int {
	w := make([]int, len(nodes))
	for i, n := range nodes {
		w[i] = n.free()
	}
	return w
}

// capacity summarizes free slots per data center and rack, in id order so
// that a seeded run is reproducible. Caller holds t.mu.
func (t *Topology) capacity() []dcStat {
	stats := make([]dcStat, 0, len(t.dcs))
	for _, dc := range sortedValues(t.dcs, func(d *dataCenter) string { return d.id }) {
		d := dcStat{dc: dc}
		for _, r := range sortedValues(dc.racks, func(r *rack) string { return r.id }) {
			rs := rackStat{r: r}
			for _, n := range sortedValues(r.nodes, func(n *dataNode) string { return n.url }) {
				if f := n.free(); f > 0 {
					rs.free += f
					rs.freeNodes = append(rs.freeNodes, n)
				}
			}
			d.free += rs.free
			if rs.free > 0 {
				d.usableRacks++
			}
			d.racks = append(d.racks, rs)
		}
		stats = append(stats, d)
	}
	return stats
}

// sortedValues returns the map's values ordered by id.
func sortedValues[V any](m map[string]V, id func(V) string) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b V) int { return strings.Compare(id(a), id(b)) })
	return out
}

// pickWeighted returns an index chosen with probability proportional to its
// weight (non-positive weights are never chosen), or -1 if no weight is
// positive.
func pickWeighted(rng *rand.Rand, weights []int) int {
	total := 0
	for _, w := range weights {
		if w > 0 {
			total += w
		}
	}
	if total == 0 {
		return -1
	}
	x := rng.IntN(total)
	for i, w := range weights {
		if w <= 0 {
			continue
		}
		if x < w {
			return i
		}
		x -= w
	}
	return -1
}

// pickDistinct picks k distinct indexes, each weighted as pickWeighted does.
// The caller guarantees that at least k weights are positive.
func pickDistinct(rng *rand.Rand, weights []int, k int) []int {
	w := slices.Clone(weights)
	out := make([]int, 0, k)
	for len(out) < k {
		i := pickWeighted(rng, w)
		if i < 0 {
			break
		}
		out = append(out, i)
		w[i] = 0
	}
	return out
}
