package topology

import (
	"slices"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
)

// SetStaleCheck installs the function that tells which replicas the
// master's stale marks name. Replicas it reports are left out of Lookup
// (the read view) and make their volume unwritable; VolumeView and the
// node status show them. It applies to replicas registered from then on;
// call RefreshStale to apply it to the known ones. fn is called with the
// topology's lock held and must not call the Topology.
func (t *Topology) SetStaleCheck(fn func(vid needle.VolumeID, url string) bool) {
	t.mu.Lock()
	t.staleCheck = fn
	t.mu.Unlock()
	t.RefreshStale()
}

// isStale asks the stale check about one replica. Caller holds mu.
func (t *Topology) isStale(vid needle.VolumeID, url string) bool {
	return t.staleCheck != nil && t.staleCheck(vid, url)
}

// RefreshStale asks the stale check again about every replica of the
// given volumes (of every volume when none is given), after marks changed.
func (t *Topology) RefreshStale(vids ...needle.VolumeID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	want := make(map[needle.VolumeID]bool, len(vids))
	for _, vid := range vids {
		want[vid] = true
	}
	for _, n := range t.nodes {
		for vid, v := range n.volumes {
			if len(want) > 0 && !want[vid] {
				continue
			}
			l := t.index[vid]
			if l == nil {
				continue
			}
			e := l.volumes[vid]
			if e == nil {
				continue
			}
			stale := t.isStale(vid, n.url)
			for _, r := range e.replicas {
				if r.URL == n.url && r.stale != stale {
					glog.V(1).Infof("volume %d on %s: stale=%v", vid, n.url, stale)
					t.register(n, v)
				}
			}
		}
	}
}

// StaleVolumes returns the volumes the node at url holds that the stale
// check reports, sorted.
func (t *Topology) StaleVolumes(url string) []needle.VolumeID {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := t.nodes[url]
	if n == nil {
		return nil
	}
	var out []needle.VolumeID
	for vid := range n.volumes {
		if t.isStale(vid, url) {
			out = append(out, vid)
		}
	}
	slices.Sort(out)
	return out
}
