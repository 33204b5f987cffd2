// Package health answers the probes of every weed server: /healthz (the
// process answers) and /readyz (it can serve), for Kubernetes liveness and
// readiness probes and load balancers.
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// Paths of the probes.
const (
	LivePath  = "/healthz"
	ReadyPath = "/readyz"
)

// DefaultCacheFor is how long a readiness answer is reused: probes from
// several load balancers do not each cost a store round trip.
const DefaultCacheFor = time.Second

// DefaultTimeout bounds one readiness check.
const DefaultTimeout = 2 * time.Second

// Status is the JSON body of both probes.
type Status struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
}

// Check tells whether the server can serve: nil when it can, else an
// error whose text is the reason given to the probe. It must return by
// ctx's deadline.
type Check func(ctx context.Context) error

// Live answers /healthz: 200 {"ready":true} whenever the process answers.
func Live(w http.ResponseWriter, r *http.Request) {
	write(w, r, http.StatusOK, Status{Ready: true})
}

// Readiness answers /readyz from a Check, running it at most once per
// cacheFor, bounded by timeout. Concurrent probes during a check wait for
// it. Safe for concurrent use.
type Readiness struct {
	check    Check
	cacheFor time.Duration
	timeout  time.Duration
	now      func() time.Time

	mu      sync.Mutex
	checked time.Time
	last    error
}

// NewReadiness returns the /readyz handler of check; zero cacheFor and
// timeout take DefaultCacheFor and DefaultTimeout.
func NewReadiness(check Check, cacheFor, timeout time.Duration) *Readiness {
	if cacheFor == 0 {
		cacheFor = DefaultCacheFor
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Readiness{check: check, cacheFor: cacheFor, timeout: timeout, now: time.Now}
}

// Err returns the (cached) result of the check.
func (rd *Readiness) Err(ctx context.Context) error {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if now := rd.now(); rd.checked.IsZero() || now.Sub(rd.checked) >= rd.cacheFor {
		cctx, cancel := context.WithTimeout(ctx, rd.timeout)
		rd.last = rd.check(cctx)
		cancel()
		rd.checked = rd.now()
	}
	return rd.last
}

// ServeHTTP answers 200 {"ready":true} or 503 {"ready":false,"reason":...}.
func (rd *Readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := rd.Err(r.Context()); err != nil {
		write(w, r, http.StatusServiceUnavailable, Status{Reason: err.Error()})
		return
	}
	write(w, r, http.StatusOK, Status{Ready: true})
}

func write(w http.ResponseWriter, r *http.Request, code int, st Status) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(st)
}
