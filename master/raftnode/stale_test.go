package raftnode

import (
	"context"
	"testing"
	"time"
)

// TestRaftStaleMarksSurviveFailover: a stale mark recorded by one leader
// is known to the next, whose ticket and sync report clear it on every
// master.
func TestRaftStaleMarksSurviveFailover(t *testing.T) {
	ms := newInmemMasters(t, 3)
	for _, m := range ms {
		m.start()
	}
	ctx := context.Background()
	first := mustOnLeader(t, ms, func(m *testMaster) error {
		return m.node.MarkStale(ctx, 7, []string{"b:1"}, false, nil)
	})
	// Marking again costs nothing and changes nothing.
	if err := first.node.MarkStale(ctx, 7, []string{"b:1"}, false, nil); err != nil {
		t.Fatal(err)
	}
	first.stop()
	rest := runningMasters(ms)
	var ticket uint64
	leader := mustOnLeader(t, rest, func(m *testMaster) error {
		// A new leader answers for marks only once its FSM is current.
		if err := m.node.LeaderReady(ctx); err != nil {
			return err
		}
		if !m.node.IsStale(7, "b:1") {
			t.Fatalf("the new leader %s lost the mark", m.addr)
		}
		var err error
		ticket, err = m.node.SyncTicket()
		return err
	})
	if stale, err := leader.node.ReportSynced(ctx, 7, "b:1", ticket, nil); err != nil || !stale {
		t.Fatalf("a sync with no source: stale %v, %v; want still stale", stale, err)
	}
	if stale, err := leader.node.ReportSynced(ctx, 7, "b:1", ticket, []string{"a:1"}); err != nil || stale {
		t.Fatalf("a sync from a replica that is not stale: stale %v, %v", stale, err)
	}
	eventually(t, 10*time.Second, "the mark cleared on every running master", func() bool {
		for _, m := range rest {
			if m.node.IsStale(7, "b:1") {
				return false
			}
		}
		return true
	})
	if _, err := leader.node.SyncTicket(); err != nil {
		t.Fatal(err)
	}
	for _, m := range rest {
		if m != leader {
			if _, err := m.node.SyncTicket(); err == nil {
				t.Errorf("follower %s handed out a ticket", m.addr)
			}
		}
	}
}
