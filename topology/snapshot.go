package topology

import (
	"cmp"
	"slices"
	"strings"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// Snapshot is a copy of the whole topology at one instant, for the
// master's metrics and console: every node with its volumes, and every
// volume with its replica health. Built by Topology.Snapshot; the caller
// owns it.
type Snapshot struct {
	// Nodes are sorted by data center, rack and URL.
	Nodes []NodeSnapshot
	// Volumes are sorted by id.
	Volumes []VolumeSnapshot
}

// NodeSnapshot is one volume server in a Snapshot.
type NodeSnapshot struct {
	NodeLocation
	Max  int
	Free int
	// Disks as the node's last heartbeat reported them.
	Disks []wire.DiskInfo
	// Volumes are the node's replicas sorted by id.
	Volumes []ReplicaSnapshot
}

// ReplicaSnapshot is one replica as its node reported it, with whether the
// master marked it stale.
type ReplicaSnapshot struct {
	wire.VolumeInfo
	Stale bool
}

// VolumeSnapshot is one volume (all its replicas) in a Snapshot.
type VolumeSnapshot struct {
	ID          needle.VolumeID
	Collection  string
	Replication string
	TTL         string
	// Copies is how many replicas the master knows; Want how many the
	// placement asks for.
	Copies, Want int
	// Writable: the volume takes assigns now.
	Writable bool
	// Vacuuming: a vacuum is compacting it.
	Vacuuming bool
	// Syncing and Stale: at least one replica is syncing, marked stale.
	Syncing, Stale bool
	// Size and Garbage are the largest of the replicas' sizes and deleted
	// bytes; Files the largest file count.
	Size, Garbage, Files uint64
}

// Snapshot copies the topology under its read lock. It costs one pass over
// every node and volume: call it at scrape or page time, not per request.
func (t *Topology) Snapshot() Snapshot {
	t.mu.RLock()
	defer t.mu.RUnlock()
	snap := Snapshot{Nodes: make([]NodeSnapshot, 0, len(t.nodes))}
	for _, n := range t.nodes {
		if n.rack == nil {
			continue
		}
		ns := NodeSnapshot{
			NodeLocation: n.nodeLocation(),
			Max:          n.max,
			Free:         n.free(),
			Disks:        slices.Clone(n.disks),
			Volumes:      make([]ReplicaSnapshot, 0, len(n.volumes)),
		}
		for vid, v := range n.volumes {
			ns.Volumes = append(ns.Volumes, ReplicaSnapshot{VolumeInfo: v, Stale: t.isStale(vid, n.url)})
		}
		slices.SortFunc(ns.Volumes, func(a, b ReplicaSnapshot) int { return cmp.Compare(a.ID, b.ID) })
		snap.Nodes = append(snap.Nodes, ns)
	}
	slices.SortFunc(snap.Nodes, func(a, b NodeSnapshot) int {
		return cmp.Or(strings.Compare(a.DataCenter, b.DataCenter), strings.Compare(a.Rack, b.Rack), strings.Compare(a.URL, b.URL))
	})
	// Holding t.mu excludes every writer of the layouts; l.mu guards the
	// entries' fields against readers that hold only it.
	for _, l := range t.layouts {
		l.mu.RLock()
		for vid, e := range l.volumes {
			vs := VolumeSnapshot{
				ID:          vid,
				Collection:  l.key.Collection,
				Replication: l.key.Placement.String(),
				TTL:         l.key.TTL.String(),
				Copies:      len(e.replicas),
				Want:        l.copyCount,
				Writable:    e.writable,
				Vacuuming:   e.vacuuming,
			}
			for _, r := range e.replicas {
				vs.Syncing = vs.Syncing || r.info.Syncing
				vs.Stale = vs.Stale || r.stale
				vs.Size = max(vs.Size, r.info.Size)
				vs.Garbage = max(vs.Garbage, r.info.DeletedByteCount)
				vs.Files = max(vs.Files, r.info.FileCount)
			}
			snap.Volumes = append(snap.Volumes, vs)
		}
		l.mu.RUnlock()
	}
	slices.SortFunc(snap.Volumes, func(a, b VolumeSnapshot) int { return cmp.Compare(a.ID, b.ID) })
	return snap
}
