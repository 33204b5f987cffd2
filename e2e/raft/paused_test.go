package raft

import (
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/testcluster"
)

// TestPausedLeaderNeverReissuesKeys freezes the leader with SIGSTOP (it
// keeps its sockets and its in-memory key lease), lets the others elect a
// new leader and assign, then resumes it while assigns hammer every master,
// the frozen one included: whatever the resumed master still answers as a
// stale leader, no file key is handed out twice.
func TestPausedLeaderNeverReissuesKeys(t *testing.T) {
	_, ms, _ := startGroup(t)
	leader, _ := waitLeaderAmong(t, ms, leaderBound)
	ledger := newFidLedger()
	for i := 0; i < 60; i++ {
		if _, err := assignOnce(ledger, ms[i%3].Addr(), nil); err != nil {
			t.Fatal(err)
		}
	}
	beforeMax := ledger.highest()
	pre, err := getVolStatus(leader.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defaultVols := pre.collectionVolumes("")

	pausedAt := time.Now()
	leader.Pause()
	survivors := followersOf(leader, ms)
	newLeader, seen := waitLeaderAmong(t, survivors, leaderBound)
	t.Logf("MEASURED new leader %s first seen %v after the leader was paused", newLeader.Addr(), seen.Sub(pausedAt).Round(time.Millisecond))
	nodesListed := make(chan time.Time, 1)
	go func() {
		if testcluster.Eventually(settleBound, func() bool { return nodeCount(newLeader.Addr()) == 2 }) {
			nodesListed <- time.Now()
		}
		close(nodesListed)
	}()
	// The new leader's first key is above every key the paused leader could
	// hand out from its lease.
	a, err := assignRetry(ledger, addrs(survivors...), nil, assignBound)
	if err != nil {
		t.Fatalf("assign through the survivors: %v", err)
	}
	first, _ := needle.ParseFileID(a.Fid)
	t.Logf("first key of the new leader %d; highest key before the pause %d", first.Key, beforeMax)
	if first.Key <= beforeMax {
		t.Errorf("new leader's first key %d is not above %d", first.Key, beforeMax)
	}

	// Right away, concurrent assigns on an existing and a fresh collection.
	var growers sync.WaitGroup
	for i := 0; i < 6; i++ {
		for _, coll := range []string{"", "freshp"} {
			growers.Go(func() {
				if _, err := assignRetry(ledger, addrs(survivors...)[i%2:], url.Values{"collection": {coll}}, assignBound); err != nil {
					t.Errorf("assign in %q after the pause: %v", coll, err)
				}
			})
		}
	}
	growers.Wait()
	if at, ok := <-nodesListed; ok {
		t.Logf("MEASURED new leader lists both volume servers %v after it was seen leading", at.Sub(seen).Round(time.Millisecond))
	}
	st, err := getVolStatus(newLeader.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("volumes: %v (default) %v (freshp)", st.collectionVolumes(""), st.collectionVolumes("freshp"))
	if got := st.collectionVolumes(""); !slices.Equal(got, defaultVols) {
		t.Errorf("default collection has volumes %v after the pause, had %v", got, defaultVols)
	}
	if got := st.collectionVolumes("freshp"); len(got) != growthOf001 {
		t.Errorf("fresh collection has volumes %v, want one growth of %d", got, growthOf001)
	}

	// Hammer every master, the paused one included, then resume it.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var staleKeys, okCount int
	for _, m := range ms {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				a, err := assignOnce(ledger, m.Addr(), nil)
				if err != nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				f, _ := needle.ParseFileID(a.Fid)
				mu.Lock()
				okCount++
				if f.Key < first.Key {
					staleKeys++
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	leader.Resume()
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%d assigns while the old leader was resumed; %d of them below the new leader's first key (served from the stale lease)", okCount, staleKeys)

	agreed, _ := waitLeaderAmong(t, ms, settleBound)
	t.Logf("after the resume the group's leader is %s (old leader %s)", agreed.Addr(), leader.Addr())
	if _, err := assignRetry(ledger, []string{leader.Addr()}, nil, assignBound); err != nil {
		t.Errorf("assign through the resumed master: %v", err)
	}
	ledger.check(t)
	t.Logf("%d assigns checked", ledger.assigns())
}
