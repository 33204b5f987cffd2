// Package topology is the master's in-memory view of the cluster: data
// centers, racks and volume servers (data nodes) built from heartbeats, the
// volume layouts that assigns pick writable volumes from, and the placement
// of new volumes. It has no network code; the master's HTTP handlers feed it
// and render what it returns.
//
// Locking: every mutation (heartbeats, expiry, growth commits, vacuum marks,
// collection deletes) holds Topology.mu for writing. The write hot path
// (PickForWrite) and Lookup never touch Topology.mu: they take a read lock
// on the layout index and then on one volume layout. Status calls take
// Topology.mu for reading, which excludes every mutation.
package topology

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// Names given to nodes whose heartbeat leaves the data center or rack empty.
const (
	DefaultDataCenter = "DefaultDataCenter"
	DefaultRack       = "DefaultRack"
)

// Errors returned by Topology. Check them with errors.Is.
var (
	// ErrBadHeartbeat means a heartbeat was malformed; nothing was changed.
	ErrBadHeartbeat = errors.New("bad heartbeat")
	// ErrNoWritableVolume means the layout asked for has no writable volume
	// (in the requested data center); the master grows volumes and retries.
	ErrNoWritableVolume = errors.New("no writable volume")
	// ErrVolumeNotFound means no live node holds a routable replica of the volume.
	ErrVolumeNotFound = errors.New("volume not found")
	// ErrNotEnoughDataNodes means PlaceVolume found no set of nodes with free
	// slots that satisfies the placement. Its text is the one weed-fs users
	// see; it is returned unwrapped.
	ErrNotEnoughDataNodes = errors.New("Cannot grow volume group! Not enough data node found!")
	// ErrReservationDone means a Reservation was already committed or released.
	ErrReservationDone = errors.New("reservation already committed or released")
)

// Config holds the fixed parameters of a Topology.
type Config struct {
	// VolumeSizeLimit is the size in bytes at which a volume stops taking
	// writes. Zero means no limit.
	VolumeSizeLimit uint64
	// Pulse is the volume servers' heartbeat interval; a node silent for more
	// than wire.DeadPulses pulses is dead. Zero means 5 seconds.
	Pulse time.Duration
	// Seed, when non-zero, seeds the random choices of PlaceVolume so that a
	// run can be replayed. Zero seeds from the runtime's random source.
	Seed uint64
}

// Location is where one replica of a volume is reached: the node's identity
// ("ip:port") and the address handed to clients. Its JSON is an entry of
// /dir/lookup's "locations".
type Location struct {
	URL       string `json:"url"`
	PublicURL string `json:"publicUrl"`
}

// NodeLocation is a Location together with the node's place in the tree.
type NodeLocation struct {
	Location
	DataCenter string `json:"dataCenter"`
	Rack       string `json:"rack"`
}

// RemovedNode is a node Expire dropped, with the volumes it held.
type RemovedNode struct {
	NodeLocation
	Volumes []needle.VolumeID `json:"volumes"`
}

// HeartbeatResult reports what a heartbeat taught the master.
type HeartbeatResult struct {
	// NewNode is true when the node was not known before (first beat, or
	// first beat after it was expired).
	NewNode bool
	// NewVolumes lists, sorted, the volumes the node holds that it did not
	// hold before.
	NewVolumes []needle.VolumeID
	// DeletedVolumes lists, sorted, volumes the node no longer reports.
	DeletedVolumes []needle.VolumeID
	// MaxVolumeID is the largest volume id in the heartbeat (0 if none); the
	// master raises its volume id high-water mark to it.
	MaxVolumeID needle.VolumeID
	// MaxFileKey is the heartbeat's MaxFileKey; the master raises its file
	// key high-water mark to it.
	MaxFileKey needle.Key
}

// Topology is the master's view of the cluster. Safe for concurrent use.
type Topology struct {
	volumeSizeLimit uint64
	pulse           time.Duration

	// mu guards the tree, the nodes' volumes and reservations, rng, and
	// serializes every mutation of the layouts.
	mu    sync.RWMutex
	dcs   map[string]*dataCenter
	nodes map[string]*dataNode
	rng   *rand.Rand

	// layoutsMu guards layouts and index. They are written only while mu is
	// held for writing, so holders of mu may read them without layoutsMu.
	layoutsMu sync.RWMutex
	layouts   map[LayoutKey]*volumeLayout
	index     map[needle.VolumeID]*volumeLayout

	// staleCheck tells which replicas the master marked stale (stale.go);
	// under mu.
	staleCheck func(vid needle.VolumeID, url string) bool
}

type dataCenter struct {
	id    string
	racks map[string]*rack
}

type rack struct {
	id    string
	dc    *dataCenter
	nodes map[string]*dataNode
}

// committedGrace is how many heartbeats that do not mention a volume
// registered by Reservation.Commit the volume survives: a heartbeat built
// before the volume server created the volume may arrive after the commit.
const committedGrace = 2

type dataNode struct {
	url       string
	publicURL string
	rack      *rack // nil once the node is removed
	max       int
	reserved  int // slots held by uncommitted reservations
	volumes   map[needle.VolumeID]wire.VolumeInfo
	fresh     map[needle.VolumeID]int // committed volumes: heartbeats they may still miss
	disks     []wire.DiskInfo         // as the last heartbeat reported them
	lastSeen  time.Time
}

func (n *dataNode) free() int {
	return max(0, n.max-len(n.volumes)-n.reserved)
}

func (n *dataNode) location() Location { return Location{URL: n.url, PublicURL: n.publicURL} }

func (n *dataNode) nodeLocation() NodeLocation {
	return NodeLocation{Location: n.location(), DataCenter: n.rack.dc.id, Rack: n.rack.id}
}

func (n *dataNode) path() string { return "topo:" + n.rack.dc.id + ":" + n.rack.id + ":" + n.url }

// New returns an empty topology.
func New(cfg Config) *Topology {
	pulse := cfg.Pulse
	if pulse <= 0 {
		pulse = 5 * time.Second
	}
	seed1, seed2 := cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15
	if cfg.Seed == 0 {
		seed1, seed2 = rand.Uint64(), rand.Uint64()
	}
	return &Topology{
		volumeSizeLimit: cfg.VolumeSizeLimit,
		pulse:           pulse,
		dcs:             make(map[string]*dataCenter),
		nodes:           make(map[string]*dataNode),
		rng:             rand.New(rand.NewPCG(seed1, seed2)),
		layouts:         make(map[LayoutKey]*volumeLayout),
		index:           make(map[needle.VolumeID]*volumeLayout),
	}
}

// VolumeSizeLimit returns the configured volume size limit in bytes.
func (t *Topology) VolumeSizeLimit() uint64 { return t.volumeSizeLimit }

// ProcessHeartbeat registers the node a heartbeat comes from (or updates it,
// moving it if it names another data center or rack), replaces its volume
// list and updates the volume layouts. now is the arrival time, used by
// Expire. A malformed heartbeat returns ErrBadHeartbeat and changes nothing.
func (t *Topology) ProcessHeartbeat(hb *wire.Heartbeat, now time.Time) (HeartbeatResult, error) {
	infos, keys, err := validateHeartbeat(hb)
	if err != nil {
		return HeartbeatResult{}, err
	}
	dcID, rackID := hb.DataCenter, hb.Rack
	if dcID == "" {
		dcID = DefaultDataCenter
	}
	if rackID == "" {
		rackID = DefaultRack
	}
	url := hb.URL()
	publicURL := hb.PublicURL
	if publicURL == "" {
		publicURL = url
	}
	res := HeartbeatResult{MaxFileKey: hb.MaxFileKey}

	t.mu.Lock()
	defer t.mu.Unlock()

	n := t.nodes[url]
	relocate := false
	switch {
	case n == nil:
		n = &dataNode{
			url:       url,
			publicURL: publicURL,
			volumes:   make(map[needle.VolumeID]wire.VolumeInfo),
			fresh:     make(map[needle.VolumeID]int),
		}
		t.nodes[url] = n
		t.attach(n, dcID, rackID)
		res.NewNode = true
	case n.rack.id != rackID || n.rack.dc.id != dcID:
		glog.Infof("data node %s moves from %s:%s to %s:%s", url, n.rack.dc.id, n.rack.id, dcID, rackID)
		t.detach(n)
		t.attach(n, dcID, rackID)
		relocate = true
	}
	if n.publicURL != publicURL {
		n.publicURL = publicURL
		relocate = true
	}
	n.max = hb.MaxVolumeCount
	n.disks = slices.Clone(hb.Disks)
	n.lastSeen = now

	reported := make(map[needle.VolumeID]bool, len(infos))
	for _, v := range infos {
		reported[v.ID] = true
	}
	for vid, old := range n.volumes {
		if reported[vid] {
			continue
		}
		if left := n.fresh[vid]; left > 0 {
			n.fresh[vid] = left - 1
			continue
		}
		delete(n.fresh, vid)
		delete(n.volumes, vid)
		t.unregister(n, old)
		res.DeletedVolumes = append(res.DeletedVolumes, vid)
		glog.V(1).Infof("%s no longer has volume %d", n.path(), vid)
	}
	if relocate {
		// Replicas are keyed by URL: registering again updates their place.
		for _, v := range n.volumes {
			t.register(n, v)
		}
	}
	for i, v := range infos {
		old, had := n.volumes[v.ID]
		if !had {
			res.NewVolumes = append(res.NewVolumes, v.ID)
			glog.V(2).Infof("%s reports new volume %d", n.path(), v.ID)
		} else if oldKey, _ := layoutOf(old); oldKey != keys[i] {
			t.unregister(n, old)
		}
		delete(n.fresh, v.ID)
		n.volumes[v.ID] = v
		t.register(n, v)
		res.MaxVolumeID = max(res.MaxVolumeID, v.ID)
	}
	slices.Sort(res.NewVolumes)
	slices.Sort(res.DeletedVolumes)
	return res, nil
}

// Expire removes every node whose last heartbeat is more than wire.DeadPulses
// pulses before now, with all its volume locations, and returns the removed
// nodes sorted by URL.
func (t *Topology) Expire(now time.Time) []RemovedNode {
	deadline := now.Add(-wire.DeadPulses * t.pulse)
	t.mu.Lock()
	defer t.mu.Unlock()
	var removed []RemovedNode
	for _, n := range t.nodes {
		if !n.lastSeen.Before(deadline) {
			continue
		}
		glog.Infof("data node %s is dead: last heartbeat %v ago", n.url, now.Sub(n.lastSeen))
		removed = append(removed, t.removeNode(n))
	}
	slices.SortFunc(removed, func(a, b RemovedNode) int { return strings.Compare(a.URL, b.URL) })
	return removed
}

// removeNode drops n and its volume locations. Caller holds mu for writing.
func (t *Topology) removeNode(n *dataNode) RemovedNode {
	rn := RemovedNode{NodeLocation: n.nodeLocation()}
	for vid, v := range n.volumes {
		t.unregister(n, v)
		rn.Volumes = append(rn.Volumes, vid)
	}
	slices.Sort(rn.Volumes)
	delete(t.nodes, n.url)
	t.detach(n)
	return rn
}

// attach puts n under dcID/rackID, creating them as needed.
func (t *Topology) attach(n *dataNode, dcID, rackID string) {
	dc := t.dcs[dcID]
	if dc == nil {
		dc = &dataCenter{id: dcID, racks: make(map[string]*rack)}
		t.dcs[dcID] = dc
		glog.Infof("topo adds child %s", dcID)
	}
	r := dc.racks[rackID]
	if r == nil {
		r = &rack{id: rackID, dc: dc, nodes: make(map[string]*dataNode)}
		dc.racks[rackID] = r
		glog.Infof("topo:%s adds child %s", dcID, rackID)
	}
	r.nodes[n.url] = n
	n.rack = r
	glog.Infof("topo:%s:%s adds child %s", dcID, rackID, n.url)
}

// detach takes n out of its rack and drops a rack or data center left empty.
func (t *Topology) detach(n *dataNode) {
	r := n.rack
	if r == nil {
		return
	}
	delete(r.nodes, n.url)
	n.rack = nil
	glog.Infof("topo:%s:%s removes child %s", r.dc.id, r.id, n.url)
	if len(r.nodes) > 0 {
		return
	}
	delete(r.dc.racks, r.id)
	glog.Infof("topo:%s removes child %s", r.dc.id, r.id)
	if len(r.dc.racks) > 0 {
		return
	}
	delete(t.dcs, r.dc.id)
	glog.Infof("topo removes child %s", r.dc.id)
}

// register makes n a location of volume v in v's layout. Caller holds mu
// for writing; v has passed validation.
func (t *Topology) register(n *dataNode, v wire.VolumeInfo) {
	key, err := layoutOf(v)
	if err != nil {
		glog.Errorf("%s: volume %d not registered: %v", n.path(), v.ID, err)
		return
	}
	l := t.index[v.ID]
	if l == nil {
		l = t.layouts[key]
		t.layoutsMu.Lock()
		if l == nil {
			l = newVolumeLayout(key)
			t.layouts[key] = l
			glog.V(1).Infof("new volume layout %s", key)
		}
		t.index[v.ID] = l
		t.layoutsMu.Unlock()
	} else if l.key != key {
		glog.Warningf("%s reports volume %d as %s, but it is known as %s; not routing to this copy",
			n.path(), v.ID, key, l.key)
		return
	}
	rep := replica{
		NodeLocation: n.nodeLocation(),
		info:         v,
		stale:        t.isStale(v.ID, n.url),
	}
	l.setReplica(rep, t.volumeSizeLimit)
}

// unregister removes n as a location of volume v, dropping the volume from
// its layout (and an empty layout) when no location is left. Copies of the
// volume that other nodes report under another layout (a conflict register
// refused) are then registered in their own. Caller holds mu for writing.
func (t *Topology) unregister(n *dataNode, v wire.VolumeInfo) {
	l := t.index[v.ID]
	if l == nil {
		return
	}
	if !l.removeReplica(v.ID, n.url, t.volumeSizeLimit) {
		return
	}
	t.layoutsMu.Lock()
	delete(t.index, v.ID)
	if l.empty() {
		delete(t.layouts, l.key)
		glog.V(1).Infof("volume layout %s is empty, dropped", l.key)
	}
	t.layoutsMu.Unlock()
	var holders []*dataNode
	for _, m := range t.nodes {
		if _, ok := m.volumes[v.ID]; ok && m != n {
			holders = append(holders, m)
		}
	}
	slices.SortFunc(holders, func(a, b *dataNode) int { return strings.Compare(a.url, b.url) })
	for _, m := range holders {
		t.register(m, m.volumes[v.ID])
	}
}
