package volumeserver

import (
	"bytes"
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

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/internal/owned"
	"github.com/weedfs/weed/internal/security"
	"github.com/weedfs/weed/internal/version"
	"github.com/weedfs/weed/replication"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/wire"
)

// Defaults of ServerOptions' zero fields (the `weed volume` flag defaults).
const (
	DefaultPort           = 8080
	DefaultPulseSeconds   = 5
	DefaultMaxUploadBytes = 256 << 20
	// DefaultLookupTTL is how long volume locations asked of the master
	// (replica sets, redirect targets, chunk locations) are cached.
	DefaultLookupTTL = 10 * time.Second
)

// ServerOptions configures a Server. Zero fields take the defaults above.
type ServerOptions struct {
	// IP and Port are the address the masters and the other volume servers
	// reach this server at; "ip:port" is its identity in the topology.
	// An empty IP means the address the leading master sees the heartbeats
	// come from: the server adopts the one the master's reply names, and
	// refuses replicated writes until it knows it.
	IP   string
	Port int
	// BindIP is the address ListenAndServe listens on; empty means every
	// interface.
	BindIP string
	// PublicURL is the address handed to clients (redirects, lookups);
	// empty means "ip:port" as the master registered it.
	PublicURL string
	// PublicPort is the port of the public listener (-port.public), which
	// serves PublicHandler; 0 means none. With it and no PublicURL, clients
	// are sent to ip:PublicPort.
	PublicPort int
	// Masters are the masters' "host:port" addresses (-mserver). The
	// heartbeats start with any of them and follow the leader.
	Masters []string
	// DataCenter and Rack place this server in the topology.
	DataCenter, Rack string
	// PulseSeconds is the heartbeat interval.
	PulseSeconds int
	// ReadRedirect makes reads of a volume held elsewhere answer 301 to a
	// holder (-read.redirect). nil means true; it is a pointer so that the
	// zero ServerOptions keeps weed-fs's default and a flag.Bool plugs in.
	ReadRedirect *bool
	// ReadMode is how a read of a volume held elsewhere is answered
	// (-readMode): ReadModeRedirect, ReadModeProxy or ReadModeLocal; ""
	// follows ReadRedirect.
	ReadMode string
	// FixJPEGOrientation turns JPEG uploads upright by their EXIF
	// orientation before they are stored (-images.fix.orientation,
	// weed-fs 0.70).
	FixJPEGOrientation bool
	// WhiteList holds the IP addresses or CIDR ranges allowed to write,
	// delete and call /admin; others get 403. Empty allows everyone. Other
	// volume servers (replication) and the masters must be on it.
	WhiteList []string
	// MaxUploadBytes bounds a request body; larger ones get 413
	// (-fileSizeLimitMB).
	MaxUploadBytes int64
	// ConcurrentUploadBytes bounds the bytes of upload bodies held in
	// memory at once (-concurrentUploadLimitMB; 0: the default, negative:
	// no bound). An upload that does not fit waits up to UploadWait for
	// others to finish, then gets 503 with Retry-After; one upload alone
	// always goes through. Replicated writes are counted but never wait.
	ConcurrentUploadBytes int64
	// UploadWait is how long an upload waits for room in the budget
	// (-inflightUploadDataTimeout; 0: DefaultUploadWait).
	UploadWait time.Duration
	// LookupTTL is how long volume locations are cached (negative disables
	// the cache; every lookup then asks a master).
	LookupTTL time.Duration
	// SyncSlack is how far before the older of two replicas' last append
	// times a rejoin sync starts comparing records (0: replication.DefaultSyncSlack).
	SyncSlack time.Duration
	// AntiEntropyInterval is the time between anti-entropy passes
	// (0: replication.DefaultAntiEntropyInterval; negative: none).
	AntiEntropyInterval time.Duration
	// CopyBytesPerSecond bounds the .dat streams this server sends to new
	// copies and backups (0: replication.DefaultCopyBytesPerSecond; negative: no
	// limit).
	CopyBytesPerSecond int64
	// AntiEntropyBytesPerSecond bounds what anti-entropy reads and copies
	// (0: replication.DefaultAntiEntropyBytesPerSecond; negative: no limit).
	AntiEntropyBytesPerSecond int64
	// Secret is -secure.secret, the masters' one: when set, a POST, PUT or
	// DELETE of a fid (replicated ones included) needs a valid token for
	// that fid in "Authorization: Bearer <jwt>" or ?jwt=, else 401. This
	// server signs the tokens of the writes and deletes it sends to the
	// other replicas. The /admin endpoints that change state (wire.ChangesState)
	// need an admin token (security.Signer.CheckAdmin), and this server signs
	// its own admin calls to the masters and the other replicas. Reads and
	// the read-only /admin endpoints (behind WhiteList) need none. Empty: no
	// tokens.
	Secret string
	// IdleTimeout, when positive, closes a connection that sends no
	// request header for this long (-idleTimeout, weed-fs 0.70's);
	// 0 keeps httpx's defaults.
	IdleTimeout time.Duration
}

// Server is the volume server: the HTTP API of a Store (reads, writes,
// deletes, /status, the masters' /admin calls), replication of writes and
// deletes to the other replicas of a volume, and heartbeats to the master.
// Build it with NewServer; serve Handler (or call Serve/ListenAndServe), run
// the heartbeats with Run, stop with Shutdown. Safe for concurrent use.
type Server struct {
	store        *volume.Store
	opts         ServerOptions
	id           atomic.Pointer[identity]
	readRedirect bool
	readMode     string         // ReadMode*: reads of volumes held elsewhere
	chunkClient  *client.Client // deletes the chunks of a deleted manifest
	maxUpload    int64
	uploads      *uploadLimiter // bytes of upload bodies in memory
	uploadWait   time.Duration
	client       *client.Client
	fanout       *replication.Fanout
	hb           *heartbeater
	guard        *httpx.WhiteList
	signer       *security.Signer // nil without ServerOptions.Secret
	mux          *http.ServeMux
	handler      http.Handler
	// handleWrite and handleDelete behind the white list, built once.
	guardedWrite, guardedDelete http.Handler
	srv                         *httpx.Server

	recordBufs bufferPool // needle records being read
	bodyBufs   bytesPool  // uploads, gzip output, inflated reads, replica records

	// repl is the replica protocol: writes and deletes as a primary,
	// replica states, rejoin syncs, anti-entropy, read repair, copies.
	repl *replication.Coordinator
	// copyLimit paces the .dat streams this server sends (copies,
	// backups).
	copyLimit *replication.RateLimiter

	// Background work is owned by the Server (goFunc) and waited for by
	// Shutdown, which cancels life.
	life     context.Context
	stopLife context.CancelFunc
	owned    owned.Group // the goroutines Shutdown waits for
}

// NewServer checks opts and builds a Server on store. It does no I/O. The
// Server owns the store from then on: Shutdown closes it.
func NewServer(store *volume.Store, opts ServerOptions) (*Server, error) {
	if store == nil {
		return nil, errors.New("volume: NewServer needs a Store")
	}
	if opts.Port == 0 {
		opts.Port = DefaultPort
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("volume: port %d out of range", opts.Port)
	}
	if opts.PulseSeconds == 0 {
		opts.PulseSeconds = DefaultPulseSeconds
	}
	if opts.PulseSeconds < 0 {
		return nil, fmt.Errorf("volume: pulse %d seconds is negative", opts.PulseSeconds)
	}
	if opts.MaxUploadBytes == 0 {
		opts.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if opts.MaxUploadBytes < 0 {
		return nil, fmt.Errorf("volume: max upload %d bytes is negative", opts.MaxUploadBytes)
	}
	if opts.LookupTTL == 0 {
		opts.LookupTTL = DefaultLookupTTL
	}
	if opts.ConcurrentUploadBytes == 0 {
		opts.ConcurrentUploadBytes = DefaultConcurrentUploadBytes
	}
	if opts.UploadWait == 0 {
		opts.UploadWait = DefaultUploadWait
	}
	if opts.UploadWait < 0 {
		return nil, fmt.Errorf("volume: upload wait %v is negative", opts.UploadWait)
	}
	var masters []string
	for _, m := range opts.Masters {
		m = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(m), "http://"), "/")
		if m != "" {
			masters = append(masters, m)
		}
	}
	if len(masters) == 0 {
		return nil, errors.New("volume: no master address given")
	}
	opts.Masters = masters
	guard, err := httpx.NewWhiteList(opts.WhiteList)
	if err != nil {
		return nil, fmt.Errorf("volume: %w", err)
	}
	fanout := replication.NewFanout(replication.FanoutOptions{})
	// Master lookups and chunk reads share the fan-out's keep-alive pool.
	hc := &http.Client{Transport: fanout.Client().Transport}
	cl, err := client.New(strings.Join(masters, ","), client.WithHTTPClient(hc), client.WithLookupTTL(opts.LookupTTL))
	if err != nil {
		return nil, fmt.Errorf("volume: %w", err)
	}
	s := &Server{
		store:        store,
		opts:         opts,
		readRedirect: opts.ReadRedirect == nil || *opts.ReadRedirect,
		maxUpload:    opts.MaxUploadBytes,
		uploads:      newUploadLimiter(opts.ConcurrentUploadBytes),
		uploadWait:   opts.UploadWait,
		client:       cl,
		fanout:       fanout,
		guard:        guard,
		signer:       security.NewSigner(opts.Secret, 0),
		recordBufs:   newBufferPool(64<<10, maxPooledBuffer),
		bodyBufs:     newBytesPool(maxPooledBuffer),
	}
	if err := s.initReadModeAndChunkClient(); err != nil {
		return nil, err
	}
	s.id.Store(&identity{addr: ":" + strconv.Itoa(opts.Port)})
	if opts.IP != "" {
		s.id.Store(&identity{addr: net.JoinHostPort(opts.IP, strconv.Itoa(opts.Port)), known: true})
	}
	pulse := time.Duration(opts.PulseSeconds) * time.Second
	s.hb = newHeartbeater(s, masters, pulse)
	store.OnSpaceChange(s.hb.beatSoon)
	if s.opts.CopyBytesPerSecond == 0 {
		s.opts.CopyBytesPerSecond = replication.DefaultCopyBytesPerSecond
	}
	s.copyLimit = replication.NewRateLimiter(s.opts.CopyBytesPerSecond)
	s.repl, err = replication.NewCoordinator(replication.Config{
		Pulse:                     pulse,
		SyncSlack:                 opts.SyncSlack,
		AntiEntropyInterval:       opts.AntiEntropyInterval,
		AntiEntropyBytesPerSecond: opts.AntiEntropyBytesPerSecond,
	}, replication.Deps{
		Store:            store,
		Masters:          masterCalls{s},
		Peers:            replication.NewHTTPPeers(fanout, s.signer),
		Fanout:           fanout,
		Self:             s.knownSelf,
		BeatSoon:         s.hb.beatSoon,
		InvalidateLookup: cl.Invalidate,
	})
	if err != nil {
		return nil, fmt.Errorf("volume: %w", err)
	}
	s.life, s.stopLife = context.WithCancel(context.Background())
	s.guardedWrite = guard.Wrap(http.HandlerFunc(s.handleWrite))
	s.guardedDelete = guard.Wrap(http.HandlerFunc(s.handleDelete))
	s.mux = s.routes()
	s.handler = http.HandlerFunc(s.dispatch)
	s.srv = httpx.NewServer("volume", s.handler, s.logReady)
	s.srv.SetIdleTimeout(opts.IdleTimeout)
	return s, nil
}

// dispatch is the server's handler. A request for a file (the hot path:
// every read, write and delete of a needle) goes straight to handleFile;
// /status, /admin/... and any path ServeMux would clean or redirect go
// through the router.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	if isFilePath(r.URL.Path) {
		s.handleFile(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// isFilePath reports whether p is a path the router would hand to
// handleFile unchanged: not /status, nothing under /admin, and clean (no
// "//", no "/." element, which ServeMux redirects).
func isFilePath(p string) bool {
	return len(p) > 1 && p[0] == '/' && p != "/status" && !strings.HasPrefix(p, "/admin") &&
		!strings.Contains(p, "//") && !strings.Contains(p, "/.")
}

// routes builds the request router.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	allowed := make(map[string]string) // admin path -> its method
	admin := func(pattern string, h http.HandlerFunc) {
		method, path, _ := strings.Cut(pattern, " ")
		var handler http.Handler = h
		if wire.ChangesState(method, path) {
			handler = s.signer.RequireAdmin(handler)
		}
		mux.Handle(pattern, s.guard.Wrap(handler))
		allowed[path] = method
	}
	mux.HandleFunc("GET /status", s.handleStatus)
	admin("POST "+wire.AssignVolumePath, s.handleAssignVolume)
	admin("POST "+wire.DeleteVolumePath, s.handleDeleteVolume)
	admin("GET "+wire.VacuumCheckPath, s.handleVacuumCheck)
	admin("POST "+wire.VacuumCompactPath, s.handleVacuumCompact)
	admin("POST "+wire.VacuumCommitPath, s.handleVacuumCommit)
	admin("POST "+wire.VacuumCleanupPath, s.handleVacuumCleanup)
	admin("POST "+wire.DeleteCollectionPath, s.handleDeleteCollection)
	s.syncRoutes(admin)
	mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		if method, ok := allowed[r.URL.Path]; ok {
			w.Header().Set("Allow", method)
			httpx.WriteError(w, r, http.StatusMethodNotAllowed, r.URL.Path+" takes "+method)
			return
		}
		httpx.WriteError(w, r, http.StatusNotFound, "no admin endpoint "+r.URL.Path)
	})
	mux.HandleFunc("/", s.handleFile)
	return mux
}

// handleFile dispatches a request for a file path by method.
func (s *Server) handleFile(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.handleRead(w, r)
	case http.MethodPost, http.MethodPut:
		s.guardedWrite.ServeHTTP(w, r)
	case http.MethodDelete:
		s.guardedDelete.ServeHTTP(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, DELETE")
		httpx.WriteError(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
	}
}

// identity is the server's "ip:port" in the topology. Until a master names
// the address of a server started without an IP, addr is ":port" and known
// is false.
type identity struct {
	addr  string
	known bool
}

// self returns the server's "ip:port", or ":port" while it is unknown.
func (s *Server) self() string { return s.id.Load().addr }

// knownSelf returns the server's "ip:port" and whether it is known yet.
func (s *Server) knownSelf() (string, bool) {
	id := s.id.Load()
	return id.addr, id.known
}

// adoptIP makes ip, the address the leading master registered this server
// under, its identity, unless an IP was configured.
func (s *Server) adoptIP(ip string) {
	if s.opts.IP != "" || ip == "" {
		return
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(s.opts.Port))
	if old := s.id.Swap(&identity{addr: addr, known: true}); !old.known || old.addr != addr {
		glog.Infof("volume server is %s (the address the master sees)", addr)
	}
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Store returns the store the server serves.
func (s *Server) Store() *volume.Store { return s.store }

// Run sends heartbeats to the masters until ctx ends or Shutdown: one
// right away, then every pulse and after every volume created or deleted.
// Master failures and leader changes are handled inside. It also runs the
// replica protocol's loops (rejoin syncs of syncing replicas, periodic
// anti-entropy passes) and measures the disks' free space every second (a
// directory that runs low on space, or has space again, is reported to
// the master at once). Every one runs in a goroutine the Server owns;
// Run returns when they have all ended, and Shutdown waits for them.
func (s *Server) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.life, cancel)()
	var loops sync.WaitGroup
	for _, loop := range []func(){
		func() { s.repl.Run(ctx) },
		func() { s.watchSpace(ctx) },
		func() { s.hb.run(ctx) },
	} {
		loops.Add(1)
		if !s.goFunc(func() { defer loops.Done(); loop() }) {
			loops.Done()
			cancel()
		}
	}
	loops.Wait()
}

// goFunc runs f in a goroutine the Server owns: Shutdown waits for it
// (hashicorp/raft's goFunc). It reports false, and does not run f, once
// Shutdown has begun.
func (s *Server) goFunc(f func()) bool {
	return s.owned.Go(f)
}

// spaceCheckInterval is how often the store's free disk space is measured
// between heartbeats.
const spaceCheckInterval = time.Second

// watchSpace measures the store's free space every spaceCheckInterval
// until ctx ends; a change of a directory's state triggers a heartbeat
// (Store.OnSpaceChange).
func (s *Server) watchSpace(ctx context.Context) {
	t := time.NewTicker(spaceCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.store.CheckSpace()
		}
	}
}

// ListenAndServe listens on BindIP:Port and serves until Shutdown. It
// returns nil after Shutdown.
func (s *Server) ListenAndServe() error {
	return s.srv.ListenAndServe(net.JoinHostPort(s.opts.BindIP, strconv.Itoa(s.opts.Port)))
}

// Serve serves on ln until Shutdown, logging one ready line first. It
// returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.srv.Serve(ln) }

// logReady logs the volume server's ready line.
func (s *Server) logReady(ln net.Listener) {
	glog.Infof("Start weed volume server %s at %s", version.Version, s.self())
	glog.V(1).Infof("volume server listening on %s", ln.Addr())
}

// Shutdown stops the background work (Run's loops: heartbeats, the space
// watcher, the sync loop and the syncs it started, anti-entropy) and
// accepting connections, waits (until ctx ends) for the requests in flight
// to finish and for every goroutine the Server started to return, then
// closes the store. If they did not end in time the store is closed anyway
// and ctx's error returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.owned.Stop()
	s.stopLife()
	var errs []error
	if err := s.srv.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.owned.Wait(ctx); err != nil && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("volume: background work still running: %w", err))
	}
	s.fanout.Close()
	if err := s.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("volume: close store: %w", err))
	}
	return errors.Join(errs...)
}

// maxPooledBuffer is the largest buffer kept for reuse; bigger ones (large
// files) are left to the garbage collector.
const maxPooledBuffer = 4 << 20

// bufferPool recycles byte slices for needle records.
type bufferPool struct {
	p   *sync.Pool
	max int
}

func newBufferPool(initial, max int) bufferPool {
	return bufferPool{max: max, p: &sync.Pool{New: func() any {
		b := make([]byte, initial)
		return &b
	}}}
}

func (bp bufferPool) get() *[]byte { return bp.p.Get().(*[]byte) }

// put returns b (possibly grown by its user) to the pool.
func (bp bufferPool) put(b *[]byte) {
	if cap(*b) <= bp.max {
		bp.p.Put(b)
	}
}

// bytesPool recycles bytes.Buffers.
type bytesPool struct {
	p   *sync.Pool
	max int
}

func newBytesPool(max int) bytesPool {
	return bytesPool{max: max, p: &sync.Pool{New: func() any { return new(bytes.Buffer) }}}
}

func (bp bytesPool) get() *bytes.Buffer {
	b := bp.p.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func (bp bytesPool) put(b *bytes.Buffer) {
	if b != nil && b.Cap() <= bp.max {
		bp.p.Put(b)
	}
}
