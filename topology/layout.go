package topology

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// LayoutKey names a volume layout: the volumes sharing a collection, a
// replication and a ttl. Each assign draws from exactly one layout.
type LayoutKey struct {
	Collection string
	Placement  needle.Placement
	// TTL is canonical: a zero ttl is always needle.TTL{}.
	TTL needle.TTL
}

func newLayoutKey(collection string, p needle.Placement, ttl needle.TTL) LayoutKey {
	if ttl.IsZero() {
		ttl = needle.TTL{}
	}
	return LayoutKey{Collection: collection, Placement: p, TTL: ttl}
}

// String formats the key as log lines show it.
func (k LayoutKey) String() string {
	return fmt.Sprintf("collection=%q replication=%s ttl=%q", k.Collection, k.Placement, k.TTL)
}

// WriteRequest says which layout an assign draws from, and optionally the
// data center one of the volume's replicas must be in.
type WriteRequest struct {
	Collection string
	Placement  needle.Placement
	TTL        needle.TTL
	// DataCenter, when not empty, restricts the choice to volumes with a
	// replica in that data center.
	DataCenter string
}

// replica is one location of a volume and what that node reported about it.
type replica struct {
	NodeLocation
	info  wire.VolumeInfo
	stale bool // marked stale by the master (stale.go)
}

// volumeEntry is one volume of a layout.
type volumeEntry struct {
	replicas  []replica // sorted by URL
	vacuuming bool
	writable  bool
	dcs       []string   // data centers whose writable sets hold the volume
	locs      []Location // every replica, sorted by URL; replaced, never mutated
	readLocs  []Location // replicas that are not syncing; replaced, never mutated
}

// volumeLayout holds the volumes of one LayoutKey and the ids of the
// writable ones. mu is taken for writing only by holders of Topology.mu
// (so those may read without it) and for reading by PickForWrite and Lookup.
type volumeLayout struct {
	key       LayoutKey
	copyCount int

	mu        sync.RWMutex
	volumes   map[needle.VolumeID]*volumeEntry
	writables idSet
	byDC      map[string]*idSet
}

func newVolumeLayout(key LayoutKey) *volumeLayout {
	return &volumeLayout{
		key:       key,
		copyCount: key.Placement.CopyCount(),
		volumes:   make(map[needle.VolumeID]*volumeEntry),
		byDC:      make(map[string]*idSet),
	}
}

func (l *volumeLayout) empty() bool { return len(l.volumes) == 0 }

// setReplica adds or updates the replica rep of volume rep.info.ID.
func (l *volumeLayout) setReplica(rep replica, sizeLimit uint64) {
	vid := rep.info.ID
	e := l.volumes[vid]
	idx, found := 0, false
	if e != nil {
		idx, found = slices.BinarySearchFunc(e.replicas, rep.URL, compareReplicaURL)
		if found && e.replicas[idx] == rep {
			return
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case e == nil:
		e = &volumeEntry{replicas: []replica{rep}}
		l.volumes[vid] = e
	case found:
		e.replicas[idx] = rep
	default:
		e.replicas = slices.Insert(e.replicas, idx, rep)
	}
	l.refresh(vid, e, sizeLimit)
}

func compareReplicaURL(r replica, url string) int { return strings.Compare(r.URL, url) }

// removeReplica removes the replica on url of volume vid and reports whether
// the volume is gone from the layout (no replica left).
func (l *volumeLayout) removeReplica(vid needle.VolumeID, url string, sizeLimit uint64) bool {
	e := l.volumes[vid]
	if e == nil {
		return false
	}
	i, found := slices.BinarySearchFunc(e.replicas, url, compareReplicaURL)
	if !found {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e.replicas = slices.Delete(e.replicas, i, i+1)
	if len(e.replicas) > 0 {
		l.refresh(vid, e, sizeLimit)
		return false
	}
	l.dropWritable(vid, e)
	delete(l.volumes, vid)
	return true
}

// setVacuuming marks or clears volume vid as being vacuumed.
func (l *volumeLayout) setVacuuming(vid needle.VolumeID, on bool, sizeLimit uint64) {
	e := l.volumes[vid]
	if e == nil || e.vacuuming == on {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e.vacuuming = on
	l.refresh(vid, e, sizeLimit)
}

// isWritable reports whether writes may go to the volume: not being
// vacuumed, exactly the placement's copy count of live replicas, none of
// them read-only, syncing, marked stale or at the size limit.
func (l *volumeLayout) isWritable(e *volumeEntry, sizeLimit uint64) bool {
	if e.vacuuming || len(e.replicas) != l.copyCount {
		return false
	}
	for _, r := range e.replicas {
		if r.info.ReadOnly || r.info.Syncing || r.stale || (sizeLimit > 0 && r.info.Size >= sizeLimit) {
			return false
		}
	}
	return true
}

// refresh recomputes e's location lists and writability. Caller holds l.mu.
func (l *volumeLayout) refresh(vid needle.VolumeID, e *volumeEntry, sizeLimit uint64) {
	locs := make([]Location, 0, len(e.replicas))
	readLocs := make([]Location, 0, len(e.replicas))
	for _, r := range e.replicas {
		locs = append(locs, r.Location)
		if !r.info.Syncing && !r.stale {
			readLocs = append(readLocs, r.Location)
		}
	}
	if len(readLocs) == 0 {
		// No replica has synced yet (every holder restarted): those not
		// marked stale missed no acknowledged delete and serve reads.
		for _, r := range e.replicas {
			if !r.stale {
				readLocs = append(readLocs, r.Location)
			}
		}
	}
	e.locs, e.readLocs = locs, readLocs
	l.dropWritable(vid, e)
	if !l.isWritable(e, sizeLimit) {
		glog.V(3).Infof("volume %d of %s is not writable", vid, l.key)
		return
	}
	e.writable = true
	l.writables.add(vid)
	for _, r := range e.replicas {
		if slices.Contains(e.dcs, r.DataCenter) {
			continue
		}
		e.dcs = append(e.dcs, r.DataCenter)
		s := l.byDC[r.DataCenter]
		if s == nil {
			s = &idSet{}
			l.byDC[r.DataCenter] = s
		}
		s.add(vid)
	}
}

// dropWritable takes vid out of every writable set. Caller holds l.mu.
func (l *volumeLayout) dropWritable(vid needle.VolumeID, e *volumeEntry) {
	if !e.writable {
		return
	}
	l.writables.remove(vid)
	for _, dc := range e.dcs {
		if s := l.byDC[dc]; s != nil {
			s.remove(vid)
			if s.len() == 0 {
				delete(l.byDC, dc)
			}
		}
	}
	e.writable, e.dcs = false, nil
}

// layout returns the layout of key, or nil. Takes layoutsMu for reading.
func (t *Topology) layout(key LayoutKey) *volumeLayout {
	t.layoutsMu.RLock()
	l := t.layouts[key]
	t.layoutsMu.RUnlock()
	return l
}

// PickForWrite returns a writable volume of the request's layout, chosen at
// random (among those with a replica in req.DataCenter when it is set), and
// the locations of all its replicas: those in req.DataCenter first, then by
// URL. The caller owns the returned slice. It returns ErrNoWritableVolume
// when there is none. It takes read locks only and does not scan.
func (t *Topology) PickForWrite(req WriteRequest) (needle.VolumeID, []Location, error) {
	l := t.layout(newLayoutKey(req.Collection, req.Placement, req.TTL))
	if l == nil {
		return 0, nil, ErrNoWritableVolume
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	set := &l.writables
	if req.DataCenter != "" {
		set = l.byDC[req.DataCenter]
	}
	if set == nil || set.len() == 0 {
		return 0, nil, ErrNoWritableVolume
	}
	vid := set.ids[rand.IntN(len(set.ids))]
	e := l.volumes[vid]
	locs := make([]Location, 0, len(e.replicas))
	if req.DataCenter == "" {
		return vid, append(locs, e.locs...), nil
	}
	for _, r := range e.replicas {
		if r.DataCenter == req.DataCenter {
			locs = append(locs, r.Location)
		}
	}
	for _, r := range e.replicas {
		if r.DataCenter != req.DataCenter {
			locs = append(locs, r.Location)
		}
	}
	return vid, locs, nil
}

// Lookup returns the locations of volume vid that may be read from (every
// live replica that is neither syncing nor marked stale; when there is
// none, those that are only syncing), sorted by URL. The caller owns the
// returned slice. It returns ErrVolumeNotFound when there is none.
func (t *Topology) Lookup(vid needle.VolumeID) ([]Location, error) {
	t.layoutsMu.RLock()
	l := t.index[vid]
	t.layoutsMu.RUnlock()
	if l == nil {
		return nil, fmt.Errorf("volume %d: %w", vid, ErrVolumeNotFound)
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	e := l.volumes[vid]
	if e == nil || len(e.readLocs) == 0 {
		return nil, fmt.Errorf("volume %d: %w", vid, ErrVolumeNotFound)
	}
	return slices.Clone(e.readLocs), nil
}

// SetVacuuming marks volume vid as being vacuumed (on) or done (off). A
// volume being vacuumed is not writable. It returns ErrVolumeNotFound for an
// unknown volume.
func (t *Topology) SetVacuuming(vid needle.VolumeID, on bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.index[vid]
	if l == nil {
		return fmt.Errorf("volume %d: %w", vid, ErrVolumeNotFound)
	}
	l.setVacuuming(vid, on, t.volumeSizeLimit)
	glog.V(2).Infof("volume %d vacuuming=%v", vid, on)
	return nil
}

// idSet is a set of volume ids that supports O(1) add, remove and uniform
// random choice.
type idSet struct {
	ids []needle.VolumeID
	pos map[needle.VolumeID]int
}

func (s *idSet) len() int { return len(s.ids) }

func (s *idSet) add(vid needle.VolumeID) {
	if s.pos == nil {
		s.pos = make(map[needle.VolumeID]int)
	}
	if _, ok := s.pos[vid]; ok {
		return
	}
	s.pos[vid] = len(s.ids)
	s.ids = append(s.ids, vid)
}

func (s *idSet) remove(vid needle.VolumeID) {
	i, ok := s.pos[vid]
	if !ok {
		return
	}
	last := len(s.ids) - 1
	s.ids[i] = s.ids[last]
	s.pos[s.ids[i]] = i
	s.ids = s.ids[:last]
	delete(s.pos, vid)
}

// sorted returns a sorted copy of the ids, never nil.
func (s *idSet) sorted() []needle.VolumeID {
	out := make([]needle.VolumeID, len(s.ids))
	copy(out, s.ids)
	slices.Sort(out)
	return out
}
