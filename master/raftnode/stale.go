package raftnode

import (
	"context"
	"sync"

	"github.com/golang/glog"
	"github.com/hashicorp/raft"

	"github.com/weedfs/weed/needle"
)

// Stale marks (docs/consistency.md) are recorded through Raft by the
// leader; the master's HTTP endpoints call the methods below.

// staleTickets remembers, per leadership term, the highest ticket handed
// out: a mark above it cannot have been cleared yet, so repeating it adds
// nothing.
type staleTickets struct {
	mu   sync.Mutex
	term uint64
	max  uint64
}

// floor returns the highest ticket any sync may hold in r's current term:
// what this leader handed out, and at least its last log index when the
// term began (tickets of earlier leaders are below that).
func (t *staleTickets) floor(r *raft.Raft) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if term := r.CurrentTerm(); term != t.term {
		t.term, t.max = term, r.LastIndex()
	}
	return t.max
}

func (t *staleTickets) handOut(r *raft.Raft, ticket uint64) {
	t.floor(r)
	t.mu.Lock()
	t.max = max(t.max, ticket)
	t.mu.Unlock()
}

// MarkStale implements master.StaleMarker. A mark that changes nothing (the same
// replicas already marked after every ticket handed out) costs no Raft
// command.
func (n *Node) MarkStale(ctx context.Context, vid needle.VolumeID, nodes []string, wildcard bool, reached []string) error {
	r := n.leaderRaft()
	if r == nil {
		return ErrNotLeader
	}
	if _, err := n.prepare(r); err != nil {
		return err
	}
	if n.fsm.markCovered(vid, nodes, wildcard, reached, n.tickets.floor(r)) {
		return nil
	}
	cmd := encodeStaleCmd(cmdStaleMark, staleMarkCmd{Volume: vid, Nodes: nodes, Wildcard: wildcard, Reached: reached})
	if _, err := n.applyResult(ctx, r, cmd); err != nil {
		return err
	}
	glog.Infof("raft %s: volume %d: replicas %v marked stale (any other than %v: %v)", n.self, vid, nodes, reached, wildcard)
	return nil
}

// SyncTicket implements master.StaleMarker: the leader's applied index.
func (n *Node) SyncTicket() (uint64, error) {
	r := n.leaderRaft()
	if r == nil {
		return 0, ErrNotLeader
	}
	if _, err := n.prepare(r); err != nil {
		return 0, err
	}
	t := r.AppliedIndex()
	n.tickets.handOut(r, t)
	return t, nil
}

// ReportSynced implements master.StaleMarker. A node that is not stale costs no
// Raft command.
func (n *Node) ReportSynced(ctx context.Context, vid needle.VolumeID, node string, ticket uint64, from []string) (bool, error) {
	r := n.leaderRaft()
	if r == nil {
		return true, ErrNotLeader
	}
	if _, err := n.prepare(r); err != nil {
		return true, err
	}
	if !n.fsm.IsStale(vid, node) {
		return false, nil
	}
	res, err := n.applyResult(ctx, r, encodeStaleCmd(cmdStaleSynced, staleSyncedCmd{Volume: vid, Node: node, Ticket: ticket, From: from}))
	if err != nil {
		return true, err
	}
	stale, _ := res.(bool)
	if !stale {
		glog.Infof("raft %s: volume %d: %s synced with %v; no longer stale", n.self, vid, node, from)
	}
	return stale, nil
}

// ForgetReplica implements master.StaleMarker.
func (n *Node) ForgetReplica(ctx context.Context, vid needle.VolumeID, node string) error {
	r := n.leaderRaft()
	if r == nil {
		return ErrNotLeader
	}
	if _, err := n.prepare(r); err != nil {
		return err
	}
	_, err := n.applyResult(ctx, r, encodeStaleCmd(cmdStaleForget, staleForgetCmd{Volume: vid, Node: node}))
	return err
}

// IsStale implements master.StaleMarker.
func (n *Node) IsStale(vid needle.VolumeID, node string) bool { return n.fsm.IsStale(vid, node) }

// StaleMarks implements master.StaleMarker.
func (n *Node) StaleMarks() map[needle.VolumeID]StaleVolumeMarks { return n.fsm.StaleMarks() }

// applyResult commits cmd and returns the FSM's result for it.
func (n *Node) applyResult(ctx context.Context, r *raft.Raft, cmd []byte) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f := r.Apply(cmd, applyTimeout)
	if err := f.Error(); err != nil {
		return nil, raftErr("apply", err)
	}
	return f.Response(), nil
}
