package master

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/glog"
	"github.com/gorilla/mux"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/internal/health"
	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/internal/metrics"
	"github.com/weedfs/weed/internal/owned"
	"github.com/weedfs/weed/internal/security"
	"github.com/weedfs/weed/internal/version"
	"github.com/weedfs/weed/master/raftnode"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/topology"
	"github.com/weedfs/weed/wire"
)

// Defaults of Options' zero fields (the `weed master` flag defaults).
const (
	DefaultPort              = 9333
	DefaultVolumeSizeLimitMB = 30000
	DefaultReplication       = "000"
	DefaultPulseSeconds      = 5
	DefaultGarbageThreshold  = 0.3
	DefaultVacuumInterval    = 15 * time.Minute
	// DefaultLeaderWait covers an election: a new leader is expected within
	// 5 s of losing the old one.
	DefaultLeaderWait = 5 * time.Second
)

// Options configures a Server. Zero fields take the defaults above.
type Options struct {
	// IP and Port are the address this master is reached at, logged in the
	// ready line. ListenAndServe listens on BindIP:Port.
	IP   string
	Port int
	// BindIP is the address ListenAndServe listens on; empty means every
	// interface.
	BindIP string
	// VolumeSizeLimitMB is the size at which a volume stops taking writes.
	VolumeSizeLimitMB uint64
	// DefaultReplication is the placement of assigns that name none.
	DefaultReplication string
	// PulseSeconds is the volume servers' heartbeat interval: dead nodes are
	// looked for every pulse, and a node silent for wire.DeadPulses
	// pulses is dropped.
	PulseSeconds int
	// GarbageThreshold is the garbage ratio above which the periodic vacuum
	// (and /vol/vacuum without a garbageThreshold) compacts a volume.
	GarbageThreshold float64
	// VacuumInterval is the time between two automatic vacuums.
	VacuumInterval time.Duration
	// LeaderWait is how long a follower holds a request while no leader is
	// known or the known one cannot be reached (an election), before it
	// answers 503 or 502. Zero means DefaultLeaderWait; negative answers at
	// once.
	LeaderWait time.Duration
	// WhiteList holds the IP addresses (or CIDR ranges) allowed to use the
	// write and admin endpoints (/dir/assign, /submit, /vol/grow,
	// /vol/vacuum, /col/delete, /admin/heartbeat); others get 403. Empty
	// allows everyone.
	WhiteList []string
	// Routes, when set, is called first with the router, to mount endpoints
	// the master answers itself, never forwarded (the Raft node's
	// /cluster/raft, /cluster/join and /cluster/status). /dir/assign is
	// answered before the router and cannot be mounted here.
	Routes func(*mux.Router)
	// RepairAfter is how long a volume may miss a copy (its node gone)
	// before the leader copies it to another node
	// (-replication.repairAfter). Zero means DefaultRepairAfter; negative
	// disables re-replication.
	RepairAfter time.Duration
	// Secret is -secure.secret: when set, every assign answers a write
	// token for its fids in an "Authorization: BEARER <jwt>" header,
	// /submit sends one with its upload, and /dir/lookup?fileId= answers
	// one to clients the white list admits (so that they can delete).
	// Volume servers given the same secret refuse writes and deletes
	// without a valid token. /vol/grow, /vol/vacuum, /col/delete,
	// /cluster/remove, heartbeats and stale marks need an admin token
	// (security.Signer.CheckAdmin), and the master signs its calls to the
	// volume servers' admin endpoints. Empty: no tokens.
	Secret string
	// TokenTTL is how long a token stays valid (zero:
	// security.DefaultTokenTTL).
	TokenTTL time.Duration
	// IdleTimeout, when positive, closes a connection that sends no
	// request header for this long (-idleTimeout, weed-fs 0.70's);
	// 0 keeps httpx's defaults.
	IdleTimeout time.Duration
	// Metrics is the registry the master's metrics go to; nil: a registry
	// of its own. `weed server` gives its servers one to share.
	Metrics *metrics.Registry
	// AccessLog, when not nil, gets one line per request (-accessLog). The
	// caller closes it after Shutdown.
	AccessLog *metrics.AccessLog
}

// Server is the master's HTTP server: heartbeats build its topology,
// assigns pick (and grow) volumes, reads are redirected to volume servers,
// vacuum runs across replicas. On a follower every master endpoint is
// forwarded to the leader. Build it with NewServer; serve Handler (or call
// Serve/ListenAndServe), run the background loop with Run, stop with
// Shutdown. Safe for concurrent use.
type Server struct {
	opts      Options
	pulse     time.Duration
	placement needle.Placement // the default replication
	topo      *topology.Topology
	seq       Sequencer
	lead      Leadership
	admin     *volumeAdmin
	growth    *volumeGrowth
	vacuum    *vacuumer
	stale     StaleMarker     // nil: no stale marks (Deps.Stale)
	members   MemberRemover   // nil: no Raft group (Deps.Members)
	ready     LeaderReadiness // nil: ready when leading (Deps.Ready)
	term      Termer          // nil: no term shown (Deps.Term)
	repair    *rereplicator   // rereplicate.go
	forward   *leaderForwarder
	uploader  *client.Client
	guard     *httpx.WhiteList
	signer    *security.Signer // nil without Options.Secret
	router    *mux.Router
	handler   http.Handler // dispatch, instrumented
	srv       *httpx.Server
	metrics   *metrics.Registry
	readiness *health.Readiness
	// assignHandler is /dir/assign as the router serves it (white list,
	// forwarding to the leader), for dispatch.
	assignHandler http.Handler

	// rr holds one round-robin counter per volume for /<fid> redirects.
	rr sync.Map // needle.VolumeID -> *atomic.Uint64

	// Marks already raised in the Sequencer from heartbeats, so that a
	// heartbeat costs a Raft round only when it brings a higher one.
	observedVolumeID atomic.Uint32
	observedFileKey  atomic.Uint64

	// Background work is owned by the Server (goFunc) and waited for by
	// Shutdown, which cancels life.
	life     context.Context
	stopLife context.CancelFunc
	owned    owned.Group // the goroutines Shutdown waits for
}

// NewServer checks opts and builds a Server on deps. It does no I/O.
func NewServer(opts Options, deps Deps) (*Server, error) {
	seq, lead := deps.Sequencer, deps.Leadership
	if seq == nil || lead == nil {
		return nil, errors.New("master: NewServer needs a Sequencer and a Leadership")
	}
	if opts.Port == 0 {
		opts.Port = DefaultPort
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("master: port %d out of range", opts.Port)
	}
	if opts.VolumeSizeLimitMB == 0 {
		opts.VolumeSizeLimitMB = DefaultVolumeSizeLimitMB
	}
	// Volumes address at most 32 GiB (8-byte units in a uint32 offset).
	if opts.VolumeSizeLimitMB > 32*1024 {
		return nil, fmt.Errorf("master: volume size limit %d MB is above 32768 MB", opts.VolumeSizeLimitMB)
	}
	if opts.DefaultReplication == "" {
		opts.DefaultReplication = DefaultReplication
	}
	placement, err := needle.ParsePlacement(opts.DefaultReplication)
	if err != nil {
		return nil, fmt.Errorf("master: default replication: %w", err)
	}
	if opts.PulseSeconds == 0 {
		opts.PulseSeconds = DefaultPulseSeconds
	}
	if opts.PulseSeconds < 0 {
		return nil, fmt.Errorf("master: pulse %d seconds is negative", opts.PulseSeconds)
	}
	if opts.GarbageThreshold == 0 {
		opts.GarbageThreshold = DefaultGarbageThreshold
	}
	if !(opts.GarbageThreshold > 0 && opts.GarbageThreshold <= 1) {
		return nil, fmt.Errorf("master: garbage threshold %v is not in (0, 1]", opts.GarbageThreshold)
	}
	if opts.VacuumInterval == 0 {
		opts.VacuumInterval = DefaultVacuumInterval
	}
	if opts.VacuumInterval < 0 {
		return nil, fmt.Errorf("master: vacuum interval %v is negative", opts.VacuumInterval)
	}
	if opts.LeaderWait == 0 {
		opts.LeaderWait = DefaultLeaderWait
	}
	guard, err := httpx.NewWhiteList(opts.WhiteList)
	if err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	pulse := time.Duration(opts.PulseSeconds) * time.Second
	topo := topology.New(topology.Config{
		VolumeSizeLimit: opts.VolumeSizeLimitMB * 1024 * 1024,
		Pulse:           pulse,
	})
	transport := newVolumeTransport()
	signer := security.NewSigner(opts.Secret, opts.TokenTTL)
	admin := newVolumeAdmin(transport, signer)
	self := net.JoinHostPort(opts.IP, strconv.Itoa(opts.Port))
	uploader, err := client.New(self, client.WithHTTPClient(&http.Client{Transport: transport}))
	if err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	s := &Server{
		opts:      opts,
		pulse:     pulse,
		placement: placement,
		topo:      topo,
		seq:       seq,
		lead:      lead,
		stale:     deps.Stale,
		members:   deps.Members,
		ready:     deps.Ready,
		term:      deps.Term,
		admin:     admin,
		growth:    newVolumeGrowth(topo, seq, lead, admin, pulse),
		vacuum:    newVacuumer(topo, admin),
		forward:   newLeaderForwarder(lead, opts.LeaderWait),
		uploader:  uploader,
		guard:     guard,
		signer:    signer,
	}
	s.life, s.stopLife = context.WithCancel(context.Background())
	s.initReplicaRepair()
	s.initMetrics()
	s.router = s.routes()
	s.handler = s.instrument(http.HandlerFunc(s.dispatch))
	s.srv = httpx.NewServer("master", s.handler, s.logReady)
	s.srv.SetIdleTimeout(opts.IdleTimeout)
	glog.Infof("Volume Size Limit is %d MB", opts.VolumeSizeLimitMB)
	return s, nil
}

// routes builds the router. Routes registered by Options.Routes come first
// and win over the master's own.
func (s *Server) routes() *mux.Router {
	r := mux.NewRouter()
	if s.opts.Routes != nil {
		s.opts.Routes(r)
	}
	local := func(path string, h http.HandlerFunc, guarded bool, methods ...string) {
		var handler http.Handler = h
		if guarded {
			handler = s.guard.WrapTrusting(handler, s.trustForwarded)
		}
		r.Handle(path, handler).Methods(methods...)
	}
	// leader registers an endpoint that followers forward to the leader.
	// The white list is checked by the master that receives the request.
	leader := func(path string, h http.HandlerFunc, guarded bool, methods ...string) {
		handler := s.forward.wrap(h)
		if guarded {
			handler = s.guard.WrapTrusting(handler, s.trustForwarded)
		}
		r.Handle(path, handler).Methods(methods...)
	}
	// admin guards a state-changing endpoint with the admin token (with a
	// secret only), checked by the master that handles the request: the
	// leader, for the endpoints a follower forwards with their headers.
	admin := func(h http.HandlerFunc) http.HandlerFunc {
		if s.signer == nil {
			return h
		}
		return s.signer.RequireAdmin(h).ServeHTTP
	}
	const get, head, post = http.MethodGet, http.MethodHead, http.MethodPost

	local(raftnode.StatusPath, s.handleClusterStatus, false, get, head)
	// Monitoring and the console: answered by every master itself.
	local(metrics.Path, s.metrics.Handler().ServeHTTP, false, get, head)
	local(health.LivePath, health.Live, false, get, head)
	local(health.ReadyPath, s.readiness.ServeHTTP, false, get, head)
	local("/", s.handleConsole, false, get, head)
	local(consolePath, s.handleConsole, false, get, head)
	local(consolePath+"index.html", s.handleConsole, false, get, head)
	local(consoleJSONPath, s.handleConsoleJSON, false, get, head)
	r.PathPrefix(consolePath+"static/").Handler(consoleStatic()).Methods(get, head)
	local(wire.HeartbeatPath, admin(s.handleHeartbeat), true, post)
	leader(RemovePath, admin(s.handleClusterRemove), true, post)

	s.assignHandler = s.guard.WrapTrusting(s.forward.wrap(http.HandlerFunc(s.handleAssign)), s.trustForwarded)
	r.Handle("/dir/assign", s.assignHandler).Methods(get, post)
	leader("/dir/lookup", s.handleLookup, false, get, head, post)
	leader("/dir/status", s.handleDirStatus, false, get, head)
	leader("/submit", s.handleSubmit, true, post)
	leader("/vol/grow", admin(s.handleVolGrow), true, get, post)
	leader("/vol/vacuum", admin(s.handleVolVacuum), true, get, post)
	leader("/vol/status", s.handleVolStatus, false, get, head)
	leader("/col/delete", admin(s.handleColDelete), true, get, post)
	leader(wire.StalePath, admin(s.handleStale), true, get, post)
	leader(wire.SyncedPath, admin(s.handleSynced), true, post)
	leader(wire.StaleListPath, s.handleStaleList, false, get, head)
	r.PathPrefix("/").Handler(s.forward.wrap(http.HandlerFunc(s.handleRedirect))).
		Methods(get, head, http.MethodDelete)

	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, r, http.StatusNotFound, "not found: "+r.URL.Path)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path)
	})
	return r
}

// dispatch is the master's handler: /dir/assign, the hot path of every
// write, skips the router's regular-expression matching and the request
// copies it makes; everything else goes through the router.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/dir/assign" && (r.Method == http.MethodGet || r.Method == http.MethodPost) {
		s.assignHandler.ServeHTTP(w, r)
		return
	}
	s.router.ServeHTTP(w, r)
}

// Handler returns the master's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Topology returns the master's topology (soft state built from heartbeats).
func (s *Server) Topology() *topology.Topology { return s.topo }

// Run runs the background work until ctx ends or Shutdown: every pulse,
// nodes silent for wire.DeadPulses pulses are dropped and the leader
// re-reads the stale marks and drives re-replication; every
// VacuumInterval, the leader vacuums volumes above GarbageThreshold. Node
// expiry, re-replication and vacuum run in goroutines of their own, so a
// slow call to a volume server in one does not hold up the others; they
// are owned by the Server and Shutdown waits for them. Run returns when
// they have ended (the vacuum in progress, if any, finishes its current
// volume first).
func (s *Server) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.life, cancel)()
	// kick carries the time of the latest pulse from node expiry to
	// re-replication; a pulse missed while re-replication is busy is
	// replaced by the next one.
	kick := make(chan time.Time, 1)
	var loops sync.WaitGroup
	for _, loop := range []func(){
		func() { s.expireLoop(ctx, kick) },
		func() { s.repairLoop(ctx, kick) },
		func() { s.vacuumLoop(ctx) },
	} {
		loops.Add(1)
		if !s.goFunc(func() { defer loops.Done(); loop() }) {
			loops.Done()
			cancel()
		}
	}
	loops.Wait()
}

// expireLoop drops, every pulse, the nodes silent for wire.DeadPulses
// pulses, then hands the pulse to repairLoop. Followers expire too: what a
// former leader knew fades away.
func (s *Server) expireLoop(ctx context.Context, kick chan time.Time) {
	t := time.NewTicker(s.pulse)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.expireNodes(now)
			// The only sender: after the drain there is room.
			select {
			case <-kick:
			default:
			}
			kick <- now
		}
	}
}

// expireNodes drops the nodes silent since before now and tells
// re-replication which volumes lost a copy.
func (s *Server) expireNodes(now time.Time) {
	for _, n := range s.topo.Expire(now) {
		glog.Infof("dead data node %s (%s:%s) removed with volumes %v", n.URL, n.DataCenter, n.Rack, n.Volumes)
		s.repair.nodeGone(n, now)
	}
}

// repairLoop runs pulseConsistency for each pulse expireLoop hands it.
func (s *Server) repairLoop(ctx context.Context, kick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-kick:
			s.pulseConsistency(ctx, now)
		}
	}
}

// vacuumLoop vacuums, every VacuumInterval, on the leader.
func (s *Server) vacuumLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.VacuumInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !s.lead.IsLeader() {
				continue
			}
			if _, _, err := s.vacuum.Run(ctx, s.opts.GarbageThreshold); err != nil {
				glog.Warningf("automatic vacuum: %v", err)
			}
		}
	}
}

// goFunc runs f in a goroutine the Server owns: Shutdown waits for it. It
// reports false, and does not run f, once Shutdown has begun.
func (s *Server) goFunc(f func()) bool {
	return s.owned.Go(f)
}

// ListenAndServe listens on BindIP:Port and serves until Shutdown. It
// returns nil after Shutdown.
func (s *Server) ListenAndServe() error {
	return s.srv.ListenAndServe(net.JoinHostPort(s.opts.BindIP, strconv.Itoa(s.opts.Port)))
}

// Serve serves on ln until Shutdown, logging one ready line first. It
// returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.srv.Serve(ln) }

// logReady logs the master's ready line.
func (s *Server) logReady(ln net.Listener) {
	glog.Infof("Start weed master %s at %s", version.Version, net.JoinHostPort(s.opts.IP, strconv.Itoa(s.opts.Port)))
	glog.V(1).Infof("master listening on %s", ln.Addr())
}

// Shutdown stops the background work (Run's loops, re-replication copies
// in progress: their contexts end) and accepting connections, and waits,
// until ctx ends, for the requests in flight to finish (a request being
// forwarded to the leader included) and for every goroutine the Server
// started to return. It returns ctx's error (wrapped) if they did not end
// in time.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.forward.close()
	s.owned.Stop()
	s.stopLife()
	err := s.srv.Shutdown(ctx)
	if werr := s.owned.Wait(ctx); werr != nil && err == nil {
		err = fmt.Errorf("master: background work still running: %w", werr)
	}
	return err
}

// trustForwarded admits, past the white list, a request a follower
// forwarded when it comes from a fellow master: the follower checked the
// client against its own list.
func (s *Server) trustForwarded(r *http.Request, ip net.IP) bool {
	return r.Header.Get(ForwardedByHeader) != "" && isPeer(r.Context(), s.lead, ip)
}

// clientAllowed reports whether the client of r passes the white list: the
// address it connects from or, for a request a fellow master forwarded, the
// client address that master names last in X-Forwarded-For (it checked
// nothing itself: the request was an open one).
func (s *Server) clientAllowed(r *http.Request) bool {
	if s.guard.Empty() {
		return true
	}
	ip := net.ParseIP(remoteIP(r))
	if ip == nil {
		return false
	}
	if s.guard.Allows(ip) {
		return true
	}
	if !s.trustForwarded(r, ip) {
		return false
	}
	xff := r.Header.Values("X-Forwarded-For")
	if len(xff) == 0 {
		return false
	}
	last := xff[len(xff)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	client := net.ParseIP(strings.TrimSpace(last))
	return client != nil && s.guard.Allows(client)
}

// isPeer reports whether ip is an address of another master of the group.
func isPeer(ctx context.Context, lead Leadership, ip net.IP) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, p := range lead.Peers() {
		host, _, err := net.SplitHostPort(p)
		if err != nil {
			continue
		}
		if pip := net.ParseIP(host); pip != nil {
			if pip.Equal(ip) {
				return true
			}
			continue
		}
		addrs, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			glog.V(1).Infof("white list: resolve peer %s: %v", host, err)
			continue
		}
		for _, a := range addrs {
			if pip := net.ParseIP(a); pip != nil && pip.Equal(ip) {
				return true
			}
		}
	}
	return false
}

// roundRobin returns the index of the next replica of vid to redirect to.
func (s *Server) roundRobin(vid needle.VolumeID, n int) int {
	c, ok := s.rr.Load(vid)
	if !ok {
		c, _ = s.rr.LoadOrStore(vid, new(atomic.Uint64))
	}
	return int((c.(*atomic.Uint64).Add(1) - 1) % uint64(n))
}
