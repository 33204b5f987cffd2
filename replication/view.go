package replication

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/wire"
	"golang.org/x/sync/singleflight"
)

// viewLookupBudget bounds one refresh of the fan-out view, every master
// tried.
const viewLookupBudget = 12 * time.Second

// fanoutView caches the master's fan-out view of volumes for ttl, one
// master request per volume at a time.
type fanoutView struct {
	masters Masters
	ttl     time.Duration
	mu      sync.Mutex
	cache   map[needle.VolumeID]fanoutEntry
	// gen counts invalidations: a master request started before one
	// neither fills the cache nor answers callers that came after it.
	gen     uint64
	flights singleflight.Group
}

type fanoutEntry struct {
	locs    []wire.ReplicaLocation
	expires time.Time
}

func newFanoutView(masters Masters, ttl time.Duration) *fanoutView {
	return &fanoutView{masters: masters, ttl: ttl, cache: make(map[needle.VolumeID]fanoutEntry)}
}

// get returns every replica of vid the master knows (none when it knows
// none). The slice is shared: do not modify it.
func (f *fanoutView) get(ctx context.Context, vid needle.VolumeID) ([]wire.ReplicaLocation, error) {
	f.mu.Lock()
	e, ok := f.cache[vid]
	gen := f.gen
	f.mu.Unlock()
	if ok && time.Now().Before(e.expires) {
		return e.locs, nil
	}
	ch := f.flights.DoChan(vid.String()+"@"+strconv.FormatUint(gen, 10), func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), viewLookupBudget)
		defer cancel()
		locs, err := f.masters.FanoutView(fctx, vid)
		if err != nil {
			return nil, err
		}
		f.mu.Lock()
		if f.gen == gen {
			f.cache[vid] = fanoutEntry{locs: locs, expires: time.Now().Add(f.ttl)}
		}
		f.mu.Unlock()
		return locs, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.([]wire.ReplicaLocation), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// invalidate drops the cached view of vid; a master request already in
// flight does not put it back.
func (f *fanoutView) invalidate(vid needle.VolumeID) {
	f.mu.Lock()
	delete(f.cache, vid)
	f.gen++
	f.mu.Unlock()
}

// holdView holds c.viewGate shared when vol is replicated, until release.
// A primary write or delete holds it from its read of the fan-out view to
// its local append: a hello (Hello) waits for it, so no
// operation that used a view without a rejoining replica appends here
// after that replica's sync has read this replica's records. Unreplicated
// volumes have no replica to rejoin and skip it.
func (c *Coordinator) holdView(vol *volume.Volume) viewHold {
	if vol.Placement().CopyCount() <= 1 {
		return viewHold{}
	}
	c.viewGate.RLock()
	return viewHold{&c.viewGate}
}

// viewHold is a shared hold of a Coordinator's viewGate (none when gate is nil).
type viewHold struct{ gate *sync.RWMutex }

func (h viewHold) release() {
	if h.gate != nil {
		h.gate.RUnlock()
	}
}

// OtherReplicas returns the replicas of vid other than this server in the
// master's fan-out view (cached for a pulse), syncing and stale ones
// included: see wire.ReplicaLocation.Healthy.
func (c *Coordinator) OtherReplicas(ctx context.Context, vid needle.VolumeID) ([]wire.ReplicaLocation, error) {
	out, _, err := c.replicaView(ctx, vid)
	return out, err
}

// View returns every replica of vid in the master's fan-out view, this
// server included, from the cache while it is fresh. The slice is shared:
// do not modify it.
func (c *Coordinator) View(ctx context.Context, vid needle.VolumeID) ([]wire.ReplicaLocation, error) {
	return c.view.get(ctx, vid)
}

// InvalidateView drops the cached fan-out view of vid: the next write or
// delete asks the master.
func (c *Coordinator) InvalidateView(vid needle.VolumeID) { c.view.invalidate(vid) }

// Hello is a rejoining replica's announcement (wire.SyncHelloPath): the
// cached views of vid are dropped, so the next write or delete reaches
// that replica. It returns once every write and delete that read the old
// view here has appended locally, so the rejoining replica's sync, which
// starts after the hellos, finds them in this replica's records.
func (c *Coordinator) Hello(vid needle.VolumeID) {
	c.viewGate.Lock()
	c.view.invalidate(vid)
	c.lookup(vid)
	c.viewGate.Unlock()
}

// replicaView returns the replicas of vid other than this server, and
// whether the master's view lists this server among them.
func (c *Coordinator) replicaView(ctx context.Context, vid needle.VolumeID) (others []wire.ReplicaLocation, listsSelf bool, err error) {
	self, known := c.self()
	if !known {
		return nil, false, ErrIdentityUnknown
	}
	locs, err := c.view.get(ctx, vid)
	if err != nil {
		return nil, false, err
	}
	others = make([]wire.ReplicaLocation, 0, len(locs))
	for _, l := range locs {
		if l.URL == self {
			listsSelf = true
		}
		if l.URL != "" && l.URL != self && !slices.ContainsFunc(others, func(o wire.ReplicaLocation) bool { return o.URL == l.URL }) {
			others = append(others, l)
		}
	}
	return others, listsSelf, nil
}
