package topology

import (
	"cmp"
	"slices"
	"strings"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// DirStatus is the "Topology" object of the master's /dir/status (and of
// /vol/vacuum's answer): data centers, racks and nodes sorted by id, then
// the layouts sorted by collection, replication and ttl.
type DirStatus struct {
	DataCenters []DataCenterStatus `json:"DataCenters"`
	Free        int                `json:"Free"`
	Max         int                `json:"Max"`
	Layouts     []LayoutStatus     `json:"layouts"`
}

// DataCenterStatus is one data center of DirStatus.
type DataCenterStatus struct {
	ID    string       `json:"Id"`
	Free  int          `json:"Free"`
	Max   int          `json:"Max"`
	Racks []RackStatus `json:"Racks"`
}

// RackStatus is one rack of DirStatus.
type RackStatus struct {
	ID        string           `json:"Id"`
	Free      int              `json:"Free"`
	Max       int              `json:"Max"`
	DataNodes []DataNodeStatus `json:"DataNodes"`
}

// DataNodeStatus is one volume server of DirStatus. Volumes counts the
// volumes it holds; Free is Max minus those and the slots reserved for
// growths in progress (never below zero).
type DataNodeStatus struct {
	URL       string `json:"Url"`
	PublicURL string `json:"PublicUrl"`
	Volumes   int    `json:"Volumes"`
	Free      int    `json:"Free"`
	Max       int    `json:"Max"`
	// Syncing lists the volumes the node reports as syncing (catching up
	// after an outage; not routed to), and Stale those the master's stale
	// marks name. Both are left out when empty.
	Syncing []needle.VolumeID `json:"Syncing,omitempty"`
	Stale   []needle.VolumeID `json:"Stale,omitempty"`
	// Disks lists the node's directories with their free and total bytes
	// as its last heartbeat reported them (left out when it reported none).
	Disks []wire.DiskInfo `json:"Disks,omitempty"`
}

// LayoutStatus is one volume layout of DirStatus with its writable volume
// ids, sorted.
type LayoutStatus struct {
	Collection  string            `json:"collection"`
	Replication string            `json:"replication"`
	TTL         string            `json:"ttl"`
	Writables   []needle.VolumeID `json:"writables"`
}

// VolStatus is the "Volumes" object of the master's /vol/status: every
// node's volumes, keyed by data center, rack and node URL, each list sorted
// by volume id.
type VolStatus struct {
	DataCenters map[string]map[string]map[string][]wire.VolumeInfo `json:"DataCenters"`
	Free        int                                                `json:"Free"`
	Max         int                                                `json:"Max"`
}

// DirStatus returns a snapshot of the tree and the layouts. Slices in it are
// never nil, so they print as [].
func (t *Topology) DirStatus() DirStatus {
	t.mu.RLock()
	defer t.mu.RUnlock()
	st := DirStatus{DataCenters: []DataCenterStatus{}, Layouts: []LayoutStatus{}}
	for _, dc := range sortedValues(t.dcs, func(d *dataCenter) string { return d.id }) {
		ds := DataCenterStatus{ID: dc.id, Racks: []RackStatus{}}
		for _, r := range sortedValues(dc.racks, func(r *rack) string { return r.id }) {
			rs := RackStatus{ID: r.id, DataNodes: []DataNodeStatus{}}
			for _, n := range sortedValues(r.nodes, func(n *dataNode) string { return n.url }) {
				ns := DataNodeStatus{
					URL:       n.url,
					PublicURL: n.publicURL,
					Volumes:   len(n.volumes),
					Free:      n.free(),
					Max:       n.max,
					Disks:     slices.Clone(n.disks),
				}
				for vid, v := range n.volumes {
					if v.Syncing {
						ns.Syncing = append(ns.Syncing, vid)
					}
					if t.isStale(vid, n.url) {
						ns.Stale = append(ns.Stale, vid)
					}
				}
				slices.Sort(ns.Syncing)
				slices.Sort(ns.Stale)
				rs.DataNodes = append(rs.DataNodes, ns)
				rs.Free += ns.Free
				rs.Max += ns.Max
			}
			ds.Racks = append(ds.Racks, rs)
			ds.Free += rs.Free
			ds.Max += rs.Max
		}
		st.DataCenters = append(st.DataCenters, ds)
		st.Free += ds.Free
		st.Max += ds.Max
	}
	// Holding t.mu excludes every writer of the layouts.
	for _, l := range t.layouts {
		st.Layouts = append(st.Layouts, LayoutStatus{
			Collection:  l.key.Collection,
			Replication: l.key.Placement.String(),
			TTL:         l.key.TTL.String(),
			Writables:   l.writables.sorted(),
		})
	}
	slices.SortFunc(st.Layouts, func(a, b LayoutStatus) int {
		if c := strings.Compare(a.Collection, b.Collection); c != 0 {
			return c
		}
		if c := strings.Compare(a.Replication, b.Replication); c != 0 {
			return c
		}
		return strings.Compare(a.TTL, b.TTL)
	})
	return st
}

// VolStatus returns a snapshot of every node's volumes as they reported
// them (or as a growth registered them). Volume lists are never nil.
func (t *Topology) VolStatus() VolStatus {
	t.mu.RLock()
	defer t.mu.RUnlock()
	st := VolStatus{DataCenters: make(map[string]map[string]map[string][]wire.VolumeInfo, len(t.dcs))}
	for _, dc := range t.dcs {
		racks := make(map[string]map[string][]wire.VolumeInfo, len(dc.racks))
		for _, r := range dc.racks {
			nodes := make(map[string][]wire.VolumeInfo, len(r.nodes))
			for _, n := range r.nodes {
				vols := make([]wire.VolumeInfo, 0, len(n.volumes))
				for _, v := range n.volumes {
					vols = append(vols, v)
				}
				slices.SortFunc(vols, func(a, b wire.VolumeInfo) int { return cmp.Compare(a.ID, b.ID) })
				nodes[n.url] = vols
				st.Free += n.free()
				st.Max += n.max
			}
			racks[r.id] = nodes
		}
		st.DataCenters[dc.id] = racks
	}
	return st
}
