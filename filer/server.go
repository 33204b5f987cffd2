package filer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/internal/health"
	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/internal/metrics"
	"github.com/weedfs/weed/internal/version"
)

// FilerOptions configures a filer server: the flags of `weed filer`.
type FilerOptions struct {
	// IP and Port are the address the server is reached at, logged in the
	// ready line; ListenAndServe listens on IP:Port (every interface when
	// IP is empty).
	IP   string
	Port int
	// Dir is where the bolt store keeps its file (BoltFileName). Required
	// unless RedisServer is set.
	Dir string
	// Master lists the masters, "host:port" separated by commas.
	Master string
	// DefaultReplication is the placement of writes that name none
	// (-defaultReplicaPlacement).
	DefaultReplication string
	// Collection is the collection of writes that name none.
	Collection string
	// RedisServer, when set, keeps the entries in that Redis server
	// ("host:port") instead of bolt, so that several filers share them.
	RedisServer string
	// RedisSentinels, when set, keeps the entries in the Redis master
	// that these sentinels ("host:port" separated by commas) know as
	// RedisMasterName, following it through failovers.
	RedisSentinels  string
	RedisMasterName string
	// RedisCluster, when set, keeps the entries in the Redis Cluster
	// reached through these nodes ("host:port" separated by commas).
	RedisCluster  string
	RedisPassword string
	RedisDatabase int
	// RedisWaitReplicas is how many replicas must acknowledge each write
	// before it is acknowledged (Redis WAIT); -1 means the default:
	// DefaultSentinelWaitReplicas with sentinels, 0 otherwise.
	RedisWaitReplicas int
	// RedisWaitTimeout bounds that wait (0: DefaultRedisWaitTimeout).
	RedisWaitTimeout time.Duration
	// MaxMB is the chunk size in MiB (0 means DefaultMaxMB).
	MaxMB int
	// Secret is the cluster's -secure.secret: the filer signs the tokens
	// of the needle deletes it sends (old versions of overwritten files,
	// removed files) itself. Writes carry the master's token from their
	// assign either way. Empty: no tokens of its own.
	Secret string
	// RedirectOnRead answers a read of a file stored as one needle with a
	// 302 to a volume server holding it (its public URL) instead of
	// proxying the bytes (-redirectOnRead, weed-fs 0.70). Chunked files are
	// still served by the filer.
	RedirectOnRead bool
	// DisableDirListing answers a GET or HEAD of a directory with 405
	// instead of its listing (-disableDirListing, weed-fs 0.70).
	DisableDirListing bool
	// IdleTimeout, when positive, closes a connection that sends no
	// request header for this long (-idleTimeout, weed-fs 0.70's);
	// 0 keeps httpx's defaults.
	IdleTimeout time.Duration
	// Metrics is the registry the filer's metrics go to; nil: its own.
	Metrics *metrics.Registry
	// AccessLog, when not nil, gets one line per request (-accessLog).
	AccessLog *metrics.AccessLog
}

// redisKeyPrefix is the prefix of every key filers keep in Redis; filers on
// one server and database share the namespace under it.
const redisKeyPrefix = "weed:filer:"

// redisStartTimeout bounds the first contact with Redis.
const redisStartTimeout = 10 * time.Second

// Server is the filer's HTTP API over a Filer (see SPEC §5): writes, reads,
// listings and deletes by path. Build it with NewServer, serve Handler (or
// call Serve/ListenAndServe) and stop it with Shutdown. Safe for concurrent
// use.
type Server struct {
	opts    FilerOptions
	filer   *Filer
	store   Store
	hc      *http.Client
	handler http.Handler
	srv     *httpx.Server
	// metrics.go
	metrics   *metrics.Registry
	readiness *health.Readiness
}

// NewServer opens the store named by opts (the bolt file in opts.Dir, or
// the Redis server, which must answer) and returns a server ready to serve.
// The server owns the store: Shutdown closes it.
func NewServer(opts FilerOptions) (*Server, error) {
	hc := &http.Client{Transport: newTransport()}
	c, err := client.New(opts.Master, client.WithHTTPClient(hc), client.WithSecret(opts.Secret))
	if err != nil {
		return nil, fmt.Errorf("filer: %w", err)
	}
	var store Store
	if ro, ok := opts.redisOptions(); ok {
		ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
		store, err = OpenRedisStore(ctx, ro)
		cancel()
	} else {
		if opts.Dir == "" {
			return nil, errors.New("filer: a directory (-dir) is required without -redis.server, -redis.sentinel or -redis.cluster")
		}
		store, err = OpenBoltStore(opts.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("filer: open store: %w", err)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewRegistry()
	}
	store = newMeteredStore(store, opts.Metrics)
	f, err := NewFiler(store, c, Options{
		DefaultReplication: opts.DefaultReplication,
		Collection:         opts.Collection,
		MaxMB:              opts.MaxMB,
	})
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	s := &Server{opts: opts, filer: f, store: store, hc: hc}
	s.handler = s.initMetrics(http.HandlerFunc(s.serveHTTP))
	s.srv = httpx.NewServer("filer", s.handler, s.logReady)
	s.srv.SetIdleTimeout(opts.IdleTimeout)
	return s, nil
}

// DefaultSentinelWaitReplicas is how many replicas acknowledge each write
// of a filer on Redis Sentinel unless told otherwise: one, so that an
// acknowledged write is on two machines when sentinels fail over.
const DefaultSentinelWaitReplicas = 1

// redisOptions returns the Redis store opts names, and false when they
// name none (the bolt store).
func (opts FilerOptions) redisOptions() (RedisOptions, bool) {
	if opts.RedisServer == "" && opts.RedisSentinels == "" && opts.RedisCluster == "" {
		return RedisOptions{}, false
	}
	ro := RedisOptions{
		Addr:          opts.RedisServer,
		SentinelAddrs: splitAddrs(opts.RedisSentinels),
		MasterName:    opts.RedisMasterName,
		ClusterAddrs:  splitAddrs(opts.RedisCluster),
		Password:      opts.RedisPassword,
		DB:            opts.RedisDatabase,
		KeyPrefix:     redisKeyPrefix,
		WaitReplicas:  opts.RedisWaitReplicas,
		WaitTimeout:   opts.RedisWaitTimeout,
	}
	if ro.WaitReplicas < 0 {
		ro.WaitReplicas = 0
		if len(ro.SentinelAddrs) > 0 {
			ro.WaitReplicas = DefaultSentinelWaitReplicas
		}
	}
	return ro, true
}

// splitAddrs splits a comma-separated list of addresses, dropping empty
// items.
func splitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// newTransport returns the transport the filer reaches volume servers and
// masters with: many kept-alive connections per server, and no automatic
// gzip, so that stored gzip bytes pass through untouched when a client asks
// for them and are inflated by the volume server otherwise.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.DisableCompression = true
	return t
}

// Filer returns the Filer the server serves.
func (s *Server) Filer() *Filer { return s.filer }

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// ListenAndServe listens on IP:Port and serves until Shutdown. It returns
// nil after Shutdown.
func (s *Server) ListenAndServe() error {
	return s.srv.ListenAndServe(net.JoinHostPort(s.opts.IP, strconv.Itoa(s.opts.Port)))
}

// Serve serves on ln until Shutdown, logging one ready line first. It
// returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.srv.Serve(ln) }

// logReady logs the filer's ready line: IP (or the listener's host when
// IP is empty) and the port listened on.
func (s *Server) logReady(ln net.Listener) {
	host, port := s.opts.IP, strconv.Itoa(s.opts.Port)
	if h, p, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		if host == "" {
			host = h
		}
		port = p
	}
	glog.Infof("Start weed filer %s at %s", version.Version, net.JoinHostPort(host, port))
}

// Shutdown stops accepting connections, waits (until ctx ends) for the
// requests in flight to finish, then closes the store. If the requests did
// not finish in time the store is closed anyway and ctx's error returned.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	if err := s.srv.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("filer: close store: %w", err))
	}
	s.hc.CloseIdleConnections()
	return errors.Join(errs...)
}

// serveHTTP routes by method; every path is a filer path.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	glog.V(3).Infof("filer: %s %s", r.Method, r.URL)
	if s.serveMonitoring(w, r) {
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.handleRead(w, r)
	case http.MethodPost, http.MethodPut:
		if r.Method == http.MethodPost && r.URL.Query().Has("mv.from") {
			s.handleMove(w, r)
			return
		}
		s.handleWrite(w, r)
	case http.MethodDelete:
		s.handleDelete(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, DELETE")
		httpx.WriteError(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
	}
}

// errorStatus maps a Filer error to the HTTP status of its reply.
func errorStatus(err error) int {
	switch {
	case errors.Is(err, ErrBadPath), errors.Is(err, ErrBadParam), errors.Is(err, ErrBadUpload):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrIsDirectory), errors.Is(err, ErrNotDirectory), errors.Is(err, ErrNotEmpty), errors.Is(err, ErrNoParent):
		return http.StatusConflict
	case errors.Is(err, ErrStoreUnavailable), errors.Is(err, ErrNotReplicated):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeFilerError answers err as {"error": "..."} with its status, logging
// server-side failures.
func writeFilerError(w http.ResponseWriter, r *http.Request, err error) {
	status := errorStatus(err)
	if status == http.StatusServiceUnavailable {
		// The store is failing over or down: one line per request would
		// flood the log, and the client is told to try again.
		glog.V(1).Infof("filer: %s %s: %v", r.Method, r.URL.Path, err)
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, r, status, err.Error())
		return
	}
	if status >= 500 {
		glog.Errorf("filer: %s %s: %v", r.Method, r.URL.Path, err)
	} else {
		glog.V(2).Infof("filer: %s %s: %v", r.Method, r.URL.Path, err)
	}
	httpx.WriteError(w, r, status, err.Error())
}

// handleDelete serves DELETE /path and DELETE /dir/?recursive=true:
// 202 {} once the entries are gone.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	p, _, err := CleanPath(r.URL.Path)
	if err != nil {
		writeFilerError(w, r, err)
		return
	}
	recursive := r.URL.Query().Get("recursive") == "true"
	if err := s.filer.Delete(r.Context(), p, recursive); err != nil {
		writeFilerError(w, r, err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusAccepted, struct{}{})
}
