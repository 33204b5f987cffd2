package replication

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
)

// markStale asks the leader to record, through Raft, that the replicas in
// nodes missed an operation on vid, and with wildcard that every replica
// other than those in reached did (the master listed fewer replicas than
// the volume has copies).
func (c *Coordinator) markStale(ctx context.Context, vid needle.VolumeID, nodes []string, wildcard bool, reached []string) error {
	if err := c.masters.MarkStale(ctx, vid, nodes, wildcard, reached); err != nil {
		return fmt.Errorf("record stale replicas %v (any other: %v) of volume %d: %w", nodes, wildcard, vid, err)
	}
	glog.V(1).Infof("volume %d: marked %v stale (any other than %v: %v)", vid, nodes, reached, wildcard)
	return nil
}

// pendingMark is a stale mark the leader could not record yet.
type pendingMark struct {
	vid      needle.VolumeID
	nodes    []string
	wildcard bool
	reached  []string
	since    time.Time
}

// markRetryFor bounds how long a stale mark is retried in the background.
const markRetryFor = time.Hour

// markQueue holds the stale marks the leader could not record yet; the
// sync loop retries them (retryMarks). Safe for concurrent use; no lock
// is held across a master call.
type markQueue struct {
	mu      sync.Mutex
	pending []pendingMark
}

// add keeps a mark that could not be recorded, for retryMarks.
func (q *markQueue) add(m pendingMark) {
	q.mu.Lock()
	defer q.mu.Unlock()
	m.since = time.Now()
	q.pending = append(q.pending, m)
}

// has reports whether marks of vid are still waiting.
func (q *markQueue) has(vid needle.VolumeID) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.ContainsFunc(q.pending, func(m pendingMark) bool { return m.vid == vid })
}

// take empties the queue and returns what it held.
func (q *markQueue) take() []pendingMark {
	q.mu.Lock()
	defer q.mu.Unlock()
	todo := q.pending
	q.pending = nil
	return todo
}

// putBack returns marks that still wait, ahead of those queued meanwhile.
func (q *markQueue) putBack(keep []pendingMark) {
	if len(keep) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending = append(keep, q.pending...)
}

// retryMarks tries every waiting mark once; it keeps those that fail.
func (c *Coordinator) retryMarks(ctx context.Context) {
	var keep []pendingMark
	for _, m := range c.marks.take() {
		err := c.markStale(ctx, m.vid, m.nodes, m.wildcard, m.reached)
		switch {
		case err == nil:
			glog.Infof("volume %d: recorded the stale mark of %v (any other than %v: %v) after %v", m.vid, m.nodes, m.reached, m.wildcard, time.Since(m.since).Round(time.Millisecond))
		case time.Since(m.since) > markRetryFor:
			glog.Errorf("volume %d: giving up recording stale replicas %v: %v", m.vid, m.nodes, err)
		default:
			keep = append(keep, m)
		}
	}
	c.marks.putBack(keep)
}
