package replication

import "github.com/weedfs/weed/needle"

// Site is where one copy of a volume lives.
type Site struct {
	DataCenter string
	Rack       string
	Node       string
}

// Fits reports whether copies at sites can all belong to one placement of
// p: on distinct nodes, no more than p.CopyCount() of them, and around some
// main copy at most SameRack others in its rack, at most DiffRack in
// distinct other racks of its data center and at most DiffDataCenter in
// distinct other data centers. A full set (p.CopyCount() sites) that fits
// is exactly the placement.
func Fits(p needle.Placement, sites []Site) bool {
	if len(sites) > p.CopyCount() {
		return false
	}
	for i := range sites {
		for j := i + 1; j < len(sites); j++ {
			if sites[i].Node == sites[j].Node {
				return false
			}
		}
	}
	if len(sites) == 0 {
		return true
	}
	for _, m := range sites {
		if fitsAround(p, m, sites) {
			return true
		}
	}
	return false
}

// fitsAround checks the counts with m as the main copy.
func fitsAround(p needle.Placement, m Site, sites []Site) bool {
	sameRack := 0
	racks := map[string]bool{}
	dcs := map[string]bool{}
	for _, s := range sites {
		switch {
		case s.Node == m.Node:
		case s.DataCenter != m.DataCenter:
			if dcs[s.DataCenter] {
				return false
			}
			dcs[s.DataCenter] = true
		case s.Rack != m.Rack:
			if racks[s.Rack] {
				return false
			}
			racks[s.Rack] = true
		default:
			sameRack++
		}
	}
	return sameRack <= p.SameRack && len(racks) <= p.DiffRack && len(dcs) <= p.DiffDataCenter
}
