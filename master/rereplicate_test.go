package master

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/topology"
	"github.com/weedfs/weed/wire"
)

// overCopied starts a master (replication 001, repairAfter 1h) and three
// nodes in one rack that all report volume 1; syncing says which nodes
// report their copy as still syncing.
func overCopied(t *testing.T, syncing ...int) (*masterHarness, []*fakeVolume) {
	t.Helper()
	return overCopiedWith(t, Options{}, syncing...)
}

// overCopiedWith is overCopied with more options.
func overCopiedWith(t *testing.T, opts Options, syncing ...int) (*masterHarness, []*fakeVolume) {
	t.Helper()
	opts.DefaultReplication, opts.RepairAfter = "001", time.Hour
	m := startMaster(t, opts, nil)
	p, err := needle.ParsePlacement("001")
	if err != nil {
		t.Fatal(err)
	}
	var vs []*fakeVolume
	for i := 0; i < 3; i++ {
		v := newFakeVolume(t, "dc1", "rack1", 7)
		info := wire.VolumeInfo{ID: 1, ReplicaPlacement: p, Version: needle.CurrentVersion}
		for _, s := range syncing {
			if s == i {
				info.Syncing = true
			}
		}
		v.volumes[1] = info
		v.heartbeatTo(m.addr)
		vs = append(vs, v)
	}
	return m, vs
}

// deletes counts the DeleteVolume calls for volume 1 on every node.
func deletes(vs []*fakeVolume) (total int, on []int) {
	for i, v := range vs {
		if n := v.calls(wire.DeleteVolumePath, 1); n > 0 {
			total += n
			on = append(on, i)
		}
	}
	return total, on
}

// An operator who copies a volume onto a new server (walk-through 八.2)
// makes the master see one copy too many until the old holder is declared
// dead; the copy that just arrived, still syncing, must not be dropped.
func TestRereplicationKeepsAFreshExtraCopyUntilSettled(t *testing.T) {
	for _, tc := range []struct {
		name    string
		syncing []int
	}{
		{"all healthy", nil},
		{"new copy syncing", []int{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, vs := overCopied(t, tc.syncing...)
			ctx := context.Background()
			now := time.Now()
			for _, d := range []time.Duration{0, time.Second, 59 * time.Minute} {
				m.s.repair.tick(ctx, now.Add(d))
			}
			if n, on := deletes(vs); n != 0 {
				t.Fatalf("an extra copy was dropped before repairAfter: %d deletes on nodes %v", n, on)
			}
			// Over its count for repairAfter: one extra copy goes, a
			// syncing one first.
			m.s.repair.tick(ctx, now.Add(time.Hour+time.Minute))
			n, on := deletes(vs)
			if n != 1 {
				t.Fatalf("%d deletes after repairAfter (nodes %v), want 1", n, on)
			}
			if len(tc.syncing) > 0 && on[0] != tc.syncing[0] {
				t.Errorf("dropped the copy on node %d, want the syncing one on node %d", on[0], tc.syncing[0])
			}
		})
	}
}

// A node that comes back after the leader re-replicated its volume holds
// a surplus copy: it is dropped at once, and only that one.
func TestRereplicationDropsTheReturningCopyAtOnce(t *testing.T) {
	m, vs := overCopied(t, 0)
	r := m.s.repair
	var gone topology.RemovedNode
	gone.URL = vs[0].addr()
	gone.Volumes = []needle.VolumeID{1}
	r.nodeGone(gone, time.Now())

	// Lost but never replaced here (say, a previous leader did it): the
	// copy waits like any other.
	r.tick(context.Background(), time.Now())
	if n, on := deletes(vs); n != 0 {
		t.Fatalf("dropped a copy this leader did not replace: nodes %v", on)
	}

	r.mu.Lock()
	r.replaced[1] = true
	r.mu.Unlock()
	r.tick(context.Background(), time.Now())
	n, on := deletes(vs)
	if n != 1 || on[0] != 0 {
		t.Fatalf("deletes %d on nodes %v, want 1 on the returning node 0", n, on)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost[1] != nil || r.replaced[1] {
		t.Errorf("after the drop: lost %v replaced %v, want both forgotten", r.lost[1], r.replaced[1])
	}
}

// keepBeating sends a heartbeat of each of vs every 300 ms until the test
// ends.
func keepBeating(t *testing.T, m *masterHarness, vs ...*fakeVolume) {
	t.Helper()
	stop := make(chan struct{})
	var beats sync.WaitGroup
	beats.Go(func() {
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				for _, v := range vs {
					if _, err := v.beat(m.addr); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}
	})
	t.Cleanup(func() { close(stop); beats.Wait() })
}

// While re-replication waits on a volume server that does not answer a
// DeleteVolume (up to adminCallTimeout), dead nodes still expire and the
// automatic vacuum still runs: no lock is held across the call, and each
// runs in a loop of its own.
func TestRereplicationDropDoesNotHoldUpExpiryOrVacuum(t *testing.T) {
	m, vs := overCopiedWith(t, Options{PulseSeconds: 1, VacuumInterval: 100 * time.Millisecond})
	r := m.s.repair
	// Node 0 came back after this leader re-replicated its volume: its
	// copy goes at the first pulse, and that delete hangs.
	var gone topology.RemovedNode
	gone.URL = vs[0].addr()
	gone.Volumes = []needle.VolumeID{1}
	r.nodeGone(gone, time.Now())
	r.mu.Lock()
	r.replaced[1] = true
	r.mu.Unlock()
	arrived, release := vs[0].hold(wire.DeleteVolumePath)
	defer release()

	silent := newFakeVolume(t, "dc1", "rack2", 7)
	silent.heartbeatTo(m.addr)
	keepBeating(t, m, vs...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("re-replication did not try to drop the returning copy")
	}
	checks := vs[1].calls(wire.VacuumCheckPath, 1)
	eventually(t, 10*time.Second, "a vacuum check while the delete hangs", func() bool {
		return vs[1].calls(wire.VacuumCheckPath, 1) > checks
	})
	eventually(t, 10*time.Second, "the silent node to expire while the delete hangs", func() bool {
		st, err := json.Marshal(m.s.topo.DirStatus())
		return err == nil && !strings.Contains(string(st), silent.addr())
	})
	if n, _ := deletes(vs); n != 1 {
		t.Fatalf("%d delete calls while the first hangs, want 1", n)
	}
	release()
	eventually(t, 10*time.Second, "the drop to complete", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return !r.dropping[1] && !r.replaced[1]
	})
}
