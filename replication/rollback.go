package replication

import (
	"context"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
)

// rollbackOnReplicas sends the rollback delete of a failed write (stamped
// writeAt) to the replicas that may have taken it; those that cannot be
// reached are marked stale (in the background when the leader cannot be
// reached either). A replica the write has not reached yet keeps the
// tombstone and refuses the write if it still arrives.
func (c *Coordinator) rollbackOnReplicas(ctx context.Context, fid needle.FileID, writeAt, ts uint64, targets []string) {
	errs := c.fanout.Each(ctx, targets, func(ctx context.Context, target string) error {
		return c.peers.SendDelete(ctx, target, fid, ts, writeAt)
	})
	var failed []string
	for i, t := range targets {
		if errs[i] != nil {
			failed = append(failed, t)
			glog.Errorf("volume %d: undoing the failed write of %s on %s: %v", fid.Volume, fid, t, errs[i])
		}
	}
	if len(failed) == 0 {
		return
	}
	if err := c.markStale(ctx, fid.Volume, failed, false, nil); err != nil {
		glog.Errorf("volume %d: %v (retrying in the background)", fid.Volume, err)
		c.marks.add(pendingMark{vid: fid.Volume, nodes: failed})
	}
}

// rollbackTimeout bounds the clean-up after a failed replicated write; it
// runs even when the client has gone away.
const rollbackTimeout = 30 * time.Second

// rollbackWrite deletes a needle whose replication failed, here and on
// targets, with a tombstone newer than the write. Failures are logged: the
// replica sync repairs what could not be reached.
func (c *Coordinator) rollbackWrite(vol *volume.Volume, fid needle.FileID, appendAtNs uint64, targets []string) {
	ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
	defer cancel()
	ts := max(uint64(time.Now().UnixNano()), appendAtNs+1)
	if _, err := vol.Delete(fid.Key, fid.Cookie, ts); err != nil && !isMissing(err) {
		glog.Errorf("volume %d: undoing the failed write of %s locally: %v", fid.Volume, fid, err)
	}
	if len(targets) == 0 {
		return
	}
	c.rollbackOnReplicas(ctx, fid, appendAtNs, ts, targets)
}
