package httpx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server runs the one http.Server of a weed daemon (master, volume server,
// filer): Serve at most once, Shutdown at any time. Build it with
// NewServer. Safe for concurrent use.
type Server struct {
	name    string
	handler http.Handler
	ready   func(ln net.Listener)

	mu   sync.Mutex
	hs   *http.Server  // set by Serve
	idle time.Duration // SetIdleTimeout's, 0 for the defaults
}

// Default timeouts of a weed daemon's connections: a request's headers
// must arrive within DefaultReadHeaderTimeout, and a keep-alive connection
// idle for DefaultIdleTimeout is closed.
const (
	DefaultReadHeaderTimeout = 30 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
)

// SetIdleTimeout replaces both default timeouts with d (weed-fs 0.70's
// -idleTimeout, "connection idle seconds"): a connection that sends no
// request header for d, between requests or at the start, is closed. A
// request already being handled is not cut off. d <= 0 keeps the defaults.
// It takes effect for a Serve that has not started yet.
func (s *Server) SetIdleTimeout(d time.Duration) {
	s.mu.Lock()
	s.idle = d
	s.mu.Unlock()
}

// NewServer returns a Server of handler. name ("master", "volume",
// "filer") prefixes its errors; ready, if not nil, is called once Serve has
// its listener, just before serving, to log the daemon's ready line.
func NewServer(name string, handler http.Handler, ready func(ln net.Listener)) *Server {
	return &Server{name: name, handler: handler, ready: ready}
}

// ListenAndServe listens on addr (TCP) and serves until Shutdown. It
// returns nil after Shutdown.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: listen on %s: %w", s.name, addr, err)
	}
	return s.Serve(ln)
}

// Serve serves on ln until Shutdown, calling ready first. It returns nil
// after Shutdown. A second call closes ln and returns an error at once.
func (s *Server) Serve(ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		IdleTimeout:       DefaultIdleTimeout,
	}
	s.mu.Lock()
	if s.idle > 0 {
		hs.ReadHeaderTimeout, hs.IdleTimeout = s.idle, s.idle
	}
	if s.hs != nil {
		s.mu.Unlock()
		_ = ln.Close()
		return fmt.Errorf("%s: Serve called twice", s.name)
	}
	s.hs = hs
	s.mu.Unlock()
	if s.ready != nil {
		s.ready(ln)
	}
	err := hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("%s: serve: %w", s.name, err)
}

// Shutdown stops accepting connections and waits, until ctx ends, for the
// requests in flight to finish. It returns nil when Serve was never
// called, and ctx's error (wrapped) if the requests did not finish in time.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	hs := s.hs
	s.mu.Unlock()
	if hs == nil {
		return nil
	}
	if err := hs.Shutdown(ctx); err != nil {
		return fmt.Errorf("%s: shutdown: %w", s.name, err)
	}
	return nil
}
