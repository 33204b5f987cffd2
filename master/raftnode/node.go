// Package raftnode is the weed master's member of its Raft group
// (hashicorp/raft): the replicated state machine (the volume id and file
// key high-water marks, the stale marks), the sequencer that hands out file
// keys from leases and volume ids, the group's membership (join, status,
// remove) and the HTTP stream layer that carries Raft over the master's
// HTTP port. The master package uses a Node through its own small
// interfaces (master.Deps); this package does not import master.
package raftnode

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Defaults of Config (timing does not depend on -pulseSeconds).
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
	// raftDBFile holds the Raft log and stable store in OpenBolt's dir.
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

// Config configures a Node. Zero durations and sizes take the
// Default values above.
type Config struct {
	// Self is this master's HTTP address ("host:port") exactly as written
	// in Peers. It is the Raft server ID and address.
	Self string
	// Peers is the -peers list: the HTTP address of every master, Self
	// included, the same on every member. Empty means a one-node group.
	Peers []string
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

// Node is one master's member of the Raft group: the sequencer of file keys
// and volume ids, the leadership, the stale marks and the membership the
// master.Server is given (master.Deps). Create it with New, mount its handlers
// with Register, call Start once the HTTP server listens, and Shutdown at
// the end. All methods are safe for concurrent use.
type Node struct {
	self      string
	peers     []string // the -peers list, self included
	leaseSize uint64
	conf      *raft.Config
	client    *http.Client

	fsm    *FSM
	stores Stores

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

// Stores are what a Node keeps its Raft state in and talks through,
// hashicorp/raft's interfaces. OpenBolt builds the production ones; tests
// build raft's in-memory stores and transport.
type Stores struct {
	// Log holds the Raft log.
	Log raft.LogStore
	// Stable holds the current term and vote.
	Stable raft.StableStore
	// Snapshots holds the FSM snapshots.
	Snapshots raft.SnapshotStore
	// Transport carries Raft RPCs. Shutdown closes it if it has a Close
	// method (raft.WithClose).
	Transport raft.Transport
	// Stream, when not nil, is the listening side of Transport as an HTTP
	// handler: Register mounts it at RaftPath.
	Stream http.Handler
	// Close, when not nil, releases the stores once Raft has stopped.
	Close func() error
}

// OpenBolt opens the production stores of the master self ("host:port")
// under dir (-mdir): the log and stable store in raft.db (raft-boltdb, with
// a log cache), snapshots under dir/snapshots, and a network transport
// carried over the master's HTTP port (HTTPStreamLayer). A second master on
// the same dir fails after a short wait for the file lock.
func OpenBolt(dir, self string) (Stores, error) {
	if dir == "" {
		return Stores{}, errors.New("raft: no -mdir directory")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Stores{}, fmt.Errorf("raft dir: %w", err)
	}
	logger := newGlogHclog("raft")
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(dir, raftDBFile),
		BoltOptions: &bbolt.Options{Timeout: boltOpenTimeout},
	})
	if err != nil {
		return Stores{}, fmt.Errorf("open raft store in %s: %w", dir, err)
	}
	logs, err := raft.NewLogCache(512, store)
	if err != nil {
		_ = store.Close()
		return Stores{}, fmt.Errorf("raft log cache: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, logger.Named("snapshot"))
	if err != nil {
		_ = store.Close()
		return Stores{}, fmt.Errorf("raft snapshot store in %s: %w", dir, err)
	}
	stream := NewHTTPStreamLayer(self)
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: transportMaxPool,
		Timeout: transportTimeout,
		Logger:  logger.Named("net"),
	})
	return Stores{
		Log:       logs,
		Stable:    store,
		Snapshots: snaps,
		Transport: trans,
		Stream:    stream,
		Close:     store.Close,
	}, nil
}

// New builds a Node on stores, which it owns from then on (Shutdown
// closes them, and so does New when it fails). It does not contact
// anyone; Start does.
func New(cfg Config, stores Stores) (n *Node, err error) {
	defer func() {
		if err != nil {
			closeStores(stores)
		}
	}()
	if stores.Log == nil || stores.Stable == nil || stores.Snapshots == nil || stores.Transport == nil {
		return nil, errors.New("raft: a log store, stable store, snapshot store and transport are required")
	}
	if _, _, err := net.SplitHostPort(cfg.Self); err != nil {
		return nil, fmt.Errorf("raft self address %q: %w", cfg.Self, err)
	}
	peers, err := normalizePeers(cfg.Self, cfg.Peers)
	if err != nil {
		return nil, err
	}
	if cfg.LeaseSize == 0 {
		cfg.LeaseSize = DefaultLeaseSize
	}
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(cfg.Self)
	conf.Logger = newGlogHclog("raft")
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
	ctx, cancel := context.WithCancel(context.Background())
	return &Node{
		self:      cfg.Self,
		peers:     peers,
		leaseSize: cfg.LeaseSize,
		conf:      conf,
		client:    client,
		fsm:       NewFSM(),
		stores:    stores,
		slot:      make(chan struct{}, 1),
		ctx:       ctx,
		cancel:    cancel,
	}, nil
}

// closeStores closes the transport and the stores of a Node that could not
// be built.
func closeStores(s Stores) error {
	var errs []error
	if c, ok := s.Transport.(raft.WithClose); ok {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("raft transport: %w", err))
		}
	}
	if s.Close != nil {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("raft store: %w", err))
		}
	}
	return errors.Join(errs...)
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
// handlers is listening. With state in its stores the node simply resumes. Without
// state it bootstraps a one-node group if there are no other peers;
// otherwise, in the background, it asks the peers for a leader and joins
// through it, or bootstraps the group from the -peers list when no peer
// knows a leader.
func (n *Node) Start() error {
	if !n.started.CompareAndSwap(false, true) {
		return ErrAlreadyStarted
	}
	hasState, err := raft.HasExistingState(n.stores.Log, n.stores.Stable, n.stores.Snapshots)
	if err != nil {
		return fmt.Errorf("raft state in -mdir: %w", err)
	}
	r, err := raft.NewRaft(n.conf, n.fsm, n.stores.Log, n.stores.Stable, n.stores.Snapshots, n.stores.Transport)
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
func (n *Node) bootstrap(r *raft.Raft) {
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
func (n *Node) joinOrBootstrap(r *raft.Raft) {
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
func (n *Node) others() []string {
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
func (n *Node) watchLeadership(r *raft.Raft) {
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
// stream, when the transport has one), /cluster/join and /cluster/status. These must be answered by the
// receiving master itself, never forwarded.
func (n *Node) Register(router *mux.Router) {
	if n.stores.Stream != nil {
		router.Handle(RaftPath, n.stores.Stream).Methods(http.MethodGet)
	}
	router.HandleFunc(JoinPath, n.handleJoin).Methods(http.MethodPost)
	router.HandleFunc(StatusPath, n.handleStatus).Methods(http.MethodGet, http.MethodHead)
}

// Shutdown stops Raft, closes the transport (and every Raft connection)
// and the stores. It is idempotent; later calls return the first result.
func (n *Node) Shutdown() error {
	n.shutdownOnce.Do(func() {
		n.cancel()
		var errs []error
		if r := n.r.Load(); r != nil {
			if err := r.Shutdown().Error(); err != nil {
				errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
			}
		}
		if c, ok := n.stores.Transport.(raft.WithClose); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("raft transport: %w", err))
			}
		}
		n.wg.Wait()
		if n.stores.Close != nil {
			if err := n.stores.Close(); err != nil {
				errs = append(errs, fmt.Errorf("raft store: %w", err))
			}
		}
		n.leaderSince.Store(0)
		n.shutdownErr = errors.Join(errs...)
	})
	return n.shutdownErr
}

// leaderRaft returns the raft instance if this node leads, else nil.
func (n *Node) leaderRaft() *raft.Raft {
	r := n.r.Load()
	if r == nil || r.State() != raft.Leader {
		return nil
	}
	return r
}

// IsLeader reports whether this master is the Raft leader now.
func (n *Node) IsLeader() bool { return n.leaderRaft() != nil }

// Leader returns the leader's HTTP address, or "" while there is none.
func (n *Node) Leader() string {
	r := n.r.Load()
	if r == nil {
		return ""
	}
	addr, _ := r.LeaderWithID()
	return string(addr)
}

// Self returns this master's HTTP address as named in -peers.
func (n *Node) Self() string { return n.self }

// Peers returns the other members of the group: from the Raft
// configuration once known, else from -peers.
func (n *Node) Peers() []string {
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
func (n *Node) LeaderSince() time.Time {
	if !n.IsLeader() {
		return time.Time{}
	}
	if ns := n.leaderSince.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Now()
}

// ClusterStatus returns what /cluster/status reports.
func (n *Node) ClusterStatus() ClusterStatus {
	return ClusterStatus{IsLeader: n.IsLeader(), Leader: n.Leader(), Peers: n.Peers()}
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

// Term returns the current Raft term (0 before Start): the master's
// weed_master_raft_term and console show it.
func (n *Node) Term() uint64 {
	r := n.r.Load()
	if r == nil {
		return 0
	}
	return r.CurrentTerm()
}
