package raftnode

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/hashicorp/raft"

	"github.com/weedfs/weed/needle"
)

// testLeaseSize is small so that the tests cross many lease boundaries.
const testLeaseSize = 500

var glogToStderr sync.Once

// testMaster is one master of an in-process group. On a network group
// (newTestMasters) it is a Node on the bolt stores behind a real HTTP
// server on 127.0.0.1; on an in-memory group (newInmemMasters) it is a Node
// on raft's in-memory stores and transport, with no socket at all. Either
// can be stopped abruptly and restarted from its state (directory or
// in-memory stores) on the same address.
type testMaster struct {
	t     *testing.T
	addr  string
	dir   string
	peers []string

	node *Node
	srv  *http.Server
	// leaseCommitted, when set, becomes the node's hook of that name.
	leaseCommitted func(end uint64)
	// statusProbes counts the /cluster/status requests it answered.
	statusProbes atomic.Int64

	// On an in-memory group: the group, the stores (kept across
	// restarts, as a disk is) and the running node's transport.
	group *inmemGroup
	store *raft.InmemStore
	snaps *raft.InmemSnapshotStore
	trans *raft.InmemTransport
}

// inmemGroup connects the in-memory transports of its running members.
type inmemGroup struct {
	mu      sync.Mutex
	members []*testMaster
}

// noHTTP is the HTTP client of in-memory masters: every /cluster/status
// probe fails at once, as if no peer answered, so a fresh group bootstraps
// from its -peers list.
var noHTTP = &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
	return nil, errors.New("in-memory test group: no HTTP")
})}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// newInmemMasters returns n masters of an in-memory group, none started.
func newInmemMasters(t *testing.T, n int) []*testMaster {
	t.Helper()
	glogToStderr.Do(func() { _ = flag.Set("logtostderr", "true") })
	g := &inmemGroup{}
	var peers []string
	for i := range n {
		m := &testMaster{t: t, addr: fmt.Sprintf("master%d:9333", i), group: g,
			store: raft.NewInmemStore(), snaps: raft.NewInmemSnapshotStore()}
		g.members = append(g.members, m)
		peers = append(peers, m.addr)
	}
	for _, m := range g.members {
		m.peers = peers
		t.Cleanup(m.stop)
	}
	return g.members
}

// connect wires trans, m's new transport, to the running members both ways.
func (g *inmemGroup) connect(m *testMaster, trans *raft.InmemTransport) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, o := range g.members {
		if o != m && o.trans != nil {
			trans.Connect(raft.ServerAddress(o.addr), o.trans)
			o.trans.Connect(raft.ServerAddress(m.addr), trans)
		}
	}
	m.trans = trans
}

// disconnect cuts m off from the running members.
func (g *inmemGroup) disconnect(m *testMaster) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, o := range g.members {
		if o != m && o.trans != nil {
			o.trans.Disconnect(raft.ServerAddress(m.addr))
		}
	}
	m.trans = nil
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
	if m.group != nil {
		m.startInmem()
		return
	}
	node, err := openBoltNode(Config{Self: m.addr, Peers: m.peers, LeaseSize: testLeaseSize}, m.dir)
	if err != nil {
		m.t.Fatalf("New(%s): %v", m.addr, err)
	}
	node.leaseCommitted = m.leaseCommitted
	ln := m.listen()
	router := mux.NewRouter()
	node.Register(router)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == StatusPath {
			m.statusProbes.Add(1)
		}
		router.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	m.node, m.srv = node, srv
	if err := node.Start(); err != nil {
		m.t.Fatalf("Start(%s): %v", m.addr, err)
	}
}

// startInmem starts the node on its in-memory stores and a new transport.
func (m *testMaster) startInmem() {
	m.t.Helper()
	_, trans := raft.NewInmemTransport(raft.ServerAddress(m.addr))
	m.group.connect(m, trans)
	node, err := New(Config{Self: m.addr, Peers: m.peers, LeaseSize: testLeaseSize, HTTPClient: noHTTP},
		Stores{Log: m.store, Stable: m.store, Snapshots: m.snaps, Transport: trans})
	if err != nil {
		m.t.Fatalf("New(%s): %v", m.addr, err)
	}
	node.leaseCommitted = m.leaseCommitted
	m.node = node
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
	if m.group != nil {
		m.group.disconnect(m)
	} else {
		_ = m.srv.Close()
	}
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

// poll reports whether cond holds within d, checking it every 10 ms. Safe
// to call from any goroutine.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// eventually fails the test unless cond holds within d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(d, cond) {
		t.Fatalf("timed out after %v waiting for %s", d, what)
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
	eventually(t, 20*time.Second, "a leader all running masters agree on", func() bool {
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
	var l *testMaster
	poll(d, func() bool {
		l = agreedLeader(ms)
		return l != nil
	})
	return l
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

// openBoltNode builds a Node on the production stores under dir.
func openBoltNode(cfg Config, dir string) (*Node, error) {
	stores, err := OpenBolt(dir, cfg.Self)
	if err != nil {
		return nil, err
	}
	return New(cfg, stores)
}

// raftObservations records what raft's observer reports of one node:
// whether it lost its leader (its election timer ran out) and whether it
// became a candidate.
type raftObservations struct {
	mu                 sync.Mutex
	lostLdr, candidate bool
}

// observe registers a raft observer on m's running node until the test ends.
func observe(t *testing.T, m *testMaster) *raftObservations {
	t.Helper()
	o := &raftObservations{}
	ch := make(chan raft.Observation, 64)
	r := m.node.r.Load()
	obs := raft.NewObserver(ch, false, nil)
	r.RegisterObserver(obs)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ob := range ch {
			o.mu.Lock()
			switch d := ob.Data.(type) {
			case raft.LeaderObservation:
				if d.LeaderAddr == "" {
					o.lostLdr = true
				}
			case raft.RaftState:
				if d == raft.Candidate {
					o.candidate = true
				}
			}
			o.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		r.DeregisterObserver(obs)
		close(ch)
		<-done
	})
	return o
}

func (o *raftObservations) lostLeader() bool { o.mu.Lock(); defer o.mu.Unlock(); return o.lostLdr }

func (o *raftObservations) campaigned() bool { o.mu.Lock(); defer o.mu.Unlock(); return o.candidate }

// reset forgets what was observed so far.
func (o *raftObservations) reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lostLdr, o.candidate = false, false
}
