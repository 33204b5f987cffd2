package raftnode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/hashicorp/raft"

	"github.com/weedfs/weed/needle"
)

// testLeaseSize is small so that the tests cross many lease boundaries.
const testLeaseSize = 500

var glogToStderr sync.Once

// testMaster is one master of an in-process group: a Node behind a real
// HTTP server on 127.0.0.1. It can be stopped abruptly and restarted from
// its directory on the same address.
type testMaster struct {
	t     *testing.T
	addr  string
	dir   string
	peers []string

	node *Node
	srv  *http.Server
	// leaseCommitted, when set, becomes the node's hook of that name.
	leaseCommitted func(end uint64)
}

// newTestMasters picks n free ports and directories. Each master's peers
// are all n addresses; none is started. The ports are not held meanwhile,
// so that peers of a master not started yet get "connection refused", as
// they would in real life.
func newTestMasters(t *testing.T, n int) []*testMaster {
	t.Helper()
	glogToStderr.Do(func() { _ = flag.Set("logtostderr", "true") })
	ms := make([]*testMaster, n)
	var peers []string
	for i := range ms {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = &testMaster{t: t, addr: ln.Addr().String(), dir: t.TempDir()}
		peers = append(peers, ms[i].addr)
		_ = ln.Close()
	}
	for _, m := range ms {
		m.peers = peers
		t.Cleanup(m.stop)
	}
	return ms
}

// start serves the node's handlers and starts Raft, resuming from the
// directory if a previous incarnation left state there.
func (m *testMaster) start() {
	m.t.Helper()
	node, err := openBoltNode(Config{Self: m.addr, Peers: m.peers, LeaseSize: testLeaseSize}, m.dir)
	if err != nil {
		m.t.Fatalf("New(%s): %v", m.addr, err)
	}
	node.leaseCommitted = m.leaseCommitted
	ln := m.listen()
	router := mux.NewRouter()
	node.Register(router)
	srv := &http.Server{Handler: router}
	go func() { _ = srv.Serve(ln) }()
	m.node, m.srv = node, srv
	if err := node.Start(); err != nil {
		m.t.Fatalf("Start(%s): %v", m.addr, err)
	}
}

// listen binds the master's address (again, after a stop).
func (m *testMaster) listen() net.Listener {
	m.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", m.addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("rebind %s: %v", m.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop kills the master abruptly: its HTTP server and every Raft
// connection close at once, as when the process dies.
func (m *testMaster) stop() {
	if m.node == nil {
		return
	}
	_ = m.srv.Close()
	if err := m.node.Shutdown(); err != nil {
		m.t.Errorf("Shutdown(%s): %v", m.addr, err)
	}
	m.node, m.srv = nil, nil
}

func runningMasters(ms []*testMaster) []*testMaster {
	var r []*testMaster
	for _, m := range ms {
		if m.node != nil {
			r = append(r, m)
		}
	}
	return r
}

// waitRaft polls cond until it holds or the deadline passes.
func waitRaft(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// agreedLeader returns the running master that leads, if exactly one does
// and every running master names it as leader.
func agreedLeader(ms []*testMaster) *testMaster {
	var leader *testMaster
	for _, m := range runningMasters(ms) {
		if m.node.IsLeader() {
			if leader != nil {
				return nil
			}
			leader = m
		}
	}
	if leader == nil {
		return nil
	}
	for _, m := range runningMasters(ms) {
		if m.node.Leader() != leader.addr {
			return nil
		}
	}
	return leader
}

func waitLeader(t *testing.T, ms []*testMaster) *testMaster {
	t.Helper()
	var leader *testMaster
	waitRaft(t, 20*time.Second, "a leader all running masters agree on", func() bool {
		leader = agreedLeader(ms)
		return leader != nil
	})
	return leader
}

// keyRange is [first, first+count) as handed out by NextFileKeys.
type keyRange struct{ first, count uint64 }

// keyLog records every key range issued and checks none overlaps.
type keyLog struct {
	mu     sync.Mutex
	ranges []keyRange
}

func (l *keyLog) add(k needle.Key, count uint64) {
	l.mu.Lock()
	l.ranges = append(l.ranges, keyRange{uint64(k), count})
	l.mu.Unlock()
}

// has reports whether key k was issued.
func (l *keyLog) has(k needle.Key) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.ranges, func(r keyRange) bool {
		return uint64(k) >= r.first && uint64(k)-r.first < r.count
	})
}

// end returns one past the highest key issued.
func (l *keyLog) end() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var e uint64
	for _, r := range l.ranges {
		e = max(e, r.first+r.count)
	}
	return e
}

func (l *keyLog) checkDisjoint(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	rs := slices.Clone(l.ranges)
	l.mu.Unlock()
	sort.Slice(rs, func(i, j int) bool { return rs[i].first < rs[j].first })
	for i, r := range rs {
		if r.first == 0 {
			t.Fatalf("key 0 issued")
		}
		if i > 0 && rs[i-1].first+rs[i-1].count > r.first {
			t.Fatalf("key ranges overlap: %+v and %+v", rs[i-1], r)
		}
	}
}

// leaderWithin polls for a leader all running masters agree on; nil when
// none appears in d. Safe to call from any goroutine.
func leaderWithin(ms []*testMaster, d time.Duration) *testMaster {
	deadline := time.Now().Add(d)
	for {
		if l := agreedLeader(ms); l != nil {
			return l
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// onLeader runs op on the leader. On a loaded machine Raft may re-elect at
// any time; when op fails with ErrNotLeader it is retried on the new leader.
// It returns the master op succeeded on, or the last error.
func onLeader(ms []*testMaster, op func(m *testMaster) error) (*testMaster, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := leaderWithin(ms, time.Until(deadline))
		if m == nil {
			return nil, errors.New("no leader")
		}
		err := op(m)
		if err == nil || !errors.Is(err, ErrNotLeader) || time.Now().After(deadline) {
			return m, err
		}
	}
}

// mustOnLeader is onLeader failing the test on error.
func mustOnLeader(t *testing.T, ms []*testMaster, op func(m *testMaster) error) *testMaster {
	t.Helper()
	m, err := onLeader(ms, op)
	if err != nil {
		t.Fatalf("on leader: %v", err)
	}
	return m
}

// issueKeys takes keys from the leader concurrently and records them.
func issueKeys(t *testing.T, ms []*testMaster, log *keyLog, workers, perWorker int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				count := uint64(1 + (w+i)%4)
				_, err := onLeader(ms, func(m *testMaster) error {
					k, err := m.node.NextFileKeys(ctx, count)
					if err == nil {
						log.add(k, count)
					}
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("NextFileKeys: %v", err)
	}
}

// nextVolumeID takes a volume id from the leader.
func nextVolumeID(t *testing.T, ms []*testMaster) needle.VolumeID {
	t.Helper()
	var vid needle.VolumeID
	mustOnLeader(t, ms, func(m *testMaster) (err error) {
		vid, err = m.node.NextVolumeID(context.Background())
		return err
	})
	return vid
}

func TestRaftClusterFailover(t *testing.T) {
	ms := newTestMasters(t, 3)
	ctx := context.Background()

	// As in the walk-through: masters started one after another. The first
	// two form the group; the third finds their leader and joins.
	ms[0].start()
	ms[1].start()
	waitLeader(t, ms[:2])
	ms[2].start()
	waitRaft(t, 15*time.Second, "all three to agree and the leader to report its peers", func() bool {
		l := agreedLeader(ms)
		if l == nil {
			return false
		}
		st := l.node.ClusterStatus()
		want := slices.DeleteFunc(slices.Clone(l.peers), func(p string) bool { return p == l.addr })
		return st.IsLeader && st.Leader == l.addr && slices.Equal(sortedPeers(st.Peers), sortedPeers(want)) &&
			!l.node.LeaderSince().IsZero()
	})
	for _, m := range runningMasters(ms) {
		_, errKey := m.node.NextFileKeys(ctx, 1)
		_, errVID := m.node.NextVolumeID(ctx)
		errObs := m.node.ObserveFileKey(ctx, 1<<40)
		if m.node.IsLeader() {
			continue
		}
		for _, err := range []error{errKey, errVID, errObs} {
			if !errors.Is(err, ErrNotLeader) {
				t.Errorf("follower %s answered %v, want ErrNotLeader", m.addr, err)
			}
		}
		if !m.node.LeaderSince().IsZero() || m.node.ClusterStatus().IsLeader {
			t.Errorf("follower %s claims leadership", m.addr)
		}
	}

	var keys keyLog
	issueKeys(t, ms, &keys, 8, 150)
	mustOnLeader(t, ms, func(m *testMaster) error {
		k, err := m.node.NextFileKeys(ctx, 3*testLeaseSize)
		if err == nil {
			keys.add(k, 3*testLeaseSize)
		}
		return err
	})
	var lastVID needle.VolumeID
	for range 3 {
		vid := nextVolumeID(t, ms)
		if vid <= lastVID {
			t.Fatalf("NextVolumeID %d after %d", vid, lastVID)
		}
		lastVID = vid
	}
	keys.checkDisjoint(t)
	endBefore := keys.end()

	// Kill the leader; the two others elect a new one.
	old := waitLeader(t, ms)
	old.stop()
	stopped := time.Now()
	leader := waitLeader(t, ms)
	t.Logf("new leader %s elected %v after leader %s was killed", leader.addr, time.Since(stopped).Round(time.Millisecond), old.addr)

	var after keyLog
	issueKeys(t, ms, &after, 4, 100)
	for _, r := range after.ranges {
		if r.first < endBefore {
			t.Fatalf("key %d issued after the change is below the %d keys issued before", r.first, endBefore)
		}
		keys.add(needle.Key(r.first), r.count)
	}
	keys.checkDisjoint(t)
	if vid := nextVolumeID(t, ms); vid <= lastVID {
		t.Fatalf("NextVolumeID after failover = %d, want above %d", vid, lastVID)
	}

	// The old leader comes back from its directory and follows.
	old.start()
	waitRaft(t, 15*time.Second, "the restarted master to follow and catch up", func() bool {
		l := agreedLeader(ms)
		return l != nil && l != old && old.node.fsm.FileKeyMark() >= l.node.fsm.FileKeyMark() &&
			old.node.fsm.MaxVolumeID() == l.node.fsm.MaxVolumeID()
	})
}

func TestRaftClusterRestartAll(t *testing.T) {
	ms := newTestMasters(t, 3)
	ctx := context.Background()
	for _, m := range ms {
		m.start()
	}
	waitLeader(t, ms)

	var keys keyLog
	issueKeys(t, ms, &keys, 4, 100)
	var lastVID needle.VolumeID
	for range 2 {
		lastVID = nextVolumeID(t, ms)
	}
	const observedVID, observedKey = 50, 1_000_000
	mustOnLeader(t, ms, func(m *testMaster) error {
		if err := m.node.ObserveVolumeID(ctx, observedVID); err != nil {
			return err
		}
		return m.node.ObserveFileKey(ctx, observedKey)
	})
	// One member recovers from a snapshot plus log, the others from the log.
	mustOnLeader(t, ms, func(m *testMaster) error {
		return m.node.r.Load().Snapshot().Error()
	})
	issueKeys(t, ms, &keys, 1, 10)
	endBefore := keys.end()

	for _, m := range ms {
		m.stop()
	}
	for _, m := range ms {
		m.start()
	}
	var k needle.Key
	mustOnLeader(t, ms, func(m *testMaster) (err error) {
		k, err = m.node.NextFileKeys(ctx, 1)
		return err
	})
	if uint64(k) < endBefore || uint64(k) <= observedKey {
		t.Fatalf("first key after restart %d; want at least %d and above observed %d", k, endBefore, observedKey)
	}
	if vid := nextVolumeID(t, ms); vid <= observedVID || vid <= lastVID {
		t.Fatalf("first volume id after restart %d; want above %d", vid, max(observedVID, lastVID))
	}
}

func TestRaftClusterGrow(t *testing.T) {
	ms := newTestMasters(t, 4)
	three := ms[:3]
	for _, m := range three {
		m.peers = m.peers[:3]
		m.start()
	}
	leader := waitLeader(t, three)

	// The fourth master is started with the longer list and joins.
	fourth := ms[3]
	fourth.start()
	waitRaft(t, 15*time.Second, "the fourth master to become a voter", func() bool {
		leader = agreedLeader(ms)
		return leader != nil && len(leader.node.Peers()) == 3 && len(fourth.node.Peers()) == 3
	})
	f := leader.node.r.Load().GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	voters := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	if voters != 4 {
		t.Fatalf("configuration %+v has %d voters, want 4", f.Configuration().Servers, voters)
	}

	// A join sent to a follower is forwarded to the leader.
	var follower *testMaster
	for _, m := range three {
		if m != leader {
			follower = m
			break
		}
	}
	var resp *http.Response
	var body []byte
	waitRaft(t, 15*time.Second, "a join through a follower to be forwarded", func() bool {
		resp, body = postClusterJSON(t, "http://"+follower.addr+JoinPath, JoinRequest{Name: fourth.addr})
		var reply JoinReply
		l := agreedLeader(ms)
		return resp.StatusCode == http.StatusOK && json.Unmarshal(body, &reply) == nil && l != nil && reply.Leader == l.addr
	})
	resp, body = postClusterJSON(t, "http://"+leader.addr+JoinPath, JoinRequest{Name: "no port"})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad join name: %d %s", resp.StatusCode, body)
	}
}

// TestRaftJoinWaitsForExistingGroup starts a fourth master while the group
// of three it should join has no leader: it must not bootstrap a group of
// its own, and joins once the group elects.
func TestRaftJoinWaitsForExistingGroup(t *testing.T) {
	ms := newTestMasters(t, 4)
	for _, m := range ms[:3] {
		m.peers = m.peers[:3]
	}
	ms[0].start() // alone: bootstraps the three-member group, cannot elect
	waitRaft(t, 10*time.Second, "the first master to bootstrap", func() bool {
		return len(ms[0].node.members()) == 3
	})
	fourth := ms[3]
	fourth.start()
	// Leave the fourth master several probe rounds in which it could
	// wrongly bootstrap.
	time.Sleep(2 * time.Second)
	if m := fourth.node.members(); m != nil {
		t.Fatalf("fourth master bootstrapped %v beside a leaderless group", m)
	}
	ms[1].start()
	waitRaft(t, 20*time.Second, "the fourth master to join the elected group", func() bool {
		l := agreedLeader(ms)
		return l != nil && len(l.node.members()) == 4 && fourth.node.Leader() == l.addr
	})
}

func TestRaftSingleNode(t *testing.T) {
	ms := newTestMasters(t, 1)
	m := ms[0]
	m.peers = nil
	ctx := context.Background()
	m.start()
	waitLeader(t, ms)

	resp, err := http.Get("http://" + m.addr + StatusPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `{"IsLeader":true,"Leader":"` + m.addr + `","Peers":[]}`
	if strings.TrimSpace(string(body)) != want {
		t.Fatalf("/cluster/status = %s, want %s", body, want)
	}

	k, err := m.node.NextFileKeys(ctx, 1)
	if err != nil || k != 1 {
		t.Fatalf("first key %d, %v; want 1", k, err)
	}
	// Keys inside the lease cost no Raft entry.
	r := m.node.r.Load()
	before := r.LastIndex()
	var keys keyLog
	keys.add(k, 1)
	for range testLeaseSize - 1 {
		k, err := m.node.NextFileKeys(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		keys.add(k, 1)
	}
	if after := r.LastIndex(); after != before {
		t.Fatalf("%d keys from the lease appended %d raft entries", testLeaseSize-1, after-before)
	}
	// An observed key inside the lease is skipped without Raft, one beyond
	// the mark raises it.
	k, _ = m.node.NextFileKeys(ctx, 1)
	keys.add(k, 1)
	if err := m.node.ObserveFileKey(ctx, k+3); err != nil {
		t.Fatal(err)
	}
	if next, _ := m.node.NextFileKeys(ctx, 1); next <= k+3 {
		t.Fatalf("key %d issued after observing %d", next, k+3)
	}
	if err := m.node.ObserveFileKey(ctx, 5_000_000); err != nil {
		t.Fatal(err)
	}
	if mark := m.node.fsm.FileKeyMark(); mark != 5_000_001 {
		t.Fatalf("mark after observing 5000000 = %d", mark)
	}
	if k, _ := m.node.NextFileKeys(ctx, 2*testLeaseSize); k <= 5_000_000 {
		t.Fatalf("key %d from a new lease is not above the observed key", k)
	}
	keys.checkDisjoint(t)

	if err := m.node.ObserveVolumeID(ctx, 50); err != nil {
		t.Fatal(err)
	}
	if err := m.node.ObserveVolumeID(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if vid, err := m.node.NextVolumeID(ctx); err != nil || vid != 51 {
		t.Fatalf("NextVolumeID = %d, %v; want 51", vid, err)
	}
	if len(m.node.Peers()) != 0 {
		t.Fatalf("single node peers %v", m.node.Peers())
	}

	m.stop()
	m.start()
	waitLeader(t, ms)
	if vid, err := m.node.NextVolumeID(ctx); err != nil || vid != 52 {
		t.Fatalf("NextVolumeID after restart = %d, %v; want 52", vid, err)
	}
	if k, err := m.node.NextFileKeys(ctx, 1); err != nil || k <= 5_000_000+2*testLeaseSize {
		t.Fatalf("first key after restart %d, %v", k, err)
	}
	if err := m.node.Start(); !errors.Is(err, ErrAlreadyStarted) {
		t.Fatalf("second Start = %v, want ErrAlreadyStarted", err)
	}
}

// BenchmarkRaftNextFileKeys measures the assign hot path on a one-node
// group with the default lease size: almost every call is served from the
// in-memory lease.
func BenchmarkRaftNextFileKeys(b *testing.B) {
	dir := b.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	node, err := openBoltNode(Config{Self: addr}, dir)
	if err != nil {
		b.Fatal(err)
	}
	router := mux.NewRouter()
	node.Register(router)
	srv := &http.Server{Handler: router}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		_ = srv.Close()
		_ = node.Shutdown()
	}()
	if err := node.Start(); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !node.IsLeader() {
		if time.Now().After(deadline) {
			b.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := node.NextFileKeys(ctx, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// openBoltNode builds a Node on the production stores under dir.
func openBoltNode(cfg Config, dir string) (*Node, error) {
	stores, err := OpenBolt(dir, cfg.Self)
	if err != nil {
		return nil, err
	}
	return New(cfg, stores)
}

func TestNewRaftNodeRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  Config
		dir  string
	}{
		{"no port", Config{Self: "localhost"}, dir},
		{"self not in peers", Config{Self: "127.0.0.1:1", Peers: []string{"127.0.0.1:2", "127.0.0.1:3"}}, dir},
		{"bad peer", Config{Self: "127.0.0.1:1", Peers: []string{"127.0.0.1:1", "nope"}}, dir},
		{"no dir", Config{Self: "127.0.0.1:1"}, ""},
		{"lease above heartbeat", Config{Self: "127.0.0.1:1", HeartbeatTimeout: time.Second, LeaderLeaseTimeout: 2 * time.Second}, dir},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := openBoltNode(tc.cfg, tc.dir)
			if err == nil {
				_ = n.Shutdown()
				t.Fatalf("New(%+v) succeeded", tc.cfg)
			}
		})
	}
}

func sortedPeers(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func postClusterJSON(t *testing.T, url string, v any) (*http.Response, []byte) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestRaftObserveFileKeyDuringRefill observes the last key of a lease in
// the window where the refill has committed the lease's mark but not yet
// installed the lease: that key must still never be handed out.
func TestRaftObserveFileKeyDuringRefill(t *testing.T) {
	ms := newTestMasters(t, 1)
	m := ms[0]
	m.peers = nil
	ctx := context.Background()
	type observation struct {
		key needle.Key
		err error
	}
	var (
		once     sync.Once
		observed = make(chan observation, 1)
	)
	// The first refill runs when the node becomes leader, or at the first
	// NextFileKeys.
	m.leaseCommitted = func(end uint64) {
		once.Do(func() {
			k := needle.Key(end - 1)
			done := make(chan struct{})
			go func() {
				err := m.node.ObserveFileKey(ctx, k)
				observed <- observation{k, err}
				close(done)
			}()
			// Give the observation the window; a correct one waits for
			// the refill instead of returning in it.
			select {
			case <-done:
			case <-time.After(200 * time.Millisecond):
			}
		})
	}
	m.start()
	waitLeader(t, ms)

	var keys keyLog
	k, err := m.node.NextFileKeys(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	keys.add(k, 1)
	o := <-observed
	if o.err != nil {
		t.Fatalf("ObserveFileKey(%d): %v", o.key, o.err)
	}
	for range 2 * testLeaseSize {
		k, err := m.node.NextFileKeys(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		keys.add(k, 1)
	}
	if keys.has(o.key) {
		t.Fatalf("key %d was observed during the refill of its lease and still handed out", o.key)
	}
	keys.checkDisjoint(t)
}

// TestRaftRemoveMember retires masters from a group of three: a follower,
// then the leader itself. The group keeps electing and issuing keys above
// every key issued before, a removed master that still runs leaves Raft
// instead of disturbing the group, and the last member cannot be removed.
func TestRaftRemoveMember(t *testing.T) {
	ms := newTestMasters(t, 3)
	for _, m := range ms {
		m.start()
	}
	leader := waitLeader(t, ms)
	var keys keyLog
	issueKeys(t, ms, &keys, 2, 50)

	for _, m := range ms {
		if m != leader {
			if err := m.node.RemoveMember(leader.addr); !errors.Is(err, ErrNotLeader) {
				t.Fatalf("RemoveMember on follower %s = %v, want ErrNotLeader", m.addr, err)
			}
			break
		}
	}
	mustOnLeader(t, ms, func(m *testMaster) error {
		if err := m.node.RemoveMember("127.0.0.1:1"); !errors.Is(err, ErrNotMember) {
			t.Fatalf("RemoveMember(unknown) = %v, want ErrNotMember", err)
		}
		return nil
	})

	// A follower goes while it still runs.
	var gone *testMaster
	leader = mustOnLeader(t, ms, func(m *testMaster) error {
		for _, f := range ms {
			if f != m {
				gone = f
				break
			}
		}
		return m.node.RemoveMember(gone.addr)
	})
	rest := slices.DeleteFunc(slices.Clone(ms), func(m *testMaster) bool { return m == gone })
	waitRaft(t, 10*time.Second, "the removed follower to learn it left", func() bool {
		return !slices.Contains(leader.node.members(), gone.addr) && !slices.Contains(gone.node.members(), gone.addr)
	})
	// Past several election timeouts, it has not stood for election.
	issueKeys(t, rest, &keys, 2, 50)
	time.Sleep(3 * DefaultElectionTimeout)
	issueKeys(t, rest, &keys, 2, 50)
	if l := waitLeader(t, rest); len(l.node.members()) != 2 || gone.node.IsLeader() {
		t.Fatalf("after removing %s: leader %s, members %v, removed one leads: %v", gone.addr, l.addr, l.node.members(), gone.node.IsLeader())
	}
	gone.stop()

	// The leader removes itself; the last member elects itself.
	old := mustOnLeader(t, rest, func(m *testMaster) error { return m.node.RemoveMember(m.addr) })
	old.stop()
	last := slices.DeleteFunc(rest, func(m *testMaster) bool { return m == old })
	l := waitLeader(t, last)
	if got := l.node.members(); !slices.Equal(got, []string{l.addr}) {
		t.Fatalf("members after the leader left: %v, want only %s", got, l.addr)
	}
	endBefore := keys.end()
	k, err := l.node.NextFileKeys(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(k) < endBefore {
		t.Fatalf("key %d after the removals is below the %d issued before", k, endBefore)
	}
	if err := l.node.RemoveMember(l.addr); !errors.Is(err, ErrLastMember) {
		t.Fatalf("removing the last member = %v, want ErrLastMember", err)
	}
}
