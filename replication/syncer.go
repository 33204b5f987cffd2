package replication

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/wire"
)

// Replica states (docs/consistency.md). A replicated volume on this server
// is healthy or syncing. Syncing replicas take replicated writes and
// deletes but act as no primary, and the master routes nothing to them;
// they turn healthy after a rejoin sync with their peers that the leader
// accepts. A syncing replica the leader does not list as stale missed no
// acknowledged delete, so it serves direct reads meanwhile; one that is
// marked stale (or a fresh copy) serves none.

// cutOffPulses is how many pulses without an answer from any master make
// the server treat itself as cut off (the leader drops a node after
// wire.DeadPulses silent pulses): its replicated volumes then serve no
// reads until the leader answers again.
const cutOffPulses = wire.DeadPulses

// Timing of the sync loop.
const (
	syncLoopTick     = 250 * time.Millisecond
	syncMaxParallel  = 2
	syncRetryMin     = 500 * time.Millisecond
	syncRetryMax     = 5 * time.Second
	syncRoundPause   = 300 * time.Millisecond
	syncVolumeBudget = 10 * time.Minute
)

// syncer keeps the replica state of every volume and runs rejoin syncs.
// Safe for concurrent use.
type syncer struct {
	c     *Coordinator
	pulse time.Duration
	slack time.Duration

	mu   sync.Mutex
	vols map[needle.VolumeID]*replicaSync
	// answered is closed by the leader's first answer: until then no
	// syncing volume knows whether it is marked stale.
	answered     chan struct{}
	answeredOnce sync.Once

	// Copy-on-write sets read without locks: the syncing volumes (for the
	// heartbeat and the primary role) and those that serve no reads.
	syncing  atomic.Pointer[map[needle.VolumeID]bool]
	refusing atomic.Pointer[map[needle.VolumeID]bool]

	lastContact atomic.Int64 // unix ns of the last answer of any master
	cutOff      atomic.Bool  // noticed cut off; cleared by the leader's answer
	running     atomic.Int32
	wake        chan struct{}
}

// replicaSync is the state of one volume that is syncing.
type replicaSync struct {
	reason   string
	fresh    bool // a copy still being built: no authority for peers
	serving  bool // the leader does not list it as stale: direct reads are served
	marked   bool // the leader listed it as stale: no reads until it synced
	running  bool
	nextTry  time.Time
	failures int
	since    time.Time
}

func newSyncer(c *Coordinator, pulse, slack time.Duration) *syncer {
	y := &syncer{
		c:        c,
		pulse:    pulse,
		slack:    slack,
		vols:     make(map[needle.VolumeID]*replicaSync),
		answered: make(chan struct{}),
		wake:     make(chan struct{}, 1),
	}
	y.syncing.Store(&map[needle.VolumeID]bool{})
	y.refusing.Store(&map[needle.VolumeID]bool{})
	return y
}

// startAll marks every replicated volume of the store syncing: a server
// that (re)starts reconciles before the master routes to it.
func (y *syncer) startAll(reason string) {
	for _, v := range y.c.store.Volumes() {
		if needsSync(v) {
			y.setSyncing(v.ID(), reason, false, false)
		}
	}
}

// setSyncing makes vid syncing (fresh: a copy being built; marked: the
// leader lists it as stale).
func (y *syncer) setSyncing(vid needle.VolumeID, reason string, fresh, marked bool) {
	y.mu.Lock()
	st := y.vols[vid]
	if st == nil {
		st = &replicaSync{reason: reason, since: time.Now()}
		y.vols[vid] = st
		glog.Infof("volume %d is syncing: %s", vid, reason)
	}
	st.fresh = st.fresh || fresh
	if marked {
		st.marked, st.serving = true, false
	}
	y.publishLocked()
	y.mu.Unlock()
	y.poke()
}

// setHealthy ends vid's syncing state.
func (y *syncer) setHealthy(vid needle.VolumeID) {
	y.mu.Lock()
	st := y.vols[vid]
	delete(y.vols, vid)
	y.publishLocked()
	y.mu.Unlock()
	if st != nil {
		glog.Infof("volume %d is healthy again after %v (%s)", vid, time.Since(st.since).Round(time.Millisecond), st.reason)
	}
}

// forget drops the state of a volume that left the store.
func (y *syncer) forget(vid needle.VolumeID) {
	y.mu.Lock()
	delete(y.vols, vid)
	y.publishLocked()
	y.mu.Unlock()
}

func (y *syncer) publishLocked() {
	syncing := make(map[needle.VolumeID]bool, len(y.vols))
	refusing := make(map[needle.VolumeID]bool, len(y.vols))
	for vid, st := range y.vols {
		syncing[vid] = true
		if !st.serving {
			refusing[vid] = true
		}
	}
	y.syncing.Store(&syncing)
	y.refusing.Store(&refusing)
}

func (y *syncer) poke() {
	select {
	case y.wake <- struct{}{}:
	default:
	}
}

// state returns whether vid is syncing and whether it is a fresh copy.
func (y *syncer) state(vid needle.VolumeID) (syncing, fresh bool) {
	y.mu.Lock()
	defer y.mu.Unlock()
	st := y.vols[vid]
	return st != nil, st != nil && st.fresh
}

// refusesPrimary reports whether v must act as no primary (client writes
// and deletes) here: it is syncing, or the server is cut off.
func (y *syncer) refusesPrimary(v *volume.Volume) bool {
	if (*y.syncing.Load())[v.ID()] {
		return true
	}
	return v.Placement().CopyCount() > 1 && y.isCutOff()
}

// refusesReads reports whether v must not serve reads here: it is syncing
// and marked stale (or not known yet not to be: a read right after the
// start waits up to two pulses for the leader's first answer), a fresh
// copy, or the server is cut off.
func (y *syncer) refusesReads(ctx context.Context, v *volume.Volume) bool {
	if (*y.refusing.Load())[v.ID()] {
		select {
		case <-y.answered:
		default:
			t := time.NewTimer(2 * y.pulse)
			select {
			case <-y.answered:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
		if (*y.refusing.Load())[v.ID()] {
			return true
		}
	}
	return v.Placement().CopyCount() > 1 && y.isCutOff()
}

// isCutOff reports whether no master has answered for cutOffPulses pulses.
func (y *syncer) isCutOff() bool {
	if y.cutOff.Load() {
		return true
	}
	last := y.lastContact.Load()
	if last == 0 || time.Since(time.Unix(0, last)) <= cutOffPulses*y.pulse {
		return false
	}
	if y.cutOff.CompareAndSwap(false, true) {
		glog.Warningf("no master answered for %v: replicated volumes serve no reads until the leader answers", time.Since(time.Unix(0, last)).Round(time.Millisecond))
	}
	return true
}

// masterAnswered records an answer from any master (a follower's
// included).
func (y *syncer) masterAnswered() {
	y.lastContact.Store(time.Now().UnixNano())
}

// leaderAnswered applies the leader's heartbeat reply: the volumes it
// lists as stale sync and serve nothing meanwhile; syncing volumes it does
// not list serve direct reads while they sync (they missed no
// acknowledged delete: every one that missed a replica left a mark). A
// cut-off ends.
func (y *syncer) leaderAnswered(stale []needle.VolumeID) {
	y.masterAnswered()
	for _, vid := range stale {
		if v := y.c.store.Volume(vid); v != nil && needsSync(v) {
			y.setSyncing(vid, "the leader lists it as stale", false, true)
		}
	}
	y.mu.Lock()
	for vid, st := range y.vols {
		if !st.marked && !st.fresh && !slices.Contains(stale, vid) {
			st.serving = true
		}
	}
	y.publishLocked()
	y.mu.Unlock()
	y.answeredOnce.Do(func() { close(y.answered) })
	if y.cutOff.CompareAndSwap(true, false) {
		glog.Infof("the leader answers again: serving reads of replicated volumes")
	}
	y.poke()
}

// markHeartbeat marks the syncing volumes of a heartbeat.
func (y *syncer) markHeartbeat(vols []wire.VolumeInfo) {
	m := *y.syncing.Load()
	for i := range vols {
		vols[i].Syncing = m[vols[i].ID]
	}
}

// run starts due syncs until ctx ends.
func (y *syncer) run(ctx context.Context) {
	t := time.NewTicker(syncLoopTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-y.wake:
		}
		y.c.retryMarks(ctx)
		y.startDue(ctx)
	}
}

// startDue starts the syncs that are due, at most syncMaxParallel at once.
func (y *syncer) startDue(ctx context.Context) {
	select {
	case <-y.answered:
	default:
		return // the leader has not answered yet
	}
	y.mu.Lock()
	defer y.mu.Unlock()
	now := time.Now()
	ids := make([]needle.VolumeID, 0, len(y.vols))
	for vid := range y.vols {
		ids = append(ids, vid)
	}
	slices.Sort(ids)
	for _, vid := range ids {
		st := y.vols[vid]
		if st.running || now.Before(st.nextTry) || y.running.Load() >= syncMaxParallel {
			continue
		}
		v := y.c.store.Volume(vid)
		if v == nil {
			if st.fresh {
				// A copy still being downloaded: it is syncing before
				// it is in the store, and syncs once it is there (a
				// failed copy forgets it).
				continue
			}
			delete(y.vols, vid)
			y.publishLocked()
			continue
		}
		st.running = true
		y.running.Add(1)
		y.c.goFunc(func() { y.syncOne(ctx, v) })
	}
}

// syncOne runs one rejoin sync of v and records its outcome.
func (y *syncer) syncOne(ctx context.Context, v *volume.Volume) {
	defer y.running.Add(-1)
	start := time.Now()
	vctx, cancel := context.WithTimeout(ctx, syncVolumeBudget)
	err := y.rejoin(vctx, v)
	cancel()
	y.mu.Lock()
	st := y.vols[v.ID()]
	if st != nil {
		st.running = false
	}
	if err == nil {
		y.mu.Unlock()
		y.setHealthy(v.ID())
		y.c.beat()
		glog.V(1).Infof("volume %d: rejoin sync done in %v", v.ID(), time.Since(start).Round(time.Millisecond))
		return
	}
	if st != nil {
		st.failures++
		backoff := min(syncRetryMin<<min(st.failures-1, 5), syncRetryMax)
		st.nextTry = time.Now().Add(backoff)
		if errors.Is(err, errNotListed) && st.failures < 10 {
			glog.V(1).Infof("volume %d: rejoin sync waits: %v", v.ID(), err)
		} else if st.failures == 1 || st.failures%10 == 0 {
			glog.Warningf("volume %d: rejoin sync (attempt %d) failed, retrying in %v: %v", v.ID(), st.failures, backoff, err)
		} else {
			glog.V(1).Infof("volume %d: rejoin sync (attempt %d): %v", v.ID(), st.failures, err)
		}
	}
	y.mu.Unlock()
}

// markedStale records that the leader lists vid as stale here: it serves
// no reads until it has synced.
func (y *syncer) markedStale(vid needle.VolumeID) {
	y.mu.Lock()
	defer y.mu.Unlock()
	if st := y.vols[vid]; st != nil && !st.marked {
		st.marked, st.serving = true, false
		y.publishLocked()
		glog.Infof("volume %d: marked stale by the leader; serving no reads until synced", vid)
	}
}

// RefusesPrimary reports whether v must act as no primary here (client
// writes and deletes): it is syncing, or the server is cut off from the
// masters.
func (c *Coordinator) RefusesPrimary(v *volume.Volume) bool { return c.sync.refusesPrimary(v) }

// RefusesReads reports whether v must not serve reads here: it is syncing
// and marked stale (or not known yet not to be: a read right after the
// start waits up to two pulses for the leader's first answer), a fresh
// copy, or the server is cut off.
func (c *Coordinator) RefusesReads(ctx context.Context, v *volume.Volume) bool {
	return c.sync.refusesReads(ctx, v)
}

// State reports whether vid is syncing here and whether it is a fresh copy
// still being built.
func (c *Coordinator) State(vid needle.VolumeID) (syncing, fresh bool) { return c.sync.state(vid) }

// Forget drops the replica state of a volume that left the store.
func (c *Coordinator) Forget(vid needle.VolumeID) { c.sync.forget(vid) }

// MarkHeartbeat sets the Syncing flag of the volumes of a heartbeat.
func (c *Coordinator) MarkHeartbeat(vols []wire.VolumeInfo) { c.sync.markHeartbeat(vols) }

// MasterAnswered records an answer of any master (a follower's included):
// the server is not cut off.
func (c *Coordinator) MasterAnswered() { c.sync.masterAnswered() }

// LeaderAnswered applies the leader's heartbeat reply, whose Stale lists
// the volumes of this server it has marked stale: those sync and serve
// nothing meanwhile; syncing volumes it does not list serve direct reads
// while they sync. A cut-off ends.
func (c *Coordinator) LeaderAnswered(stale []needle.VolumeID) { c.sync.leaderAnswered(stale) }
