package topology

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// Replica is one copy of a volume: where it is and what its node reported.
type Replica struct {
	NodeLocation
	Info wire.VolumeInfo
	// Stale: the master's stale marks name this copy (it missed a delete);
	// it is neither read from nor written to until it has synced.
	Stale bool
}

// VolumeView is a snapshot of one volume of a layout, for vacuum and
// re-replication.
type VolumeView struct {
	ID         needle.VolumeID
	Collection string
	Placement  needle.Placement
	TTL        needle.TTL
	// Replicas lists every live copy, syncing ones included, sorted by URL.
	Replicas []Replica
	// Writable reports whether assigns may pick the volume now.
	Writable bool
	// Vacuuming reports whether SetVacuuming marked the volume.
	Vacuuming bool
}

func (l *volumeLayout) view(vid needle.VolumeID, e *volumeEntry) VolumeView {
	v := VolumeView{
		ID:         vid,
		Collection: l.key.Collection,
		Placement:  l.key.Placement,
		TTL:        l.key.TTL,
		Replicas:   make([]Replica, 0, len(e.replicas)),
		Writable:   e.writable,
		Vacuuming:  e.vacuuming,
	}
	for _, r := range e.replicas {
		v.Replicas = append(v.Replicas, Replica{NodeLocation: r.NodeLocation, Info: r.info, Stale: r.stale})
	}
	return v
}

// Volumes returns a snapshot of every routed volume with its replicas and
// layout, sorted by id.
func (t *Topology) Volumes() []VolumeView {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []VolumeView
	for _, l := range t.layouts {
		for vid, e := range l.volumes {
			out = append(out, l.view(vid, e))
		}
	}
	slices.SortFunc(out, func(a, b VolumeView) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Volume returns a snapshot of volume vid, or ErrVolumeNotFound.
func (t *Topology) Volume(vid needle.VolumeID) (VolumeView, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if l := t.index[vid]; l != nil {
		if e := l.volumes[vid]; e != nil {
			return l.view(vid, e), nil
		}
	}
	return VolumeView{}, fmt.Errorf("volume %d: %w", vid, ErrVolumeNotFound)
}

// Collections returns the names of the collections that have volumes on
// live nodes, sorted; the default collection is "".
func (t *Topology) Collections() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	seen := make(map[string]bool)
	for _, n := range t.nodes {
		for _, v := range n.volumes {
			seen[v.Collection] = true
		}
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// CollectionNodes returns the live nodes holding at least one volume of the
// collection, sorted by URL.
func (t *Topology) CollectionNodes(collection string) []NodeLocation {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []NodeLocation
	for _, n := range t.nodes {
		for _, v := range n.volumes {
			if v.Collection == collection {
				out = append(out, n.nodeLocation())
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b NodeLocation) int { return strings.Compare(a.URL, b.URL) })
	return out
}

// DeleteCollection forgets every volume of the collection on every node and
// in the layouts (their slots become free) and returns their ids, sorted.
// The master calls it once the volume servers deleted the files.
func (t *Topology) DeleteCollection(collection string) []needle.VolumeID {
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := make(map[needle.VolumeID]bool)
	for _, n := range t.nodes {
		for vid, v := range n.volumes {
			if v.Collection != collection {
				continue
			}
			t.unregister(n, v)
			delete(n.volumes, vid)
			delete(n.fresh, vid)
			seen[vid] = true
		}
	}
	out := make([]needle.VolumeID, 0, len(seen))
	for vid := range seen {
		out = append(out, vid)
	}
	slices.Sort(out)
	glog.Infof("collection %q deleted: volumes %v", collection, out)
	return out
}
