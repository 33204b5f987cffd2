package master

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/glog"
	"github.com/gorilla/mux"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/weedfs/weed/needle"
)

// Defaults of RaftConfig (timing does not depend on -pulseSeconds).
//
// A follower checks for a silent leader on a timer drawn from [1, 2) times
// HeartbeatTimeout, so it notices a dead leader 1 to (rarely) 3 s after the
// last contact; the first of the two survivors to notice campaigns, and if
// the other, not having noticed yet, refuses its pre-vote, it retries after
// an election timeout drawn from [1, 2) s. In the in-process tests a new
// leader exists 1.6-2.9 s after the leader is killed, inside the 5 s promised
// with -pulseSeconds=1; only the unluckiest alignment of every timer
// approaches 5 s. A leader that has not heard from a quorum for
// LeaderLeaseTimeout steps down; 1 s (the most raft allows) keeps a busy
// leader from stepping down on a short stall.
const (
	DefaultLeaseSize          = 10000
	DefaultHeartbeatTimeout   = 1000 * time.Millisecond
	DefaultElectionTimeout    = 1000 * time.Millisecond
	DefaultLeaderLeaseTimeout = 1000 * time.Millisecond
	DefaultCommitTimeout      = 50 * time.Millisecond
)

const (
	// raftDBFile holds the Raft log and stable store under RaftConfig.Dir.
	raftDBFile = "raft.db"
	// snapshotsRetained is how many FSM snapshots stay on disk.
	snapshotsRetained = 2
	// transportMaxPool is the number of idle connections kept per peer.
	transportMaxPool = 3
	// transportTimeout is the I/O deadline of one Raft RPC.
	transportTimeout = 10 * time.Second
	// applyTimeout bounds how long a command waits to enter the Raft queue.
	applyTimeout = 5 * time.Second
	// barrierTimeout bounds the wait for the FSM to catch up on a new leader.
	barrierTimeout = 10 * time.Second
	// membershipTimeout bounds one AddVoter on the leader.
	membershipTimeout = 10 * time.Second
	// probeTimeout bounds one /cluster/status or /cluster/join request.
	probeTimeout = 2 * time.Second
	// joinBackoffMin and joinBackoffMax bound the wait between join attempts.
	joinBackoffMin = 200 * time.Millisecond
	joinBackoffMax = 5 * time.Second
	// leaderlessProbes is how many rounds a fresh member keeps asking peers
	// that answer but know no leader (maybe mid-election) before it
	// bootstraps the group from the -peers list.
	leaderlessProbes = 2
	// boltOpenTimeout makes a second master on the same -mdir fail instead
	// of waiting forever for the file lock.
	boltOpenTimeout = 2 * time.Second
)

// ErrAlreadyStarted is returned by a second call to RaftNode.Start.
var ErrAlreadyStarted = errors.New("raft node already started")

// RaftConfig configures a RaftNode. Zero durations and sizes take the
// Default values above.
type RaftConfig struct {
	// Self is this master's HTTP address ("host:port") exactly as written
	// in Peers. It is the Raft server ID and address.
	Self string
	// Peers is the -peers list: the HTTP address of every master, Self
	// included, the same on every member. Empty means a one-node group.
	Peers []string
	// Dir is the -mdir directory: raft.db (log and stable store) and
	// snapshots/ live there.
	Dir string
	// LeaseSize is how many file keys the leader reserves per Raft command.
	LeaseSize uint64

	// HeartbeatTimeout is how long a follower goes without hearing from
	// the leader before it campaigns (randomized up to twice as long).
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits before retrying a
	// failed election (randomized up to twice as long).
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader goes without a quorum before
	// stepping down; at most HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is how long a leader with no new commands waits before
	// telling followers the commit index.
	CommitTimeout time.Duration

	// SnapshotThreshold and SnapshotInterval override raft's defaults
	// (8192 entries, 120 s) when non-zero.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration

	// HTTPClient is used to ask peers for /cluster/status and to send
	// /cluster/join; every request carries its own deadline. nil means
	// http.DefaultClient.
	HTTPClient *http.Client
}

// ClusterStatus is the body of GET /cluster/status.
type ClusterStatus struct {
	// IsLeader reports whether the answering master leads.
	IsLeader bool
	// Leader is the leader's HTTP address, "" while there is none.
	Leader string
	// Peers are the HTTP addresses of the other members.
	Peers []string
}

// keyLease is the block of file keys [next, end) the leader may hand out
// without Raft. It is valid only in the Raft term it was prepared in: a new
// term means a new leadership, which starts again from the replicated mark.
type keyLease struct {
	term      uint64
	next, end uint64
}

// RaftNode is one master's member of the Raft group. It implements
// Sequencer and Leadership. Create it with NewRaftNode, mount its handlers
// with Register, call Start once the HTTP server listens, and Shutdown at
// the end. All methods are safe for concurrent use.
type RaftNode struct {
	self      string
	peers     []string // the -peers list, self included
	leaseSize uint64
	conf      *raft.Config
	client    *http.Client

	fsm    *FSM
	store  *raftboltdb.BoltStore
	logs   raft.LogStore
	snaps  *raft.FileSnapshotStore
	stream *HTTPStreamLayer
	trans  *raft.NetworkTransport

	r atomic.Pointer[raft.Raft]

	leaderSince atomic.Int64 // unix nanoseconds, 0 when not leader

	mu    sync.Mutex // guards lease
	lease keyLease

	// slot serializes the sequencer's Raft commands (capacity 1).
	slot chan struct{}

	// leaseCommitted, when set (by tests), runs in refillLease after the
	// new high-water mark end is committed and before the lease holds it.
	leaseCommitted func(end uint64)

	tickets staleTickets // sync tickets handed out (stale.go)

	started      atomic.Bool
	ctx          context.Context
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	shutdownOnce sync.Once
	shutdownErr  error
}

var (
	_ Sequencer  = (*RaftNode)(nil)
	_ Leadership = (*RaftNode)(nil)
)

// NewRaftNode opens the stores under cfg.Dir and prepares the transport. It
// does not contact anyone; Start does.
func NewRaftNode(cfg RaftConfig) (*RaftNode, error) {
	if _, _, err := net.SplitHostPort(cfg.Self); err != nil {
		return nil, fmt.Errorf("raft self address %q: %w", cfg.Self, err)
	}
	peers, err := normalizePeers(cfg.Self, cfg.Peers)
	if err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		return nil, errors.New("raft: no -mdir directory")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("raft dir: %w", err)
	}
	if cfg.LeaseSize == 0 {
		cfg.LeaseSize = DefaultLeaseSize
	}
	logger := newGlogHclog("raft")

	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(cfg.Self)
	conf.Logger = logger
	conf.HeartbeatTimeout = durationOr(cfg.HeartbeatTimeout, DefaultHeartbeatTimeout)
	conf.ElectionTimeout = durationOr(cfg.ElectionTimeout, DefaultElectionTimeout)
	conf.LeaderLeaseTimeout = durationOr(cfg.LeaderLeaseTimeout, DefaultLeaderLeaseTimeout)
	conf.CommitTimeout = durationOr(cfg.CommitTimeout, DefaultCommitTimeout)
	if cfg.SnapshotThreshold > 0 {
		conf.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.SnapshotInterval > 0 {
		conf.SnapshotInterval = cfg.SnapshotInterval
	}
	if err := raft.ValidateConfig(conf); err != nil {
		return nil, fmt.Errorf("raft config: %w", err)
	}

	client := cfg.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(cfg.Dir, raftDBFile),
		BoltOptions: &bbolt.Options{Timeout: boltOpenTimeout},
	})
	if err != nil {
		return nil, fmt.Errorf("open raft store in %s: %w", cfg.Dir, err)
	}
	logs, err := raft.NewLogCache(512, store)
	if err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("raft log cache: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, snapshotsRetained, logger.Named("snapshot"))
	if err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("raft snapshot store in %s: %w", cfg.Dir, err)
	}
	stream := NewHTTPStreamLayer(cfg.Self)
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: transportMaxPool,
		Timeout: transportTimeout,
		Logger:  logger.Named("net"),
	})
	ctx, cancel := context.WithCancel(context.Background())
	return &RaftNode{
		self:      cfg.Self,
		peers:     peers,
		leaseSize: cfg.LeaseSize,
		conf:      conf,
		client:    client,
		fsm:       NewFSM(),
		store:     store,
		logs:      logs,
		snaps:     snaps,
		stream:    stream,
		trans:     trans,
		slot:      make(chan struct{}, 1),
		ctx:       ctx,
		cancel:    cancel,
	}, nil
}

// normalizePeers trims and deduplicates the -peers list and checks that it
// names self. An empty list becomes just self.
func normalizePeers(self string, list []string) ([]string, error) {
	var peers []string
	for _, p := range list {
		p = strings.TrimSpace(p)
		if p == "" || slices.Contains(peers, p) {
			continue
		}
		if _, _, err := net.SplitHostPort(p); err != nil {
			return nil, fmt.Errorf("raft peer %q: %w", p, err)
		}
		peers = append(peers, p)
	}
	if len(peers) == 0 {
		return []string{self}, nil
	}
	if !slices.Contains(peers, self) {
		return nil, fmt.Errorf("raft: -peers %v does not name this master %s", peers, self)
	}
	return peers, nil
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Start starts Raft; call it once, when the HTTP server serving Register's
// handlers is listening. With state in Dir the node simply resumes. Without
// state it bootstraps a one-node group if there are no other peers;
// otherwise, in the background, it asks the peers for a leader and joins
// through it, or bootstraps the group from the -peers list when no peer
// knows a leader.
func (n *RaftNode) Start() error {
	if !n.started.CompareAndSwap(false, true) {
		return ErrAlreadyStarted
	}
	hasState, err := raft.HasExistingState(n.logs, n.store, n.snaps)
	if err != nil {
		return fmt.Errorf("raft state in -mdir: %w", err)
	}
	r, err := raft.NewRaft(n.conf, n.fsm, n.logs, n.store, n.snaps, n.trans)
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	n.r.Store(r)
	n.wg.Add(1)
	go n.watchLeadership(r)
	switch {
	case hasState:
		glog.Infof("raft %s: resuming from existing state", n.self)
	case len(n.peers) == 1:
		n.bootstrap(r)
	default:
		glog.Infof("raft %s: joining cluster %s", n.self, strings.Join(n.peers, ","))
		n.wg.Add(1)
		go n.joinOrBootstrap(r)
	}
	return nil
}

// bootstrap makes the -peers list the group's first configuration.
// Identical configurations on every member are safe; a node that already has
// state (a leader reached it first) keeps it.
func (n *RaftNode) bootstrap(r *raft.Raft) {
	var c raft.Configuration
	for _, p := range n.peers {
		c.Servers = append(c.Servers, raft.Server{
			Suffrage: raft.Voter,
			ID:       raft.ServerID(p),
			Address:  raft.ServerAddress(p),
		})
	}
	err := r.BootstrapCluster(c).Error()
	switch {
	case err == nil:
		glog.Infof("raft %s: bootstrapped group of %d: %s", n.self, len(n.peers), strings.Join(n.peers, ","))
	case errors.Is(err, raft.ErrCantBootstrap):
		glog.V(1).Infof("raft %s: not bootstrapping, state exists", n.self)
	default:
		glog.Errorf("raft %s: bootstrap: %v", n.self, err)
	}
}

// joinOrBootstrap runs on a fresh member of a multi-master group: join
// through the leader if one exists, else bootstrap from -peers. It
// bootstraps only when no peer answers, or when the peers that answer have
// known no leader for a few rounds and none belongs to a group with other
// members than -peers (such a group is mid-election: wait and join it).
// Join attempts are retried with bounded backoff until they succeed, a
// leader reaches this node on its own, or the node shuts down.
func (n *RaftNode) joinOrBootstrap(r *raft.Raft) {
	defer n.wg.Done()
	others := n.others()
	backoff := joinBackoffMin
	leaderless := 0
	for {
		if leader, _ := r.LeaderWithID(); leader != "" {
			glog.Infof("raft %s: member of the group led by %s", n.self, leader)
			return
		}
		leader, reachable, foreign := n.findLeader(others)
		switch {
		case leader != "":
			err := n.requestJoin(leader)
			if err == nil {
				glog.Infof("raft %s: joined through leader %s", n.self, leader)
				return
			}
			glog.Warningf("raft %s: join through %s: %v", n.self, leader, err)
		case reachable == 0 || (!foreign && leaderless >= leaderlessProbes):
			glog.Infof("raft %s: no existing leader among %s (%d answered)", n.self, strings.Join(others, ","), reachable)
			n.bootstrap(r)
			return
		case foreign:
			glog.V(1).Infof("raft %s: existing group has no leader yet; waiting to join it", n.self)
		default:
			leaderless++
		}
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, joinBackoffMax)
	}
}

// others returns the -peers entries other than self.
func (n *RaftNode) others() []string {
	var o []string
	for _, p := range n.peers {
		if p != n.self {
			o = append(o, p)
		}
	}
	return o
}

// watchLeadership follows raft's leadership signals to keep LeaderSince,
// and on winning prepares a key lease so that the first assign does not
// wait for Raft. Correctness does not depend on it: the sequencer checks
// the Raft term itself.
func (n *RaftNode) watchLeadership(r *raft.Raft) {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case isLeader := <-r.LeaderCh():
			if !isLeader {
				n.leaderSince.Store(0)
				glog.Infof("raft %s: no longer the leader", n.self)
				continue
			}
			n.leaderSince.Store(time.Now().UnixNano())
			glog.Infof("[ %s ] I am the leader!", n.self)
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				ctx, cancel := context.WithTimeout(n.ctx, barrierTimeout)
				defer cancel()
				if err := n.refillLease(ctx, r, 1); err != nil {
					glog.V(1).Infof("raft %s: first key lease: %v", n.self, err)
				}
			}()
		}
	}
}

// Register mounts the cluster endpoints on router: RaftPath (the Raft
// stream), /cluster/join and /cluster/status. These must be answered by the
// receiving master itself, never forwarded.
func (n *RaftNode) Register(router *mux.Router) {
	router.Handle(RaftPath, n.stream).Methods(http.MethodGet)
	router.HandleFunc(JoinPath, n.handleJoin).Methods(http.MethodPost)
	router.HandleFunc(StatusPath, n.handleStatus).Methods(http.MethodGet, http.MethodHead)
}

// Shutdown stops Raft, closes the transport (and every Raft connection)
// and the stores. It is idempotent; later calls return the first result.
func (n *RaftNode) Shutdown() error {
	n.shutdownOnce.Do(func() {
		n.cancel()
		var errs []error
		if r := n.r.Load(); r != nil {
			if err := r.Shutdown().Error(); err != nil {
				errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
			}
		}
		if err := n.trans.Close(); err != nil {
			errs = append(errs, fmt.Errorf("raft transport: %w", err))
		}
		n.wg.Wait()
		if err := n.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("raft store: %w", err))
		}
		n.leaderSince.Store(0)
		n.shutdownErr = errors.Join(errs...)
	})
	return n.shutdownErr
}

// leaderRaft returns the raft instance if this node leads, else nil.
func (n *RaftNode) leaderRaft() *raft.Raft {
	r := n.r.Load()
	if r == nil || r.State() != raft.Leader {
		return nil
	}
	return r
}

// IsLeader reports whether this master is the Raft leader now.
func (n *RaftNode) IsLeader() bool { return n.leaderRaft() != nil }

// Leader returns the leader's HTTP address, or "" while there is none.
func (n *RaftNode) Leader() string {
	r := n.r.Load()
	if r == nil {
		return ""
	}
	addr, _ := r.LeaderWithID()
	return string(addr)
}

// Self returns this master's HTTP address as named in -peers.
func (n *RaftNode) Self() string { return n.self }

// Peers returns the other members of the group: from the Raft
// configuration once known, else from -peers.
func (n *RaftNode) Peers() []string {
	others := []string{}
	if r := n.r.Load(); r != nil {
		if f := r.GetConfiguration(); f.Error() == nil {
			for _, s := range f.Configuration().Servers {
				if string(s.Address) != n.self {
					others = append(others, string(s.Address))
				}
			}
			if len(f.Configuration().Servers) > 0 {
				return others
			}
		}
	}
	return append(others, n.others()...)
}

// LeaderSince returns when this master last became leader, or the zero time
// when it is not the leader. In the instant between raft making this node
// leader and the node noticing, it returns the current time.
func (n *RaftNode) LeaderSince() time.Time {
	if !n.IsLeader() {
		return time.Time{}
	}
	if ns := n.leaderSince.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Now()
}

// ClusterStatus returns what /cluster/status reports.
func (n *RaftNode) ClusterStatus() ClusterStatus {
	return ClusterStatus{IsLeader: n.IsLeader(), Leader: n.Leader(), Peers: n.Peers()}
}

// NextFileKeys reserves count consecutive keys (count 0 is taken as 1) and
// returns the first. Most calls are served from the leader's in-memory lease;
// when it runs short, a new lease of max(count, LeaseSize) keys is committed
// through Raft first. Returns ErrNotLeader (wrapped) on a follower.
func (n *RaftNode) NextFileKeys(ctx context.Context, count uint64) (needle.Key, error) {
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
func (n *RaftNode) takeKeys(r *raft.Raft, count uint64) (uint64, bool) {
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
func (n *RaftNode) refillLease(ctx context.Context, r *raft.Raft, count uint64) error {
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
func (n *RaftNode) prepare(r *raft.Raft) (uint64, error) {
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
func (n *RaftNode) LeaderReady(ctx context.Context) error {
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
func (n *RaftNode) NextVolumeID(ctx context.Context) (needle.VolumeID, error) {
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
func (n *RaftNode) ObserveVolumeID(ctx context.Context, vid needle.VolumeID) error {
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
func (n *RaftNode) ObserveFileKey(ctx context.Context, key needle.Key) error {
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
func (n *RaftNode) skipLeased(key uint64) {
	n.mu.Lock()
	if key >= n.lease.next && key < n.lease.end {
		n.lease.next = key + 1
	}
	n.mu.Unlock()
}

// acquireSlot waits for the right to issue a sequencer command.
func (n *RaftNode) acquireSlot(ctx context.Context) (release func(), err error) {
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
func (n *RaftNode) apply(r *raft.Raft, cmd []byte) error {
	if err := r.Apply(cmd, applyTimeout).Error(); err != nil {
		return raftErr("apply", err)
	}
	return nil
}

// raftErr wraps a raft error; errors meaning this node cannot lead also
// wrap ErrNotLeader.
func raftErr(op string, err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress) || errors.Is(err, raft.ErrRaftShutdown) {
		return fmt.Errorf("raft %s: %w: %w", op, ErrNotLeader, err)
	}
	return fmt.Errorf("raft %s: %w", op, err)
}

// glogWriter receives hclog's formatted lines and logs them through glog:
// errors and warnings always, info at -v=1, debug at -v=2, trace at -v=3.
type glogWriter struct{}

func (glogWriter) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	switch {
	case strings.HasPrefix(line, "[ERROR]"):
		glog.Error(line)
	case strings.HasPrefix(line, "[WARN]"):
		glog.Warning(line)
	case strings.HasPrefix(line, "[INFO]"):
		if glog.V(1) {
			glog.Info(line)
		}
	case strings.HasPrefix(line, "[DEBUG]"):
		if glog.V(2) {
			glog.Info(line)
		}
	default:
		if glog.V(3) {
			glog.Info(line)
		}
	}
	return len(p), nil
}

// newGlogHclog returns an hclog.Logger for raft that writes through glog,
// at the most verbose level glog's -v currently lets through.
func newGlogHclog(name string) hclog.Logger {
	level := hclog.Warn
	switch {
	case bool(glog.V(3)):
		level = hclog.Trace
	case bool(glog.V(2)):
		level = hclog.Debug
	case bool(glog.V(1)):
		level = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:        name,
		Level:       level,
		Output:      glogWriter{},
		DisableTime: true,
	})
}
