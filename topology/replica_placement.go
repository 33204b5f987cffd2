package topology

import (
	"fmt"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/replication"
)

// PlaceReplica chooses a node for one more copy of volume vid, which has
// lost copies: a node with a free slot, not holding the volume and not in
// exclude, such that the surviving copies and the new one still fit the
// volume's placement. The choice is random, weighted by free slots, and a
// slot is reserved on the node until the Reservation is released (the
// copy registers itself through the node's heartbeats). It returns
// ErrVolumeNotFound for an unknown volume and ErrNotEnoughDataNodes,
// unwrapped, when no node fits.
func (t *Topology) PlaceReplica(vid needle.VolumeID, exclude map[string]bool) (*Reservation, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.index[vid]
	if l == nil || l.volumes[vid] == nil {
		return nil, fmt.Errorf("volume %d: %w", vid, ErrVolumeNotFound)
	}
	e := l.volumes[vid]
	p := l.key.Placement
	sites := make([]replication.Site, 0, len(e.replicas)+1)
	holders := make(map[string]bool, len(e.replicas))
	for _, r := range e.replicas {
		sites = append(sites, replication.Site{DataCenter: r.DataCenter, Rack: r.Rack, Node: r.URL})
		holders[r.URL] = true
	}
	var cands []*dataNode
	for _, n := range sortedValues(t.nodes, func(n *dataNode) string { return n.url }) {
		if n.free() <= 0 || holders[n.url] || exclude[n.url] || n.rack == nil {
			continue
		}
		if _, ok := n.volumes[vid]; ok {
			continue
		}
		site := replication.Site{DataCenter: n.rack.dc.id, Rack: n.rack.id, Node: n.url}
		if replication.Fits(p, append(sites, site)) {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		glog.V(1).Infof("volume %d: no node can take another copy under replication %s", vid, p)
		return nil, ErrNotEnoughDataNodes
	}
	n := t.pickNode(cands)
	n.reserved++
	r := &Reservation{t: t, placement: p, nodes: []*dataNode{n}, locs: []NodeLocation{n.nodeLocation()}}
	return r, nil
}
