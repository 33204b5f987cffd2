package metrics

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// OtherOp is the op of requests an Ops table does not name.
const OtherOp = "other"

// DurationBuckets are the bounds, in seconds, of
// weed_request_duration_seconds: from 100 µs (an assign, a cached read) to
// 10 s (a large upload, a vacuum).
var DurationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Requests records weed_requests_total{server,op,code} and
// weed_request_duration_seconds{server,op} of one server. Build it with
// NewRequests; look its ops up once with Op and record with Op.Observe or
// Instrument. Safe for concurrent use.
type Requests struct {
	server   string
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	ops      map[string]*Op
	other    *Op
}

// NewRequests registers the request metrics of server ("master",
// "volume", "filer") in reg, with a child per op in ops (and OtherOp)
// resolved now, so that recording a request only adds to counters.
func NewRequests(reg *Registry, server string, ops ...string) *Requests {
	q := &Requests{
		server: server,
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "requests_total",
			Help:      "HTTP requests answered, by server, operation and status code.",
		}, []string{"server", "op", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace,
			Name:      "request_duration_seconds",
			Help:      "Time to answer an HTTP request, from its headers read to its handler's return, by server and operation.",
			Buckets:   DurationBuckets,
		}, []string{"server", "op"}),
		ops: make(map[string]*Op, len(ops)+1),
	}
	q.total = register(reg, q.total)
	q.duration = register(reg, q.duration)
	for _, name := range append(ops, OtherOp) {
		if _, ok := q.ops[name]; !ok {
			q.ops[name] = q.newOp(name)
		}
	}
	q.other = q.ops[OtherOp]
	return q
}

// register registers c in reg, or returns the collector of the same
// metric registered before (`weed server` shares one registry among its
// servers, which differ by the server label).
func register[C prometheus.Collector](reg *Registry, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("metrics: register: %v", err))
	}
	return c
}

func (q *Requests) newOp(name string) *Op {
	op := &Op{name: name, q: q, duration: q.duration.WithLabelValues(q.server, name)}
	// Every op's 200 series exists from the start (rate() sees its first
	// request); another code's child is created at its first request, once:
	// afterwards it is an atomic load away, as the 200 one.
	op.counter(http.StatusOK)
	return op
}

// CountOnly makes the named ops count their requests without timing them:
// no clock read and no histogram on their path (the master's assign, whose
// whole cost is a few hundred nanoseconds). Call it before serving.
func (q *Requests) CountOnly(names ...string) {
	for _, name := range names {
		if op, ok := q.ops[name]; ok {
			op.untimed = true
		}
	}
}

// Op returns the recorder of op name, or that of OtherOp for a name not
// given to NewRequests. The lookup is a map read: callers on a hot path
// keep the *Op.
func (q *Requests) Op(name string) *Op {
	if op, ok := q.ops[name]; ok {
		return op
	}
	return q.other
}

// Op records the requests of one operation. Safe for concurrent use.
type Op struct {
	name     string
	q        *Requests
	duration prometheus.Observer
	untimed  bool // CountOnly
	// codes holds one counter per status code, created on first use (200
	// by newOp): a code's first request costs one allocation, the next ones
	// none.
	codes [600]atomic.Pointer[counterRef]
}

type counterRef struct{ c prometheus.Counter }

// Name returns the op's label value.
func (o *Op) Name() string { return o.name }

func (o *Op) counter(code int) prometheus.Counter {
	if code < 100 || code >= len(o.codes) {
		code = 599
	}
	if ref := o.codes[code].Load(); ref != nil {
		return ref.c
	}
	ref := &counterRef{c: o.q.total.WithLabelValues(o.q.server, o.name, codeString(code))}
	if !o.codes[code].CompareAndSwap(nil, ref) {
		ref = o.codes[code].Load()
	}
	return ref.c
}

// Observe records one request answered with code after d (d is ignored
// for a CountOnly op). It allocates nothing for a code seen before.
func (o *Op) Observe(code int, d time.Duration) {
	o.counter(code).Inc()
	if !o.untimed {
		o.duration.Observe(d.Seconds())
	}
}

func codeString(code int) string {
	return string([]byte{byte('0' + code/100), byte('0' + code/10%10), byte('0' + code%10)})
}

// Classifier names the op of a request, before it is served. It must not
// allocate: it runs on every request (a switch or map lookup on
// r.URL.Path).
type Classifier func(r *http.Request) *Op

// Instrument wraps h: every request is counted by the op classify names
// and its status code, timed, and, with a non-nil log, written to the
// access log. The cost per request is a pooled response recorder, two
// clock reads and a few atomic adds (a pooled recorder and one atomic add
// for a CountOnly op without access log); no allocation. The recorder keeps
// the powers of the ResponseWriter it wraps that weed uses (Flush, Hijack,
// ReadFrom, and http.ResponseController through Unwrap).
func Instrument(h http.Handler, classify Classifier, log *AccessLog) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := classify(r)
		var start time.Time
		timed := !op.untimed || log != nil
		if timed {
			start = time.Now()
		}
		rec := recorderPool.Get().(*recorder)
		rec.ResponseWriter, rec.status, rec.bytes = w, 0, 0
		h.ServeHTTP(rec, r)
		var d time.Duration
		if timed {
			d = time.Since(start)
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		if rec.hijacked {
			status = http.StatusSwitchingProtocols
		}
		op.Observe(status, d)
		if log != nil {
			log.Write(start, r, status, rec.bytes, d)
		}
		*rec = recorder{}
		recorderPool.Put(rec)
	})
}

var recorderPool = sync.Pool{New: func() any { return new(recorder) }}

// recorder is the ResponseWriter handlers see under Instrument: it notes
// the status and counts the body bytes.
type recorder struct {
	http.ResponseWriter
	status   int
	bytes    int64
	hijacked bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the wrapped writer's sendfile path (io.Copy from a file).
func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := r.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(struct{ io.Writer }{r.ResponseWriter}, src)
	}
	r.bytes += n
	return n, err
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	r.hijacked = true
	return hj.Hijack()
}

// Unwrap lets http.ResponseController reach the wrapped writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
