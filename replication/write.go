package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
)

// errTooFewReplicas means the master knows fewer locations of a volume than
// its placement needs copies, so a write could not reach every copy.
var errTooFewReplicas = errors.New("too few replicas known")

// ErrIdentityUnknown means the server was started without an IP and no
// master has told it its address yet, so it cannot tell itself apart from
// the other replicas of a volume.
var ErrIdentityUnknown = errors.New("this server's address is not known yet (no heartbeat answered)")

// maxPooledRecord is the largest record buffer kept for reuse; bigger ones
// (large files) are left to the garbage collector.
const maxPooledRecord = 4 << 20

// replicaTargets returns the addresses of the other replicas of vol, from the
// master's (cached) lookup. A volume without replication has none. When
// fewer than the placement's copy count are known, the cache is dropped and
// the master asked once more; still too few is errTooFewReplicas.
func (c *Coordinator) replicaTargets(ctx context.Context, vol *volume.Volume) ([]string, error) {
	return c.replicaTargetsMin(ctx, vol, vol.Placement().CopyCount()-1)
}

func (c *Coordinator) replicaTargetsMin(ctx context.Context, vol *volume.Volume, need int) ([]string, error) {
	if vol.Placement().CopyCount() <= 1 {
		return nil, nil
	}
	vid := vol.ID()
	var (
		others []string
		err    error
	)
	for attempt := 0; attempt < 2; attempt++ {
		if attempt > 0 {
			c.lookup(vid)
			c.view.invalidate(vid)
		}
		others, err = c.lookupOthers(ctx, vid)
		if err == nil && len(others) >= need {
			return others, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("look up the replicas of volume %d: %w", vid, err)
	}
	return nil, fmt.Errorf("%w: volume %d (replication %s) needs %d copies, the master knows %d other than this server",
		errTooFewReplicas, vid, vol.Placement(), need+1, len(others))
}

// lookupOthers returns the internal addresses of every server the master
// says holds vid, except this one: the fan-out view, syncing replicas
// included (they take replicated writes and deletes while they catch up).
func (c *Coordinator) lookupOthers(ctx context.Context, vid needle.VolumeID) ([]string, error) {
	locs, err := c.OtherReplicas(ctx, vid)
	if err != nil {
		return nil, err
	}
	others := make([]string, 0, len(locs))
	for _, l := range locs {
		others = append(others, l.URL)
	}
	return others, nil
}

// fanOut runs send on every target. When some fail, it looks the volume up
// afresh and, if the replica set changed, runs send on the new members and
// on the old ones that failed and are still listed. It returns every address
// that may have received the operation (for a rollback) and nil, or the
// failures.
func (c *Coordinator) fanOut(ctx context.Context, vol *volume.Volume, targets []string, need int, send func(ctx context.Context, target string) error) (touched []string, err error) {
	errs := c.fanout.Each(ctx, targets, send)
	var failed, done []string
	for i, t := range targets {
		if errs[i] != nil {
			failed = append(failed, t)
		} else {
			done = append(done, t)
		}
	}
	touched = slices.Clone(targets)
	if len(failed) == 0 {
		return touched, nil
	}
	first := errors.Join(errs...)
	if ctx.Err() != nil {
		return touched, first
	}
	c.lookup(vol.ID())
	fresh, lerr := c.replicaTargetsMin(ctx, vol, need)
	if lerr != nil || sameSet(fresh, targets) {
		return touched, first
	}
	var retry []string
	for _, t := range fresh {
		if !slices.Contains(done, t) {
			retry = append(retry, t)
		}
		if !slices.Contains(touched, t) {
			touched = append(touched, t)
		}
	}
	glog.V(1).Infof("volume %d: replica set changed from %v to %v; sending to %v", vol.ID(), targets, fresh, retry)
	if err := c.fanout.Do(ctx, retry, send); err != nil {
		return touched, err
	}
	return touched, nil
}

// replicateWrite sends the encoded record of n (as appended locally) to
// every target. On failure the write is undone locally and on every target.
func (c *Coordinator) replicateWrite(ctx context.Context, vol *volume.Volume, fid needle.FileID, n *needle.Needle, targets []string) error {
	bp := c.records.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledRecord {
			c.records.Put(bp)
		}
	}()
	rec, err := n.AppendRecord((*bp)[:0], needle.CurrentVersion)
	if err != nil {
		c.rollbackWrite(vol, fid, n.AppendAtNs, targets)
		return fmt.Errorf("encode needle %s for the replicas: %w", fid, err)
	}
	*bp = rec[:0]
	send := func(ctx context.Context, target string) error {
		return c.peers.SendWrite(ctx, target, fid, rec)
	}
	touched, err := c.fanOut(ctx, vol, targets, vol.Placement().CopyCount()-1, send)
	if err != nil {
		c.rollbackWrite(vol, fid, n.AppendAtNs, touched)
		return fmt.Errorf("replicate %s: %w", fid, err)
	}
	return nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// Write applies n (a needle of fid, built from an upload) to vol as the
// primary: it reads the other replicas from the fan-out view, appends n
// here and sends the appended record to every other replica; when one
// fails it undoes the write here and on the replicas that may have taken
// it, and returns the error. It returns the stored size. A failure of the
// local append is a *LocalError; every other error means the replication
// failed (nothing stays written). targets are the replicas written to.
func (c *Coordinator) Write(ctx context.Context, vol *volume.Volume, fid needle.FileID, n *needle.Needle) (size uint32, targets []string, err error) {
	hold := c.holdView(vol)
	targets, err = c.replicaTargets(ctx, vol)
	if err == nil {
		err = volume.FailAt("write:targets")
	}
	if err != nil {
		hold.release()
		return 0, nil, err
	}
	size, err = vol.Write(n)
	hold.release()
	if err != nil {
		return 0, nil, &LocalError{Err: fmt.Errorf("write %s: %w", fid, err)}
	}
	if len(targets) > 0 {
		if err := c.replicateWrite(ctx, vol, fid, n, targets); err != nil {
			return 0, targets, err
		}
	}
	return size, targets, nil
}
