package master

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/topology"
)

// vacuumer compacts volumes whose garbage ratio is above a threshold, on
// every replica at once, one volume at a time. Writes that reach a replica
// while it compacts are kept: the volume server's commit catches up on them.
// The volume is taken out of the writable set meanwhile, so no new assign
// lands on it. Safe for concurrent use; runs are serialized.
type vacuumer struct {
	topo  *topology.Topology
	admin *volumeAdmin
	sem   chan struct{} // capacity 1: one run at a time
}

func newVacuumer(topo *topology.Topology, admin *volumeAdmin) *vacuumer {
	return &vacuumer{topo: topo, admin: admin, sem: make(chan struct{}, 1)}
}

// Run checks every volume and compacts those above threshold. It waits for
// a run in progress to end first. ctx is checked between volumes; once a
// volume's compaction started it is carried to its end (commit or cleanup)
// even if ctx ends. It returns the ids of the volumes it compacted and
// the volumes whose vacuum failed, with why; err is only for a run that
// did not go through (ctx ended).
func (v *vacuumer) Run(ctx context.Context, threshold float64) (done []needle.VolumeID, failed []vacuumFailure, err error) {
	select {
	case v.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("waiting for a vacuum in progress: %w", ctx.Err())
	}
	defer func() { <-v.sem }()

	glog.V(1).Infof("vacuum: checking volumes, garbage threshold %v", threshold)
	for _, vol := range v.topo.Volumes() {
		if err := ctx.Err(); err != nil {
			return done, failed, fmt.Errorf("vacuum stopped: %w", err)
		}
		compacted, err := v.vacuumVolume(context.WithoutCancel(ctx), vol, threshold)
		if err != nil {
			glog.Warningf("vacuum: volume %d: %v", vol.ID, err)
			failed = append(failed, vacuumFailure{vid: vol.ID, err: err})
			continue
		}
		if compacted {
			done = append(done, vol.ID)
		}
	}
	if len(done) > 0 {
		glog.Infof("vacuum: compacted volumes %v", done)
	} else {
		glog.V(1).Infof("vacuum: no volume above garbage threshold %v", threshold)
	}
	return done, failed, nil
}

// vacuumFailure is a volume whose vacuum failed.
type vacuumFailure struct {
	vid needle.VolumeID
	err error
}

// noSpace reports whether a volume server answered 507 Insufficient
// Storage (its disk is full or below its -minFreeSpace).
func (f vacuumFailure) noSpace() bool {
	// Not errors.As: it finds only the first of several joined answers.
	var found bool
	walkErrors(f.err, func(e error) {
		if vse, ok := e.(*VolumeServerError); ok && vse.StatusCode == http.StatusInsufficientStorage {
			found = true
		}
	})
	return found
}

// walkErrors calls fn on err and every error it wraps, joined ones
// included.
func walkErrors(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walkErrors(e, fn)
		}
	case interface{ Unwrap() error }:
		walkErrors(u.Unwrap(), fn)
	}
}

// vacuumVolume compacts one volume if any replica's garbage ratio is above
// threshold, and reports whether it did.
func (v *vacuumer) vacuumVolume(ctx context.Context, vol topology.VolumeView, threshold float64) (bool, error) {
	if n := vol.Placement.CopyCount(); len(vol.Replicas) < n {
		glog.V(1).Infof("vacuum: volume %d has %d of %d replicas; skipped", vol.ID, len(vol.Replicas), n)
		return false, nil
	}
	nodes := make([]string, 0, len(vol.Replicas))
	for _, r := range vol.Replicas {
		// A syncing or stale replica may lack tombstones that a
		// compaction elsewhere would drop: never vacuum around it.
		if r.Info.Syncing || r.Stale {
			glog.V(1).Infof("vacuum: volume %d is syncing or stale on %s; skipped", vol.ID, r.URL)
			return false, nil
		}
		nodes = append(nodes, r.URL)
	}

	ratios := make([]float64, len(nodes))
	if err := v.onAll(nodes, func(i int, node string) error {
		r, err := v.admin.VacuumCheck(ctx, node, vol.ID, threshold)
		ratios[i] = r
		return err
	}); err != nil {
		return false, fmt.Errorf("check: %w", err)
	}
	worst := slices.Max(ratios)
	if worst <= threshold {
		glog.V(2).Infof("vacuum: volume %d garbage ratio %.3f, threshold %v: nothing to do", vol.ID, worst, threshold)
		return false, nil
	}

	glog.Infof("vacuum: volume %d garbage ratio %.3f > %v: compacting on %v", vol.ID, worst, threshold, nodes)
	if err := v.topo.SetVacuuming(vol.ID, true); err != nil {
		return false, err
	}
	defer func() {
		if err := v.topo.SetVacuuming(vol.ID, false); err != nil && !errors.Is(err, topology.ErrVolumeNotFound) {
			glog.Warningf("vacuum: volume %d: %v", vol.ID, err)
		}
	}()

	err := v.onAll(nodes, func(_ int, node string) error { return v.admin.VacuumCompact(ctx, node, vol.ID) })
	if err != nil {
		err = fmt.Errorf("compact: %w", err)
	} else if err = v.stillWhole(vol.ID, nodes); err != nil {
		err = fmt.Errorf("before commit: %w", err)
	} else if err = v.onAll(nodes, func(_ int, node string) error { return v.admin.VacuumCommit(ctx, node, vol.ID) }); err != nil {
		err = fmt.Errorf("commit: %w", err)
	}
	if err != nil {
		if cerr := v.onAll(nodes, func(_ int, node string) error { return v.admin.VacuumCleanup(ctx, node, vol.ID) }); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup: %w", cerr))
		}
		return false, err
	}
	glog.Infof("vacuum: volume %d compacted on %v", vol.ID, nodes)
	return true, nil
}

// errReplicaChanged means a volume lost a replica, or one turned syncing
// or stale, while it was being compacted: committing could drop tombstones
// that replica still needs, so the compaction is discarded.
var errReplicaChanged = errors.New("a replica went away, syncing or stale during the compaction")

// stillWhole checks, right before a commit, that vid still has exactly
// the replicas on nodes, none syncing or stale.
func (v *vacuumer) stillWhole(vid needle.VolumeID, nodes []string) error {
	view, err := v.topo.Volume(vid)
	if err != nil {
		return err
	}
	if len(view.Replicas) != len(nodes) {
		return fmt.Errorf("%w: volume %d", errReplicaChanged, vid)
	}
	for _, r := range view.Replicas {
		if r.Info.Syncing || r.Stale || !slices.Contains(nodes, r.URL) {
			return fmt.Errorf("%w: volume %d on %s", errReplicaChanged, vid, r.URL)
		}
	}
	return nil
}

// onAll runs f for every node concurrently and joins the errors.
func (v *vacuumer) onAll(nodes []string, f func(i int, node string) error) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = f(i, n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
