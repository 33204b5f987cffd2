package raftnode

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/golang/glog"
	"github.com/hashicorp/raft"

	"github.com/weedfs/weed/needle"
)

// keyLease is the block of file keys [next, end) the leader may hand out
// without Raft. It is valid only in the Raft term it was prepared in: a new
// term means a new leadership, which starts again from the replicated mark.
type keyLease struct {
	term      uint64
	next, end uint64
}

// NextFileKeys reserves count consecutive keys (count 0 is taken as 1) and
// returns the first. Most calls are served from the leader's in-memory lease;
// when it runs short, a new lease of max(count, LeaseSize) keys is committed
// through Raft first. Returns ErrNotLeader (wrapped) on a follower.
func (n *Node) NextFileKeys(ctx context.Context, count uint64) (needle.Key, error) {
	if count == 0 {
		count = 1
	}
	for {
		r := n.leaderRaft()
		if r == nil {
			return 0, ErrNotLeader
		}
		if k, ok := n.takeKeys(r, count); ok {
			return needle.Key(k), nil
		}
		if err := n.refillLease(ctx, r, count); err != nil {
			return 0, err
		}
	}
}

// takeKeys hands out count keys from the current term's lease, if it holds
// that many.
func (n *Node) takeKeys(r *raft.Raft, count uint64) (uint64, bool) {
	term := r.CurrentTerm()
	n.mu.Lock()
	defer n.mu.Unlock()
	l := &n.lease
	if l.term != term || l.end-l.next < count {
		return 0, false
	}
	k := l.next
	l.next += count
	return k, true
}

// refillLease makes sure the lease holds at least count keys, committing a
// new high-water mark through Raft if needed.
func (n *Node) refillLease(ctx context.Context, r *raft.Raft, count uint64) error {
	release, err := n.acquireSlot(ctx)
	if err != nil {
		return err
	}
	defer release()
	term, err := n.prepare(r)
	if err != nil {
		return err
	}
	mark := n.fsm.FileKeyMark()
	n.mu.Lock()
	if n.lease.term == term && n.lease.end-n.lease.next >= count {
		n.mu.Unlock()
		return nil
	}
	start, extend := max(mark, 1), false
	if n.lease.term == term && n.lease.end == mark && n.lease.next <= mark {
		start, extend = n.lease.next, true
	}
	n.mu.Unlock()
	size := max(count, n.leaseSize)
	if start > math.MaxUint64-size {
		return fmt.Errorf("file keys exhausted: %d + %d overflows", start, size)
	}
	end := start + size
	if err := n.apply(r, encodeFileKeyLease(end)); err != nil {
		return err
	}
	if n.leaseCommitted != nil {
		n.leaseCommitted(end)
	}
	n.mu.Lock()
	if n.lease.term == term {
		if !extend {
			n.lease.next = start
		}
		n.lease.end = end
	}
	n.mu.Unlock()
	glog.V(2).Infof("raft %s: leased file keys up to %d", n.self, end)
	return nil
}

// prepare makes sure the FSM reflects every entry committed before this
// node's current leadership term (a Barrier: after a restart or a leader
// change the FSM may lag), and starts the term's lease just at the
// high-water mark, so that no key an earlier leader may have issued is
// handed out. The caller holds the slot. It returns the term prepared.
func (n *Node) prepare(r *raft.Raft) (uint64, error) {
	// Read the state before the term: raft sets the term first, so a node
	// seen as leader is leader of the term read next, or of none.
	if r.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	term := r.CurrentTerm()
	n.mu.Lock()
	ready := n.lease.term == term
	n.mu.Unlock()
	if ready {
		return term, nil
	}
	if err := r.Barrier(barrierTimeout).Error(); err != nil {
		return 0, raftErr("barrier", err)
	}
	base := max(n.fsm.FileKeyMark(), 1)
	n.mu.Lock()
	n.lease = keyLease{term: term, next: base, end: base}
	n.mu.Unlock()
	return term, nil
}

// LeaderReady returns nil once this node is the leader and its FSM holds
// every entry committed before its term (a Raft barrier, run once per term;
// the first key lease runs it as soon as leadership is won). Decisions that
// read replicated state on the leader (stale marks, heartbeats that learn
// them) wait for it: a leader fresh from an election may not have applied
// the last entries of the previous term yet.
func (n *Node) LeaderReady(ctx context.Context) error {
	r := n.leaderRaft()
	if r == nil {
		return ErrNotLeader
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := n.prepare(r)
	return err
}

// NextVolumeID commits and returns the highest volume id plus one. Calls
// are serialized. Returns ErrNotLeader (wrapped) on a follower.
func (n *Node) NextVolumeID(ctx context.Context) (needle.VolumeID, error) {
	r := n.leaderRaft()
	if r == nil {
		return 0, ErrNotLeader
	}
	release, err := n.acquireSlot(ctx)
	if err != nil {
		return 0, err
	}
	defer release()
	if _, err := n.prepare(r); err != nil {
		return 0, err
	}
	cur := n.fsm.MaxVolumeID()
	if cur == math.MaxUint32 {
		return 0, errors.New("volume ids exhausted")
	}
	vid := cur + 1
	if err := n.apply(r, encodeMaxVolumeID(vid)); err != nil {
		return 0, err
	}
	return vid, nil
}

// ObserveVolumeID raises the max volume id to at least vid. It costs no Raft
// command when vid is not above the current maximum. Returns ErrNotLeader
// on a follower.
func (n *Node) ObserveVolumeID(ctx context.Context, vid needle.VolumeID) error {
	r := n.leaderRaft()
	if r == nil {
		return ErrNotLeader
	}
	if vid <= n.fsm.MaxVolumeID() {
		return nil
	}
	release, err := n.acquireSlot(ctx)
	if err != nil {
		return err
	}
	defer release()
	if vid <= n.fsm.MaxVolumeID() {
		return nil
	}
	glog.Infof("raft %s: raising max volume id to observed %d", n.self, vid)
	return n.apply(r, encodeMaxVolumeID(vid))
}

// ObserveFileKey raises the file-key high-water mark above key and skips
// key in the leader's lease. It costs no Raft command when key is below the
// mark, and takes no slot when key is below the lease's next key (what
// volume servers report is usually a key this leader handed out). Returns
// ErrNotLeader on a follower.
//
// The lease's next key only grows (a refill starts at or above it, a new
// term's lease at the mark), so a key below it is never handed out again.
// Below the mark is not enough outside the slot: a refill that has
// committed its new mark but not yet installed its lease would hand out
// the key afterwards, so that check waits for the slot.
func (n *Node) ObserveFileKey(ctx context.Context, key needle.Key) error {
	r := n.leaderRaft()
	if r == nil {
		return ErrNotLeader
	}
	k := uint64(key)
	n.mu.Lock()
	below := k < n.lease.next
	n.mu.Unlock()
	if below {
		return nil
	}
	release, err := n.acquireSlot(ctx)
	if err != nil {
		return err
	}
	defer release()
	n.skipLeased(k)
	if k < n.fsm.FileKeyMark() {
		return nil
	}
	mark := k + 1
	if k == math.MaxUint64 {
		mark = k
	}
	glog.Infof("raft %s: raising file key mark to observed key %d", n.self, k)
	return n.apply(r, encodeFileKeyLease(mark))
}

// skipLeased moves the lease past key if key lies in it.
func (n *Node) skipLeased(key uint64) {
	n.mu.Lock()
	if key >= n.lease.next && key < n.lease.end {
		n.lease.next = key + 1
	}
	n.mu.Unlock()
}

// acquireSlot waits for the right to issue a sequencer command.
func (n *Node) acquireSlot(ctx context.Context) (release func(), err error) {
	select {
	case n.slot <- struct{}{}:
		return func() { <-n.slot }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for raft: %w", ctx.Err())
	case <-n.ctx.Done():
		return nil, fmt.Errorf("raft node shut down: %w", ErrNotLeader)
	}
}

// apply commits one command and waits until this node's FSM applied it.
// Raft bounds the wait: a leader that loses its quorum steps down and fails
// pending commands.
func (n *Node) apply(r *raft.Raft, cmd []byte) error {
	if err := r.Apply(cmd, applyTimeout).Error(); err != nil {
		return raftErr("apply", err)
	}
	return nil
}
