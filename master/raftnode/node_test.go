package raftnode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/hashicorp/raft"

	"github.com/weedfs/weed/needle"
)

func TestRaftClusterFailover(t *testing.T) {
	ms := newTestMasters(t, 3)
	ctx := context.Background()

	// As in the walk-through: masters started one after another. The first
	// two form the group; the third finds their leader and joins.
	ms[0].start()
	ms[1].start()
	waitLeader(t, ms[:2])
	ms[2].start()
	eventually(t, 15*time.Second, "all three to agree and the leader to report its peers", func() bool {
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
	eventually(t, 15*time.Second, "the restarted master to follow and catch up", func() bool {
		l := agreedLeader(ms)
		return l != nil && l != old && old.node.fsm.FileKeyMark() >= l.node.fsm.FileKeyMark() &&
			old.node.fsm.MaxVolumeID() == l.node.fsm.MaxVolumeID()
	})
}

func TestRaftClusterRestartAll(t *testing.T) {
	ms := newInmemMasters(t, 3)
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
	eventually(t, 15*time.Second, "the fourth master to become a voter", func() bool {
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
	eventually(t, 15*time.Second, "a join through a follower to be forwarded", func() bool {
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
	eventually(t, 10*time.Second, "the first master to bootstrap", func() bool {
		return len(ms[0].node.members()) == 3
	})
	fourth := ms[3]
	fourth.start()
	// Leave the fourth master several probe rounds in which it could
	// wrongly bootstrap: each one asks the first master for its status.
	eventually(t, 20*time.Second, "the fourth master to probe the group several times", func() bool {
		return ms[0].statusProbes.Load() >= leaderlessProbes+2
	})
	if m := fourth.node.members(); m != nil {
		t.Fatalf("fourth master bootstrapped %v beside a leaderless group", m)
	}
	ms[1].start()
	eventually(t, 20*time.Second, "the fourth master to join the elected group", func() bool {
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
	ms := newInmemMasters(t, 1)
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
	ms := newInmemMasters(t, 3)
	for _, m := range ms {
		m.start()
	}
	leader := waitLeader(t, ms)
	observed := make(map[*testMaster]*raftObservations)
	for _, m := range ms {
		observed[m] = observe(t, m)
	}
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
	eventually(t, 10*time.Second, "the removed follower to learn it left", func() bool {
		return !slices.Contains(leader.node.members(), gone.addr) && !slices.Contains(gone.node.members(), gone.addr)
	})
	observed[gone].reset()
	// Its election timer runs out (it forgets the leader), yet it does not
	// stand for election: it is not in the configuration.
	issueKeys(t, rest, &keys, 2, 50)
	eventually(t, 10*time.Second, "the removed follower's election timer to run out", func() bool {
		return observed[gone].lostLeader()
	})
	issueKeys(t, rest, &keys, 2, 50)
	if observed[gone].campaigned() {
		t.Fatalf("the removed master %s stood for election", gone.addr)
	}
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
