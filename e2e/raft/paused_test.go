package raft

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weedfs/weed/client"
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
		if testcluster.WaitForNodeCount(newLeader.Addr(), 2, settleBound) == nil {
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
	// The hammers are under way (every survivor has answered one of them;
	// the paused master holds the first request of its own) before the
	// resume.
	if !testcluster.Eventually(settleBound, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return okCount >= len(ms)-1
	}) {
		t.Log("no assign through the survivors succeeded while the old leader was paused")
	}
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

// Bounds and shape of TestPausedLeaderWritesRecover's load.
const (
	// pausedWriters is how many writers assign and upload concurrently.
	pausedWriters = 4
	// pausedWriteTimeout bounds one assign plus upload of a writer: longer
	// than the pause, as a patient client's, so that only the cluster's own
	// bounds decide how soon writes move on from the paused master.
	pausedWriteTimeout = 30 * time.Second
	// pausedBaseline is how long the load runs before the pause.
	pausedBaseline = 6 * time.Second
	// leaderPause is how long the leader stays stopped.
	leaderPause = 20 * time.Second
	// recoveryBound is how long after the new leader is first seen the
	// write rate may stay below half the baseline.
	recoveryBound = 10 * time.Second
)

// writeLoad is a bounded background load of assigns and uploads through
// clients of the masters; it records each acknowledged write and when it
// was acknowledged. Read its fields after halt returned.
type writeLoad struct {
	start   time.Time
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	acked   []storedFile
	at      [][]time.Duration // per client: since start, one per acked write
	failed  int
	errSeen []string
}

// startWriteLoad starts n writers that assign through the clients cls in
// turn and upload small files until halt is called; each write is bounded
// by pausedWriteTimeout.
func startWriteLoad(cls []*client.Client, n int) *writeLoad {
	l := &writeLoad{start: time.Now(), stop: make(chan struct{}), at: make([][]time.Duration, len(cls))}
	for w := 0; w < n; w++ {
		l.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				data := []byte(fmt.Sprintf("writer %d write %d", w, i))
				fid, url, err := writeOnce(cls[w%len(cls)], data)
				l.mu.Lock()
				if err != nil {
					l.failed++
					if len(l.errSeen) < 8 {
						l.errSeen = append(l.errSeen, fmt.Sprintf("%v %v", time.Since(l.start).Round(time.Millisecond), err))
					}
				} else {
					l.acked = append(l.acked, storedFile{Fid: fid, URL: url, Data: data})
					l.at[w%len(cls)] = append(l.at[w%len(cls)], time.Since(l.start))
				}
				l.mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	return l
}

// writeOnce assigns a fid through cl and uploads data as it.
func writeOnce(cl *client.Client, data []byte) (fid, url string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), pausedWriteTimeout)
	defer cancel()
	a, err := cl.Assign(ctx, client.AssignRequest{})
	if err != nil {
		return "", "", err
	}
	if _, err := cl.Upload(ctx, a.URL, a.Fid, client.UploadRequest{Filename: "p.txt", Body: bytes.NewReader(data)}); err != nil {
		return "", "", fmt.Errorf("upload %s to %s: %w", a.Fid, a.URL, err)
	}
	return a.Fid, a.URL, nil
}

// halt stops the writers and waits for them; it may be called again.
func (l *writeLoad) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// rate returns the writes acknowledged through client c (-1: all) per
// second in [from, to) (times since the load started).
func (l *writeLoad) rate(c int, from, to time.Duration) float64 {
	if to <= from {
		return 0
	}
	n := 0
	for i, at := range l.at {
		if c >= 0 && i != c {
			continue
		}
		for _, a := range at {
			if a >= from && a < to {
				n++
			}
		}
	}
	return float64(n) / (to - from).Seconds()
}

// firstAck returns when the first write through client c was
// acknowledged, and false when none was.
func (l *writeLoad) firstAck(c int) (time.Duration, bool) {
	if len(l.at[c]) == 0 {
		return 0, false
	}
	return slices.Min(l.at[c]), true
}

// TestPausedLeaderWritesRecover freezes the leader of three masters with
// SIGSTOP for leaderPause while writers assign and upload (replication 001)
// through a client of all three masters (the leader first) and one of a
// single follower (which forwards to the leader): through each, within
// recoveryBound of the new leader's election the write rate is back to at
// least half the rate before the pause, and stays there until the old
// leader resumes; after the resume every acknowledged write reads back from
// both replicas. The rates are ratios against the same run's baseline, a
// property of failover, not a speed figure.
func TestPausedLeaderWritesRecover(t *testing.T) {
	_, ms, vs := startGroup(t)
	leader, _ := waitLeaderAmong(t, ms, leaderBound)
	// One client lists every master, the leader first: it must leave the
	// paused master by itself. The other knows one follower only, so it
	// has no master to move on to: the follower must leave the paused
	// leader for the new one.
	all, err := client.New(strings.Join(append(addrs(leader), addrs(followersOf(leader, ms)...)...), ","))
	if err != nil {
		t.Fatal(err)
	}
	one, err := client.New(followersOf(leader, ms)[0].Addr())
	if err != nil {
		t.Fatal(err)
	}
	cls := []*client.Client{all, one}
	clientNames := []string{"all clients", "the client of every master, the leader first", "the client of one follower"}
	load := startWriteLoad(cls, pausedWriters)
	t.Cleanup(load.halt)
	time.Sleep(pausedBaseline)

	pausedAt := time.Since(load.start)
	leader.Pause()
	t.Cleanup(leader.Resume)
	newLeader, seen := waitLeaderAmong(t, followersOf(leader, ms), leaderBound)
	elected := seen.Sub(load.start)
	t.Logf("MEASURED new leader %s first seen %v after the leader %s was paused", newLeader.Addr(), (elected - pausedAt).Round(time.Millisecond), leader.Addr())
	time.Sleep(time.Until(load.start.Add(pausedAt + leaderPause)))
	resumedAt := time.Since(load.start)
	leader.Resume()
	time.Sleep(3 * time.Second)
	load.halt()
	end := time.Since(load.start)

	// One-second buckets from the start, logged for the record.
	for c := -1; c < len(cls); c++ {
		var buckets []string
		for b := time.Duration(0); b+time.Second <= end; b += time.Second {
			mark := ""
			switch {
			case b < pausedAt && pausedAt < b+time.Second:
				mark = "P"
			case b < elected && elected < b+time.Second:
				mark = "E"
			case b < resumedAt && resumedAt < b+time.Second:
				mark = "R"
			}
			buckets = append(buckets, fmt.Sprintf("%s%.0f", mark, load.rate(c, b, b+time.Second)))
		}
		t.Logf("writes per second through %s (P pause, E new leader seen, R resume): %s", clientNames[c+1], strings.Join(buckets, " "))
	}
	t.Logf("%d writes acknowledged, %d failed; first failures: %q", len(load.acked), load.failed, load.errSeen)

	// Through each client, against its own baseline.
	for c := range cls {
		name := clientNames[c+1]
		rate := func(from, to time.Duration) float64 { return load.rate(c, from, to) }
		// The baseline leaves out the first second after the first write
		// (connections, the first growth).
		first, ok := load.firstAck(c)
		if !ok || first+time.Second >= pausedAt {
			t.Fatalf("no baseline through %s before the pause (first write acknowledged at %v)", name, first)
		}
		baseline := rate(first+time.Second, pausedAt)
		if baseline < 10 {
			t.Fatalf("baseline of %.0f writes/s through %s before the pause is too low to measure a recovery", baseline, name)
		}
		half := baseline / 2
		recovered := time.Duration(-1)
		for b := elected; b+time.Second <= resumedAt; b += 250 * time.Millisecond {
			if rate(b, b+time.Second) >= half {
				recovered = b - elected
				break
			}
		}
		if recovered < 0 {
			t.Errorf("writes through %s never got back to half their baseline (%.0f/s) while the leader was paused", name, half)
		} else {
			t.Logf("MEASURED through %s: baseline %.0f writes/s; first 1 s window at half of it %v after the new leader was seen", name, baseline, recovered.Round(time.Millisecond))
			if recovered > recoveryBound {
				t.Errorf("writes through %s got back to half their baseline (%.0f/s) only %v after the new leader, want within %v", name, half, recovered.Round(time.Millisecond), recoveryBound)
			}
		}
		if from := elected + recoveryBound; resumedAt-from >= 2*time.Second {
			if r := rate(from, resumedAt); r < half {
				t.Errorf("from %v after the new leader to the resume, writes through %s ran at %.0f/s, below half their baseline %.0f/s", recoveryBound, name, r, half)
			}
		} else {
			t.Errorf("the new leader was seen only %v after the pause: no time left to check the rate holds", (elected - pausedAt).Round(time.Millisecond))
		}
	}

	// No acknowledged write is lost: each reads back from both replicas.
	waitLeaderAmong(t, ms, settleBound)
	missing, errs := checkStored(load.acked, addrs(vs...))
	if len(missing) > 0 {
		// A replica that missed a write while it was marked stale syncs
		// after the resume: give it time, then check those again.
		t.Logf("%d acknowledged writes do not read back yet: %s", len(missing), strings.Join(errs[:min(len(errs), 5)], "; "))
		testcluster.Eventually(settleBound, func() bool {
			missing, errs = checkStored(missing, addrs(vs...))
			return len(missing) == 0
		})
		if len(missing) > 0 {
			t.Errorf("%d of %d acknowledged writes do not read back: %s", len(missing), len(load.acked), strings.Join(errs[:min(len(errs), 10)], "; "))
		}
	}
	t.Logf("%d acknowledged writes read back from %d volume servers", len(load.acked), len(vs))
}

// checkStored reads every file from every volume server in servers, eight
// at a time, and returns the files that failed somewhere, with the errors.
func checkStored(files []storedFile, servers []string) ([]storedFile, []string) {
	var mu sync.Mutex
	var bad []storedFile
	var failed []string
	var wg sync.WaitGroup
	work := make(chan storedFile)
	for i := 0; i < 8; i++ {
		wg.Go(func() {
			for f := range work {
				var errs []string
				for _, s := range servers {
					if err := readFile(s, f.Fid, f.Data); err != nil {
						errs = append(errs, err.Error())
					}
				}
				if len(errs) > 0 {
					mu.Lock()
					bad = append(bad, f)
					failed = append(failed, errs...)
					mu.Unlock()
				}
			}
		})
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	return bad, failed
}
