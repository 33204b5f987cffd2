package master

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/replication"
	"github.com/weedfs/weed/topology"
)

// DefaultRepairAfter is how long a volume may miss a copy before the
// leader re-replicates it (-replication.repairAfter).
const DefaultRepairAfter = 10 * time.Minute

// Throttles of re-replication: copies at once in the cluster (at most one
// per target node), and how long a copy may take.
const (
	maxConcurrentCopies = 2
	adminCopyTimeout    = 2 * time.Hour
)

// initReplicaRepair lets the topology see the stale marks (when this
// master keeps them) and sets up re-replication. NewServer calls it.
func (s *Server) initReplicaRepair() {
	if s.stale != nil {
		s.topo.SetStaleCheck(s.stale.IsStale)
	}
	after := s.opts.RepairAfter
	if after == 0 {
		after = DefaultRepairAfter
	}
	s.repair = newRereplicator(s, after)
}

// pulseConsistency runs every pulse: the leader re-reads the stale marks
// into the topology (marks arrive with snapshots and leader changes too)
// and drives re-replication.
func (s *Server) pulseConsistency(ctx context.Context, now time.Time) {
	if !s.lead.IsLeader() {
		s.repair.reset()
		return
	}
	if s.stale != nil {
		s.topo.RefreshStale()
	}
	s.repair.tick(ctx, now)
}

// rereplicator restores the copy count of volumes whose node has been gone
// longer than repairAfter, and drops the extra copies when such a node
// comes back. Only the leader runs it; its memory is soft (a new leader
// starts counting afresh). Safe for concurrent use.
type rereplicator struct {
	s     *Server
	after time.Duration

	mu    sync.Mutex
	under map[needle.VolumeID]time.Time       // first seen short of a copy
	over  map[needle.VolumeID]time.Time       // first seen with an extra copy
	lost  map[needle.VolumeID]map[string]bool // nodes that held a copy when they went away
	// replaced holds the volumes this leader copied to a new node since
	// they lost a copy: only then is a returning node's copy surplus.
	replaced map[needle.VolumeID]bool
	jobs     map[needle.VolumeID]*copyJob
	busy     map[string]bool // nodes receiving a copy
	// dropping holds the volumes whose extra copy is being deleted (the
	// call runs without mu).
	dropping map[needle.VolumeID]bool
}

// dropPlan is the deletion of one extra copy, decided under mu and carried
// out without it.
type dropPlan struct {
	vid  needle.VolumeID
	node string
	left int // copies left after it
}

// copyJob is one copy in progress (or done, waiting for the new copy's
// heartbeat).
type copyJob struct {
	source, target string
	started        time.Time
	done           time.Time // zero while running
}

func newRereplicator(s *Server, after time.Duration) *rereplicator {
	return &rereplicator{
		s:        s,
		after:    after,
		under:    make(map[needle.VolumeID]time.Time),
		over:     make(map[needle.VolumeID]time.Time),
		lost:     make(map[needle.VolumeID]map[string]bool),
		replaced: make(map[needle.VolumeID]bool),
		jobs:     make(map[needle.VolumeID]*copyJob),
		busy:     make(map[string]bool),
		dropping: make(map[needle.VolumeID]bool),
	}
}

// nodeGone remembers which volumes lost a copy with a node.
func (r *rereplicator) nodeGone(n topology.RemovedNode, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, vid := range n.Volumes {
		if r.lost[vid] == nil {
			r.lost[vid] = make(map[string]bool)
		}
		r.lost[vid][n.URL] = true
	}
}

// reset forgets the timers (this master does not lead).
func (r *rereplicator) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.under)
	clear(r.over)
}

// tick looks at every volume once. It decides under r.mu and calls the
// volume servers and Raft without it: copies run in goroutines of their
// own, extra copies are deleted after the decisions, one by one.
func (r *rereplicator) tick(ctx context.Context, now time.Time) {
	if r.after < 0 {
		return
	}
	since := r.s.lead.LeaderSince()
	if since.IsZero() || now.Sub(since) < time.Duration(settlePulses*float64(r.s.pulse)) {
		return
	}
	for _, d := range r.decide(r.s.topo.Volumes(), now) {
		r.drop(ctx, d)
	}
}

// decide updates the timers from vols, starts the copies due and returns
// the extra copies to delete (their volumes marked dropping).
func (r *rereplicator) decide(vols []topology.VolumeView, now time.Time) []dropPlan {
	r.mu.Lock()
	defer r.mu.Unlock()
	var drops []dropPlan
	seen := make(map[needle.VolumeID]bool, len(vols))
	for _, v := range vols {
		seen[v.ID] = true
		n := v.Placement.CopyCount()
		if job := r.jobs[v.ID]; job != nil {
			if job.done.IsZero() || (!holds(v, job.target) && now.Sub(job.done) < 5*r.s.pulse) {
				continue
			}
			delete(r.jobs, v.ID)
		}
		switch {
		case len(v.Replicas) < n:
			delete(r.over, v.ID)
			first, ok := r.under[v.ID]
			if !ok {
				r.under[v.ID] = now
				glog.Infof("re-replication: volume %d has %d of %d copies; copying it elsewhere after %v", v.ID, len(v.Replicas), n, r.after)
				continue
			}
			if now.Sub(first) >= r.after {
				r.startCopyLocked(v)
			}
		case len(v.Replicas) > n:
			delete(r.under, v.ID)
			first, ok := r.over[v.ID]
			if !ok {
				r.over[v.ID] = now
				first = now
			}
			if r.dropping[v.ID] {
				continue
			}
			if d, ok := r.chooseDropLocked(v, now.Sub(first) >= r.after); ok {
				r.dropping[v.ID] = true
				drops = append(drops, d)
			}
		default:
			delete(r.under, v.ID)
			delete(r.over, v.ID)
			// A node that came back before its copy was replaced is
			// a plain replica again.
			for _, rep := range v.Replicas {
				if healthy(rep) && r.lost[v.ID][rep.URL] {
					r.forgetLostLocked(v.ID, rep.URL)
				}
			}
			if r.lost[v.ID] == nil {
				delete(r.replaced, v.ID)
			}
		}
	}
	for vid := range r.under {
		if !seen[vid] {
			delete(r.under, vid)
		}
	}
	for vid := range r.over {
		if !seen[vid] {
			delete(r.over, vid)
		}
	}
	return drops
}

// drop deletes the extra copy d names, then, under r.mu again, forgets
// that the copy was lost, and drops its stale marks through Raft.
func (r *rereplicator) drop(ctx context.Context, d dropPlan) {
	cctx, cancel := context.WithTimeout(ctx, adminCallTimeout)
	err := r.s.admin.DeleteVolume(cctx, d.node, d.vid)
	cancel()
	r.mu.Lock()
	delete(r.dropping, d.vid)
	if err == nil {
		r.forgetLostLocked(d.vid, d.node)
		if r.lost[d.vid] == nil {
			delete(r.replaced, d.vid)
		}
	}
	r.mu.Unlock()
	if err != nil {
		glog.Warningf("re-replication: drop the extra copy of volume %d on %s: %v", d.vid, d.node, err)
		return
	}
	glog.Infof("re-replication: dropped the extra copy of volume %d on %s (%d copies left)", d.vid, d.node, d.left)
	if r.s.stale != nil {
		if err := r.s.stale.ForgetReplica(ctx, d.vid, d.node); err != nil {
			glog.V(1).Infof("re-replication: forget the marks of volume %d on %s: %v", d.vid, d.node, err)
		}
	}
}

// forgetLostLocked forgets that node's copy of vid was lost. Caller holds
// r.mu.
func (r *rereplicator) forgetLostLocked(vid needle.VolumeID, node string) {
	if r.lost[vid] == nil {
		return
	}
	delete(r.lost[vid], node)
	if len(r.lost[vid]) == 0 {
		delete(r.lost, vid)
	}
}

// holds reports whether node holds a copy of v.
func holds(v topology.VolumeView, node string) bool {
	return slices.ContainsFunc(v.Replicas, func(rep topology.Replica) bool { return rep.URL == node })
}

// healthy reports whether a replica serves reads.
func healthy(rep topology.Replica) bool { return !rep.Info.Syncing && !rep.Stale }

// startCopyLocked places one more copy of v and starts copying it from a
// healthy replica, within the throttles, in a goroutine the Server owns
// (Shutdown ends the copy and waits for it). Caller holds r.mu.
func (r *rereplicator) startCopyLocked(v topology.VolumeView) {
	if len(r.jobs) >= maxConcurrentCopies {
		return
	}
	var source string
	for _, rep := range v.Replicas {
		if healthy(rep) {
			source = rep.URL
			break
		}
	}
	if source == "" {
		glog.V(1).Infof("re-replication: volume %d has no healthy copy to copy from", v.ID)
		return
	}
	res, err := r.s.topo.PlaceReplica(v.ID, r.busy)
	if err != nil {
		glog.V(1).Infof("re-replication: volume %d: %v", v.ID, err)
		return
	}
	target := res.Nodes()[0].URL
	job := &copyJob{source: source, target: target, started: time.Now()}
	r.jobs[v.ID] = job
	r.busy[target] = true
	started := r.s.goFunc(func() {
		defer res.Release()
		cctx, cancel := context.WithTimeout(r.s.life, adminCopyTimeout)
		defer cancel()
		err := r.s.admin.CopyVolume(cctx, target, v.ID, v.Collection, v.Placement, v.TTL, source)
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.busy, target)
		job.done = time.Now()
		if err != nil {
			glog.Warningf("re-replication: copy of volume %d from %s to %s failed: %v", v.ID, source, target, err)
			delete(r.jobs, v.ID)
			return
		}
		r.replaced[v.ID] = true
		glog.Infof("re-replication: volume %d copied to %s in %v; it syncs, then serves", v.ID, target, time.Since(job.started).Round(time.Millisecond))
	})
	if !started { // shutting down
		res.Release()
		delete(r.jobs, v.ID)
		delete(r.busy, target)
		return
	}
	glog.Infof("re-replication: copying volume %d (replication %s) from %s to %s", v.ID, v.Placement, source, target)
}

// chooseDropLocked picks one extra copy of v to delete when the copies left would
// be exactly enough, all healthy, and fit the placement. A copy on a node
// that came back after this leader re-replicated the volume goes at once.
// Any other extra copy goes only when settled (the volume has been over
// its count for repairAfter), syncing or stale copies first: an extra
// copy also shows up for a few pulses when an operator moves a volume
// (the old holder has not been declared dead yet), and the copy that just
// arrived, still syncing, is the one to keep. It reports false when no
// copy may go. Caller holds r.mu.
func (r *rereplicator) chooseDropLocked(v topology.VolumeView, settled bool) (dropPlan, bool) {
	n := v.Placement.CopyCount()
	cands := slices.Clone(v.Replicas)
	rank := func(rep topology.Replica) int {
		switch {
		case r.replaced[v.ID] && r.lost[v.ID][rep.URL]:
			return 0
		case !healthy(rep):
			return 1
		}
		return 2
	}
	slices.SortStableFunc(cands, func(a, b topology.Replica) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return -strings.Compare(a.URL, b.URL)
	})
	for _, c := range cands {
		if rank(c) > 0 && !settled {
			return dropPlan{}, false
		}
		var left []replication.Site
		ok := true
		for _, rep := range v.Replicas {
			if rep.URL == c.URL {
				continue
			}
			if !healthy(rep) {
				ok = false
			}
			left = append(left, replication.Site{DataCenter: rep.DataCenter, Rack: rep.Rack, Node: rep.URL})
		}
		if !ok || len(left) < n || (len(left) == n && !replication.Fits(v.Placement, left)) {
			continue
		}
		return dropPlan{vid: v.ID, node: c.URL, left: len(left)}, true
	}
	return dropPlan{}, false
}

// RepairStatus is one re-replication copy in the console: a volume being
// copied (or copied and waiting for the new copy's heartbeat).
type RepairStatus struct {
	Volume  needle.VolumeID `json:"volume"`
	Source  string          `json:"source"`
	Target  string          `json:"target"`
	Started time.Time       `json:"started"`
	Copied  bool            `json:"copied"`
}

// inProgress lists the copies this leader runs, sorted by volume.
func (r *rereplicator) inProgress() []RepairStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RepairStatus, 0, len(r.jobs))
	for vid, j := range r.jobs {
		out = append(out, RepairStatus{Volume: vid, Source: j.source, Target: j.target, Started: j.started, Copied: !j.done.IsZero()})
	}
	slices.SortFunc(out, func(a, b RepairStatus) int { return cmp.Compare(a.Volume, b.Volume) })
	return out
}
