package filer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weedfs/weed/internal/health"
	"github.com/weedfs/weed/internal/metrics"
)

// The filer's request ops (weed_requests_total{server="filer"}).
const (
	opRead   = "filer_read"
	opWrite  = "filer_write"
	opDelete = "filer_delete"
)

// filerRoutes are the monitoring endpoints the filer answers itself on GET
// and HEAD, before its paths: a file stored at /metrics, /healthz or
// /readyz is reachable for every other method only.
var filerRoutes = map[string]string{
	metrics.Path:     "metrics",
	health.LivePath:  "healthz",
	health.ReadyPath: "readyz",
}

// initMetrics sets up the registry (unless opts gives one), the request
// metrics, the store's operation metrics and readiness, and returns the
// instrumented handler of next.
func (s *Server) initMetrics(next http.Handler) http.Handler {
	s.metrics = s.opts.Metrics
	if s.metrics == nil {
		s.metrics = metrics.NewRegistry()
	}
	s.readiness = health.NewReadiness(s.checkReady, 0, 0)
	q := metrics.NewRequests(s.metrics, "filer", opRead, opWrite, opDelete, "metrics", "healthz", "readyz")
	read, write, del, other := q.Op(opRead), q.Op(opWrite), q.Op(opDelete), q.Op(metrics.OtherOp)
	routes := make(map[string]*metrics.Op, len(filerRoutes))
	for path, op := range filerRoutes {
		routes[path] = q.Op(op)
	}
	classify := func(r *http.Request) *metrics.Op {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			if op, ok := routes[r.URL.Path]; ok {
				return op
			}
			return read
		case http.MethodPost, http.MethodPut:
			return write
		case http.MethodDelete:
			return del
		}
		return other
	}
	return metrics.Instrument(next, classify, s.opts.AccessLog)
}

// serveMonitoring answers /metrics, /healthz and /readyz (GET, HEAD) and
// reports whether it did.
func (s *Server) serveMonitoring(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	switch r.URL.Path {
	case metrics.Path:
		s.metrics.Handler().ServeHTTP(w, r)
	case health.LivePath:
		health.Live(w, r)
	case health.ReadyPath:
		s.readiness.ServeHTTP(w, r)
	default:
		return false
	}
	return true
}

// Metrics returns the filer's registry, to serve on -metricsPort.
func (s *Server) Metrics() *metrics.Registry { return s.metrics }

// checkReady is the filer's readiness: its store answers a listing of "/"
// and one of its masters answers /cluster/status.
func (s *Server) checkReady(ctx context.Context) error {
	if _, err := s.store.List(ctx, "/", "", 1); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	var errs []error
	for _, m := range s.filer.Client().Masters() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m+masterStatusPath, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		resp, err := s.hc.Do(req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		errs = append(errs, fmt.Errorf("master %s answered %s", m, resp.Status))
	}
	return fmt.Errorf("no master reachable: %w", errors.Join(errs...))
}

// masterStatusPath is the master endpoint readiness asks: every master
// answers it itself (raftnode.StatusPath).
const masterStatusPath = "/cluster/status"

// meteredStore counts and times the operations of the Store it wraps
// (weed_filer_store_operations_total{op,result},
// weed_filer_store_duration_seconds{op}). Methods it does not know pass
// through unmeasured.
type meteredStore struct {
	Store
	ops map[string]*storeOp
}

type storeOp struct {
	ok, failed prometheus.Counter
	duration   prometheus.Observer
}

func newMeteredStore(st Store, reg *metrics.Registry) *meteredStore {
	total := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "filer", Name: "store_operations_total",
		Help: "Operations on the filer's store (bolt or Redis), by operation and result (ok, error; a missing entry is ok).",
	}, []string{"op", "result"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metrics.Namespace, Subsystem: "filer", Name: "store_duration_seconds",
		Help:    "Time of one operation on the filer's store.",
		Buckets: metrics.DurationBuckets,
	}, []string{"op"})
	reg.MustRegister(total, duration)
	m := &meteredStore{Store: st, ops: make(map[string]*storeOp)}
	for _, op := range []string{"insert", "find", "delete", "replace", "create", "remove", "list"} {
		m.ops[op] = &storeOp{
			ok:       total.WithLabelValues(op, "ok"),
			failed:   total.WithLabelValues(op, "error"),
			duration: duration.WithLabelValues(op),
		}
	}
	return m
}

func (m *meteredStore) done(op string, start time.Time, err error) {
	o := m.ops[op]
	o.duration.Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, ErrNotFound) {
		o.failed.Inc()
		return
	}
	o.ok.Inc()
}

func (m *meteredStore) Insert(ctx context.Context, e *Entry) error {
	start := time.Now()
	err := m.Store.Insert(ctx, e)
	m.done("insert", start, err)
	return err
}

func (m *meteredStore) Find(ctx context.Context, p string) (*Entry, error) {
	start := time.Now()
	e, err := m.Store.Find(ctx, p)
	m.done("find", start, err)
	return e, err
}

func (m *meteredStore) Delete(ctx context.Context, p string) error {
	start := time.Now()
	err := m.Store.Delete(ctx, p)
	m.done("delete", start, err)
	return err
}

func (m *meteredStore) Replace(ctx context.Context, e *Entry) (*Entry, error) {
	start := time.Now()
	old, err := m.Store.Replace(ctx, e)
	m.done("replace", start, err)
	return old, err
}

func (m *meteredStore) Create(ctx context.Context, e *Entry) (*Entry, error) {
	start := time.Now()
	old, err := m.Store.Create(ctx, e)
	m.done("create", start, err)
	return old, err
}

func (m *meteredStore) Remove(ctx context.Context, p string) (*Entry, error) {
	start := time.Now()
	old, err := m.Store.Remove(ctx, p)
	m.done("remove", start, err)
	return old, err
}

func (m *meteredStore) List(ctx context.Context, dir, after string, limit int) ([]*Entry, error) {
	start := time.Now()
	es, err := m.Store.List(ctx, dir, after, limit)
	m.done("list", start, err)
	return es, err
}
