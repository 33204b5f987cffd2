package master

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/master/raftnode"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/topology"
)

// settlePulses is how many pulses a new leader waits, counted from
// Leadership.LeaderSince, before it grows volumes: by then every live volume
// server has sent it a heartbeat, so its topology (and the volume id
// high-water mark raised from heartbeats) is complete.
const settlePulses = 2.5

// growthTimeout bounds one growth. A growth is shared by every assign that
// waits for it, so it does not stop when the request that started it goes.
const growthTimeout = 2 * time.Minute

// growRequest asks for new volumes of one layout.
type growRequest struct {
	Collection string
	Placement  needle.Placement
	TTL        needle.TTL
	// DataCenter, when not empty, is where the main copy of each volume goes.
	DataCenter string
	// Count is how many volumes to create; 0 means topology.GrowthCount of
	// the placement's copy count.
	Count int
}

func (g growRequest) layout() topology.LayoutKey {
	ttl := g.TTL
	if ttl.IsZero() {
		ttl = needle.TTL{}
	}
	return topology.LayoutKey{Collection: g.Collection, Placement: g.Placement, TTL: ttl}
}

func (g growRequest) writeRequest() topology.WriteRequest {
	return topology.WriteRequest{Collection: g.Collection, Placement: g.Placement, TTL: g.TTL, DataCenter: g.DataCenter}
}

// volumeGrowth creates volumes on volume servers: it places each volume in
// the topology, takes a volume id from the Sequencer, asks the chosen nodes
// to create it and registers it. Growths of one layout are serialized, so
// that concurrent assigns that find no writable volume share one growth.
// Safe for concurrent use.
type volumeGrowth struct {
	topo  *topology.Topology
	seq   Sequencer
	lead  Leadership
	admin *volumeAdmin
	pulse time.Duration

	// created counts the volumes this master grew
	// (weed_master_volume_grow_total).
	created atomic.Uint64

	mu    sync.Mutex
	locks map[topology.LayoutKey]chan struct{}
}

func newVolumeGrowth(topo *topology.Topology, seq Sequencer, lead Leadership, admin *volumeAdmin, pulse time.Duration) *volumeGrowth {
	return &volumeGrowth{
		topo:  topo,
		seq:   seq,
		lead:  lead,
		admin: admin,
		pulse: pulse,
		locks: make(map[topology.LayoutKey]chan struct{}),
	}
}

// lock takes the growth lock of one layout, or fails when ctx ends first.
func (g *volumeGrowth) lock(ctx context.Context, key topology.LayoutKey) (unlock func(), err error) {
	g.mu.Lock()
	ch := g.locks[key]
	if ch == nil {
		ch = make(chan struct{}, 1)
		g.locks[key] = ch
	}
	g.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a growth of %s: %w", key, ctx.Err())
	}
}

// settlePoll is how often a settling leader checks whether heartbeats
// already brought what an assign needs.
const settlePoll = 50 * time.Millisecond

// waitSettled returns once this master has led for settlePulses pulses, or
// earlier as soon as ready (when not nil) reports true. It returns
// raftnode.ErrNotLeader when this master does not lead, and ctx's error when ctx ends
// first.
func (g *volumeGrowth) waitSettled(ctx context.Context, ready func() bool) error {
	settle := time.Duration(settlePulses * float64(g.pulse))
	logged := false
	for {
		since := g.lead.LeaderSince()
		if since.IsZero() {
			return raftnode.ErrNotLeader
		}
		wait := time.Until(since.Add(settle))
		if wait <= 0 || (ready != nil && ready()) {
			return nil
		}
		if !logged {
			glog.Infof("new leader: waiting up to %v for heartbeats before growing volumes", wait.Round(time.Millisecond))
			logged = true
		}
		t := time.NewTimer(min(wait, settlePoll))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for heartbeats before growing: %w", ctx.Err())
		}
	}
}

// EnsureWritable makes sure req's layout has a writable volume (in
// req.DataCenter when set), growing it when it has none. Concurrent callers
// for one layout share one growth: the ones that waited find the volumes
// the first one created. A growth failure is returned as is
// (topology.ErrNotEnoughDataNodes unwrapped when nothing could be placed).
func (g *volumeGrowth) EnsureWritable(ctx context.Context, req growRequest) error {
	wr := req.writeRequest()
	unlock, err := g.lock(ctx, req.layout())
	if err != nil {
		return err
	}
	defer unlock()
	writable := func() bool {
		_, _, err := g.topo.PickForWrite(wr)
		return err == nil
	}
	if writable() {
		return nil
	}
	// Heartbeats that arrive while a new leader settles may bring writable
	// volumes.
	if err := g.waitSettled(ctx, writable); err != nil {
		return err
	}
	if writable() {
		return nil
	}
	_, err = g.grow(ctx, req)
	return err
}

// Grow creates req.Count volumes (or the default number for the placement)
// and returns how many it created. It succeeds when it created at least one.
func (g *volumeGrowth) Grow(ctx context.Context, req growRequest) (int, error) {
	unlock, err := g.lock(ctx, req.layout())
	if err != nil {
		return 0, err
	}
	defer unlock()
	if err := g.waitSettled(ctx, nil); err != nil {
		return 0, err
	}
	return g.grow(ctx, req)
}

// grow creates the volumes. The caller holds the layout's lock. It stops at
// the first volume that cannot be placed; a volume the nodes failed to
// create is skipped.
func (g *volumeGrowth) grow(ctx context.Context, req growRequest) (int, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), growthTimeout)
	defer cancel()
	count := req.Count
	if count <= 0 {
		count = topology.GrowthCount(req.Placement.CopyCount())
	}
	created := 0
	var errs []error
	for range count {
		vid, err := g.growOne(ctx, req)
		if err != nil {
			if errors.Is(err, topology.ErrNotEnoughDataNodes) && len(errs) == 0 && created == 0 {
				glog.Warningf("grow %s: %v", req.layout(), err)
				return 0, topology.ErrNotEnoughDataNodes
			}
			errs = append(errs, err)
			if errors.Is(err, topology.ErrNotEnoughDataNodes) || errors.Is(err, raftnode.ErrNotLeader) {
				break
			}
			continue
		}
		glog.V(1).Infof("grow %s: volume %d created", req.layout(), vid)
		created++
	}
	if created == 0 {
		err := errors.Join(errs...)
		glog.Warningf("grow %s: no volume created: %v", req.layout(), err)
		return 0, err
	}
	if len(errs) > 0 {
		glog.Warningf("grow %s: %d of %d volumes created: %v", req.layout(), created, count, errors.Join(errs...))
	}
	return created, nil
}

// growOne places and creates one volume on every node its placement needs.
// If a node fails, the copies already created are deleted and the slots
// released.
func (g *volumeGrowth) growOne(ctx context.Context, req growRequest) (needle.VolumeID, error) {
	res, err := g.topo.PlaceVolume(req.Placement, req.DataCenter)
	if err != nil {
		return 0, err
	}
	vid, err := g.seq.NextVolumeID(ctx)
	if err != nil {
		res.Release()
		return 0, fmt.Errorf("new volume id: %w", err)
	}
	nodes := res.Nodes()
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			errs[i] = g.admin.AssignVolume(ctx, n.URL, vid, req.Collection, req.Placement, req.TTL)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		g.undo(ctx, vid, nodes, errs)
		res.Release()
		return 0, fmt.Errorf("create volume %d: %w", vid, err)
	}
	if err := res.Commit(vid, req.Collection, req.TTL); err != nil {
		return 0, fmt.Errorf("register volume %d: %w", vid, err)
	}
	g.created.Add(1)
	for _, n := range nodes {
		glog.Infof("Created Volume %d on topo:%s:%s:%s", vid, n.DataCenter, n.Rack, n.URL)
	}
	return vid, nil
}

// undo deletes volume vid on the nodes that created it (errs[i] == nil).
func (g *volumeGrowth) undo(ctx context.Context, vid needle.VolumeID, nodes []topology.NodeLocation, errs []error) {
	var wg sync.WaitGroup
	for i, n := range nodes {
		if errs[i] != nil {
			glog.Warningf("volume %d not created on %s: %v", vid, n.URL, errs[i])
			continue
		}
		wg.Go(func() {
			if err := g.admin.DeleteVolume(ctx, n.URL, vid); err != nil {
				glog.Errorf("volume %d: undo on %s failed: %v", vid, n.URL, err)
				return
			}
			glog.Infof("volume %d: deleted again on %s", vid, n.URL)
		})
	}
	wg.Wait()
}
