package raft

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/testcluster"
	"github.com/weedfs/weed/topology"
)

// volumeMax is -max of the volume servers: room for several growths of
// replication 001 (six volumes per server each).
const volumeMax = 30

// growthOf001 is how many volumes one growth of replication 001 creates.
var growthOf001 = topology.GrowthCount(2)

// startGroup starts three masters (replication 001 by default) and two
// volume servers that list all three, and waits until the leader sees both.
func startGroup(t *testing.T) (*testcluster.Cluster, []*testcluster.Process, []*testcluster.Process) {
	t.Helper()
	c := testcluster.New(t)
	ms := c.StartMasters(3, testcluster.MasterOptions{DefaultReplication: "001"})
	mserver := strings.Join(addrs(ms...), ",")
	vs := []*testcluster.Process{
		c.StartVolume(testcluster.VolumeOptions{Masters: mserver, Max: volumeMax}),
		c.StartVolume(testcluster.VolumeOptions{Masters: mserver, Max: volumeMax}),
	}
	leader, _ := waitLeaderAmong(t, ms, leaderBound)
	if err := testcluster.WaitForNodeCount(leader.Addr(), 2, settleBound); err != nil {
		t.Fatal(err)
	}
	return c, ms, vs
}

// checkAgreement fails t unless every running master of ms names leader,
// only leader says IsLeader, and each lists exactly the others of all as
// Peers.
func checkAgreement(t *testing.T, ms []*testcluster.Process, leader *testcluster.Process, all []string) {
	t.Helper()
	want := slices.Sorted(slices.Values(all))
	ok := testcluster.Eventually(settleBound, func() bool {
		for _, m := range ms {
			if !m.Running() {
				continue
			}
			st, err := m.Status()
			if err != nil || st.Leader != leader.Addr() || st.IsLeader != (m == leader) ||
				slices.Contains(st.Peers, m.Addr()) || !slices.Equal(memberSet(m.Addr(), st), want) {
				return false
			}
		}
		return true
	})
	for _, m := range ms {
		if !m.Running() {
			continue
		}
		st, err := m.Status()
		t.Logf("%s %s: IsLeader=%v Leader=%s Peers=%v err=%v", m.Name, m.Addr(), st.IsLeader, st.Leader, st.Peers, err)
	}
	if !ok {
		t.Fatalf("masters do not agree on leader %s and members %v", leader.Addr(), want)
	}
}

// assignOnce assigns one fid through master and records it.
func assignOnce(ledger *fidLedger, master string, q url.Values) (testcluster.AssignResult, error) {
	a, err := testcluster.Assign(master, q.Encode())
	if err != nil {
		return a, err
	}
	if err := ledger.add(a.Fid, a.Count, master); err != nil {
		return a, err
	}
	return a, nil
}

// assignRetry assigns through the masters in turn until one succeeds or
// bound passes.
func assignRetry(ledger *fidLedger, masters []string, q url.Values, bound time.Duration) (testcluster.AssignResult, error) {
	var a testcluster.AssignResult
	i := 0
	err := testcluster.Poll(bound, func() (err error) {
		a, err = assignOnce(ledger, masters[i%len(masters)], q)
		i++
		return err
	})
	return a, err
}

// readerStats counts the outcome of reads made by a background reader.
type readerStats struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	firstErrs  []string
}

// readContinuously reads files from the volume servers vs directly, in
// turn, until stop is closed.
func readContinuously(files []storedFile, vs []string, stop <-chan struct{}, st *readerStats) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		f := files[i%len(files)]
		if err := readFile(vs[i%len(vs)], f.Fid, f.Data); err != nil {
			st.failed.Add(1)
			st.mu.Lock()
			if len(st.firstErrs) < 5 {
				st.firstErrs = append(st.firstErrs, err.Error())
			}
			st.mu.Unlock()
		} else {
			st.ok.Add(1)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// writerStats is the outcome of a background writer; read it after the
// writer stopped.
type writerStats struct {
	written   []storedFile
	failed    int
	firstErrs []string
}

// writeContinuously uploads the fids of blocks (assigns with a count) in
// turn to the volume servers vs, until stop is closed or the fids run out.
func writeContinuously(blocks []testcluster.AssignResult, vs []string, stop <-chan struct{}, st *writerStats) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		b := blocks[i%len(blocks)]
		k := uint64(i/len(blocks) + 1)
		if k >= b.Count {
			return
		}
		fid := fmt.Sprintf("%s_%d", b.Fid, k)
		data := []byte("written during the failover as " + fid)
		if err := testcluster.Upload(vs[i%len(vs)], fid, "w.txt", data); err != nil {
			st.failed++
			if len(st.firstErrs) < 5 {
				st.firstErrs = append(st.firstErrs, time.Now().Format("15:04:05.000")+" "+err.Error())
			}
		} else {
			st.written = append(st.written, storedFile{Fid: fid, Data: data})
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lookupStats is the outcome of a background lookup prober; read it after
// the prober stopped.
type lookupStats struct {
	ok, unavailable, notFound, partial int
	firstErrs                          []string
}

// lookupContinuously looks volume vid up through masters in turn until stop
// is closed, expecting copies locations.
func lookupContinuously(masters []string, vid needle.VolumeID, copies int, stop <-chan struct{}, st *lookupStats) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		m := masters[i%len(masters)]
		l, err := testcluster.Lookup(m, vid.String())
		status := l.Reply.Status
		note := func(what string) {
			if len(st.firstErrs) < 5 {
				st.firstErrs = append(st.firstErrs, fmt.Sprintf("%s %s via %s: %d %+v %v", time.Now().Format("15:04:05.000"), what, m, status, l, err))
			}
		}
		switch {
		case err != nil || status >= 500:
			st.unavailable++
		case status == http.StatusNotFound:
			st.notFound++
			note("not found")
		case status == http.StatusOK && len(l.Locations) == copies:
			st.ok++
		default:
			st.partial++
			note("partial")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLeaderFailover kills the leader of three masters with -9 while
// assigns, reads and growths go on, then restarts it and adds a fourth
// master: a new leader appears, assigns work again through the survivors,
// no file key or volume id is handed out twice, reads served by volume
// servers never fail, volume servers move to the new leader, growth after
// the change happens once, and the group grows to four.
func TestLeaderFailover(t *testing.T) {
	c, ms, vs := startGroup(t)
	leader, _ := waitLeaderAmong(t, ms, leaderBound)
	all3 := addrs(ms...)
	checkAgreement(t, ms, leader, all3)

	ledger := newFidLedger()
	watch := watchVolumes(func() []string { return addrs(ms...) }, 300*time.Millisecond)
	t.Cleanup(watch.halt)

	// Before: 150 assigns through every master in turn, followers included;
	// some become files.
	var files []storedFile
	for i := 0; i < 150; i++ {
		m := ms[i%len(ms)].Addr()
		a, err := assignOnce(ledger, m, nil)
		if err != nil {
			t.Fatalf("assign %d before the kill: %v", i, err)
		}
		if i%5 == 0 {
			data := []byte(fmt.Sprintf("file %d assigned through %s as %s", i, m, a.Fid))
			if err := testcluster.Upload(a.URL, a.Fid, fmt.Sprintf("f%d.txt", i), data); err != nil {
				t.Fatalf("upload before the kill: %v", err)
			}
			files = append(files, storedFile{Fid: a.Fid, URL: a.URL, Data: data})
		}
	}
	for i, f := range followersOf(leader, ms) {
		data := []byte(fmt.Sprintf("submitted through follower %s", f.Addr()))
		s, err := testcluster.Submit(f.Addr(), fmt.Sprintf("s%d.txt", i), data, "")
		if err != nil {
			t.Fatalf("submit through follower: %v", err)
		}
		if err := ledger.add(s.Fid, 1, f.Addr()+" /submit"); err != nil {
			t.Fatal(err)
		}
		files = append(files, storedFile{Fid: s.Fid, URL: strings.TrimSuffix(s.FileURL, "/"+s.Fid), Data: data})
	}
	// A collection that exists before the kill: the new leader must not
	// grow it again just because it has not heard of its volumes yet.
	if _, err := assignOnce(ledger, leader.Addr(), url.Values{"collection": {"before"}}); err != nil {
		t.Fatalf("assign in collection before: %v", err)
	}
	pre, err := getVolStatus(leader.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defaultVols, beforeVols := pre.collectionVolumes(""), pre.collectionVolumes("before")
	maxVidBefore := slices.Max(slices.Concat(defaultVols, beforeVols))
	t.Logf("before the kill: %d assigns, %d files, volumes %v (default) %v (before)", ledger.assigns(), len(files), defaultVols, beforeVols)

	// Reads straight from the volume servers, all through the failover.
	stopReads := make(chan struct{})
	var stopOnce sync.Once
	stopBackground := func() { stopOnce.Do(func() { close(stopReads) }) }
	var reads readerStats
	var readers sync.WaitGroup
	t.Cleanup(func() { stopBackground(); readers.Wait() })
	readers.Go(func() { readContinuously(files, addrs(vs...), stopReads, &reads) })
	// Writes straight to the volume servers, all through the failover: each
	// receiving server looks up the other replica through the masters.
	var blocks []testcluster.AssignResult
	for range 6 {
		a, err := assignOnce(ledger, leader.Addr(), url.Values{"count": {"1000"}})
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, a)
	}
	var writes writerStats
	readers.Go(func() { writeContinuously(blocks, addrs(vs...), stopReads, &writes) })
	// Lookups through the masters that survive, all through the failover.
	probeVid := defaultVols[0]
	var probes lookupStats
	readers.Go(func() {
		lookupContinuously(addrs(followersOf(leader, ms)...), probeVid, 2, stopReads, &probes)
	})

	// During: 100 assigns through the two followers, retried on failure;
	// the leader is killed after the first ten.
	survivors := followersOf(leader, ms)
	survivorAddrs := addrs(survivors...)
	type attempt struct {
		start, end time.Time
		err        error
	}
	var (
		attemptsMu sync.Mutex
		attempts   []attempt
		during     sync.WaitGroup
		tenDone    = make(chan struct{})
		duringDone = make(chan struct{})
	)
	during.Go(func() {
		defer close(duringDone)
		ok := 0
		deadline := time.Now().Add(2 * assignBound)
		for i := 0; ok < 100 && time.Now().Before(deadline); i++ {
			start := time.Now()
			_, err := assignOnce(ledger, survivorAddrs[i%2], nil)
			attemptsMu.Lock()
			attempts = append(attempts, attempt{start, time.Now(), err})
			attemptsMu.Unlock()
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			ok++
			if ok == 10 {
				close(tenDone)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	select {
	case <-tenDone:
	case <-duringDone:
		t.Fatal("ten assigns through the followers did not succeed before the kill")
	}
	killedAt := time.Now()
	leader.Kill()
	t.Logf("killed leader %s (%s)", leader.Name, leader.Addr())

	// A new leader among the survivors.
	newLeader, seenLeading := waitLeaderAmong(t, survivors, leaderBound)
	electedIn := seenLeading.Sub(killedAt)
	t.Logf("MEASURED new leader %s first seen %v after the kill (required: within 5s)", newLeader.Addr(), electedIn.Round(time.Millisecond))
	if newLeader == leader {
		t.Fatal("the killed master is still named leader")
	}
	// Watch, from now on, for the new leader to list both volume servers.
	nodesListed := make(chan time.Time, 1)
	go func() {
		if testcluster.WaitForNodeCount(newLeader.Addr(), 2, settleBound) == nil {
			nodesListed <- time.Now()
		}
		close(nodesListed)
	}()

	// Right after the change: concurrent assigns on a fresh collection and
	// on the collection that existed, through both survivors.
	var growers sync.WaitGroup
	growErrs := make(chan error, 16)
	for i := 0; i < 8; i++ {
		for _, coll := range []string{"fresh", "before"} {
			growers.Go(func() {
				if _, err := assignRetry(ledger, survivorAddrs[i%2:], url.Values{"collection": {coll}}, assignBound); err != nil {
					growErrs <- fmt.Errorf("assign in %s after the failover: %w", coll, err)
				}
			})
		}
	}
	growers.Wait()
	close(growErrs)
	for err := range growErrs {
		t.Error(err)
	}

	during.Wait()
	attemptsMu.Lock()
	var failedDuring, okDuring int
	var firstOK time.Time
	for _, a := range attempts {
		if a.err != nil {
			failedDuring++
			continue
		}
		okDuring++
		if a.start.After(killedAt) && firstOK.IsZero() {
			firstOK = a.end
		}
	}
	attemptsMu.Unlock()
	if okDuring < 100 {
		t.Fatalf("only %d of 100 assigns during the failover succeeded (%d failed attempts)", okDuring, failedDuring)
	}
	assignsIn := firstOK.Sub(killedAt)
	t.Logf("MEASURED assigns through survivors succeed again %v after the kill (required: within 10s); %d failed attempts were retried",
		assignsIn.Round(time.Millisecond), failedDuring)
	if assignsIn > assignBound {
		t.Errorf("assigns failed for %v after the kill", assignsIn)
	}

	// Volume servers follow the new leader.
	listedAt, ok := <-nodesListed
	if !ok {
		t.Fatalf("new leader %s did not list both volume servers within %v", newLeader.Addr(), settleBound)
	}
	t.Logf("MEASURED new leader lists both volume servers %v after it was seen leading, %v after the kill (pulse 1s)",
		listedAt.Sub(seenLeading).Round(time.Millisecond), listedAt.Sub(killedAt).Round(time.Millisecond))

	// After: 150 assigns through the survivors in turn.
	for i := 0; i < 150; i++ {
		if _, err := assignRetry(ledger, []string{survivorAddrs[i%2]}, nil, assignBound); err != nil {
			t.Fatalf("assign %d after the failover: %v", i, err)
		}
	}
	// Submit and read back through a survivor; files written before the kill
	// read back through the survivors' redirects.
	follower := followersOf(newLeader, survivors)[0]
	data := []byte("written after the failover")
	s, err := testcluster.Submit(follower.Addr(), "after.txt", data, "")
	if err != nil {
		t.Fatalf("submit after the failover: %v", err)
	}
	if err := ledger.add(s.Fid, 1, follower.Addr()+" /submit"); err != nil {
		t.Fatal(err)
	}
	files = append(files, storedFile{Fid: s.Fid, Data: data})
	for _, f := range files {
		for _, m := range survivors {
			if err := readThroughMaster(m.Addr(), f.Fid, f.Data); err != nil {
				t.Errorf("after the failover: %v", err)
			}
		}
	}

	stopBackground()
	readers.Wait()
	t.Logf("MEASURED direct reads during the failover: %d ok, %d failed", reads.ok.Load(), reads.failed.Load())
	if reads.failed.Load() > 0 {
		t.Errorf("%d reads from volume servers failed during the failover: %v", reads.failed.Load(), reads.firstErrs)
	}
	if reads.ok.Load() == 0 {
		t.Error("the reader made no successful read")
	}
	t.Logf("MEASURED lookups of volume %d through the survivors during the failover: %d complete, %d unavailable (5xx or no answer), %d wrongly not found, %d with too few locations",
		probeVid, probes.ok, probes.unavailable, probes.notFound, probes.partial)
	if probes.notFound > 0 || probes.partial > 0 {
		t.Errorf("lookups of an existing volume answered not found %d times, with too few locations %d times: %v",
			probes.notFound, probes.partial, probes.firstErrs)
	}
	t.Logf("MEASURED direct writes during the failover: %d ok, %d failed", len(writes.written), writes.failed)
	if writes.failed > 0 {
		t.Errorf("%d writes to volume servers failed during the failover: %v", writes.failed, writes.firstErrs)
	}
	for _, f := range writes.written {
		for _, v := range addrs(vs...) {
			if err := readFile(v, f.Fid, f.Data); err != nil {
				t.Errorf("written during the failover: %v", err)
			}
		}
	}

	// One growth's worth on the fresh collection; none more on the others.
	post, err := getVolStatus(newLeader.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fresh := post.collectionVolumes("fresh")
	t.Logf("after the failover: volumes %v (default) %v (before) %v (fresh)", post.collectionVolumes(""), post.collectionVolumes("before"), fresh)
	if len(fresh) != growthOf001 {
		t.Errorf("fresh collection has %d volumes %v after concurrent assigns, want one growth of %d", len(fresh), fresh, growthOf001)
	}
	for _, id := range fresh {
		if id <= maxVidBefore {
			t.Errorf("volume %d grown after the failover is not above %d, the highest id before", id, maxVidBefore)
		}
	}
	if got := post.collectionVolumes("before"); !slices.Equal(got, beforeVols) {
		t.Errorf("collection before has volumes %v after the failover, had %v: grown again", got, beforeVols)
	}
	if got := post.collectionVolumes(""); !slices.Equal(got, defaultVols) {
		t.Errorf("default collection has volumes %v after the failover, had %v: grown again", got, defaultVols)
	}
	for id, recs := range post.records() {
		if len(recs) != 2 {
			t.Errorf("volume %d has %d replicas, want 2: %+v", id, len(recs), recs)
		}
	}

	// The old leader restarts from its -mdir and rejoins as a follower.
	leader.Start()
	rejoinedLeader, _ := waitLeaderAmong(t, ms, settleBound)
	t.Logf("old leader %s restarted; the group's leader is %s", leader.Addr(), rejoinedLeader.Addr())
	if rejoinedLeader == leader {
		// Allowed by Raft only after another election; say so, it is not
		// what a clean rejoin looks like.
		t.Logf("note: the restarted master won a later election")
	}
	checkAgreement(t, ms, rejoinedLeader, all3)
	if _, err := assignRetry(ledger, []string{leader.Addr()}, nil, assignBound); err != nil {
		t.Errorf("assign through the restarted master: %v", err)
	}

	// A fourth master started with the longer -peers list joins.
	port := testcluster.FreePort(t)
	all4 := append(slices.Clone(all3), fmt.Sprintf("127.0.0.1:%d", port))
	m4 := c.StartMaster(testcluster.MasterOptions{Port: port, Peers: all4, DefaultReplication: "001"})
	ms4 := append(slices.Clone(ms), m4)
	leader4, _ := waitLeaderAmong(t, ms4, settleBound)
	checkAgreement(t, ms4, leader4, all4)
	a4, err := assignRetry(ledger, []string{m4.Addr()}, nil, assignBound)
	if err != nil {
		t.Fatalf("assign through the fourth master: %v", err)
	}
	t.Logf("fourth master %s forwarded an assign: %s", m4.Addr(), a4.Fid)

	ledger.check(t)
	t.Logf("%d assigns checked, highest key %d", ledger.assigns(), ledger.highest())
	seen := watch.finish(t)
	for id := range post.records() {
		if _, ok := seen[id]; !ok {
			t.Errorf("volume %d was never seen by the /vol/status watch", id)
		}
	}
}

// readThroughMaster GETs /fid from master, expects a 301 to a volume server
// and reads the file there.
func readThroughMaster(master, fid string, want []byte) error {
	r, err := testcluster.ReadDirect(master, fid)
	if err != nil {
		return err
	}
	if r.Status != http.StatusMovedPermanently {
		return fmt.Errorf("GET /%s through %s: status %d, want 301", fid, master, r.Status)
	}
	loc, err := url.Parse(r.Header.Get("Location"))
	if err != nil {
		return fmt.Errorf("GET /%s through %s: bad Location: %w", fid, master, err)
	}
	if _, err := needle.ParseFileID(strings.TrimPrefix(loc.Path, "/")); err != nil {
		return fmt.Errorf("GET /%s through %s: Location %s names no fid: %w", fid, master, loc, err)
	}
	return readFile(loc.Host, fid, want)
}
