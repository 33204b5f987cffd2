package replication

import (
	"context"
	"fmt"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
)

// Delete is a client's delete of fid on vol, this server acting as the
// primary: the delete is applied here, then on every replica the master
// knows (syncing ones included). Before it is acknowledged, a replica that
// could not apply it, or any replica missing from the master's list, is
// marked stale through the leader. It returns the deleted needle's size,
// or:
//   - a *LocalError: the needle is not here (IsMissing) or the volume
//     failed;
//   - ErrMarkPending, unwrapped;
//   - a *MarkError: applied, but the stale mark of a replica that missed
//     it could not be recorded (it is retried in the background);
//   - another error: the replicas could not be looked up; nothing was
//     deleted.
//
// The caller has checked that vol acts as a primary here (RefusesPrimary).
func (c *Coordinator) Delete(ctx context.Context, vol *volume.Volume, fid needle.FileID) (uint32, error) {
	if vol.Placement().CopyCount() <= 1 {
		size, err := vol.Delete(fid.Key, fid.Cookie, 0)
		if err != nil {
			return size, &LocalError{Err: fmt.Errorf("delete %s: %w", fid, err)}
		}
		return size, nil
	}
	hold := c.holdView(vol)
	targets, short, err := c.deleteTargets(ctx, vol)
	if err == nil {
		err = volume.FailAt("delete:targets")
	}
	if err != nil {
		hold.release()
		glog.Warningf("delete %s: %v", fid, err)
		return 0, err
	}
	size, ts, err := vol.DeleteNewest(fid.Key, fid.Cookie)
	hold.release()
	if isMissing(err) && c.marks.has(fid.Volume) {
		// Gone here, but an earlier delete's stale mark is not recorded
		// yet: this delete is not acknowledged before it is.
		c.retryMarks(ctx)
		if c.marks.has(fid.Volume) {
			return 0, ErrMarkPending
		}
	}
	if err != nil {
		return size, &LocalError{Err: fmt.Errorf("delete %s: %w", fid, err)}
	}
	errs := c.fanout.Each(ctx, targets, func(ctx context.Context, target string) error {
		return c.peers.SendDelete(ctx, target, fid, ts, 0)
	})
	reached := []string{c.selfAddr()}
	var failed []string
	for i, t := range targets {
		if errs[i] != nil {
			failed = append(failed, t)
			glog.Warningf("delete %s: replica %s: %v", fid, t, errs[i])
		} else {
			reached = append(reached, t)
		}
	}
	if len(failed) > 0 || short {
		if err := c.markStale(ctx, fid.Volume, failed, short, reached); err != nil {
			glog.Errorf("delete %s: %v", fid, err)
			c.marks.add(pendingMark{vid: fid.Volume, nodes: failed, wildcard: short, reached: reached})
			return size, &MarkError{Size: size, Err: err}
		}
	}
	glog.V(3).Infof("deleted %s (%d bytes) at %d on %v; missed by %v", fid, size, ts, reached, failed)
	return size, nil
}

// deleteTargets returns the other replicas of vol from the fan-out view,
// asking the master afresh once when it lists fewer than the volume's
// copies; short reports that it still does.
func (c *Coordinator) deleteTargets(ctx context.Context, vol *volume.Volume) (targets []string, short bool, err error) {
	need := vol.Placement().CopyCount() - 1
	for attempt := 0; attempt < 2; attempt++ {
		if attempt > 0 {
			c.view.invalidate(vol.ID())
		}
		peers, err := c.OtherReplicas(ctx, vol.ID())
		if err != nil {
			return nil, false, fmt.Errorf("look up the replicas of volume %d: %w", vol.ID(), err)
		}
		targets = targets[:0]
		for _, p := range peers {
			targets = append(targets, p.URL)
		}
		if len(targets) >= need {
			return targets, false, nil
		}
	}
	return targets, true, nil
}
