package metrics

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/weedfs/weed/internal/metrics/metricstest"
)

func classifyPath(q *Requests) Classifier {
	assign, lookup := q.Op("assign"), q.Op("lookup")
	return func(r *http.Request) *Op {
		switch r.URL.Path {
		case "/dir/assign":
			return assign
		case "/dir/lookup":
			return lookup
		}
		return q.Op(OtherOp)
	}
}

func TestInstrumentCounts(t *testing.T) {
	reg := NewRegistry()
	q := NewRequests(reg, "master", "assign", "lookup")
	h := Instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("answer") {
		case "404":
			http.Error(w, "no", http.StatusNotFound)
		case "none":
		case "418":
			w.WriteHeader(http.StatusTeapot)
		default:
			_, _ = io.WriteString(w, "ok")
		}
	}), classifyPath(q), nil)
	requests := []struct{ path, answer string }{
		{"/dir/assign", ""}, {"/dir/assign", ""}, {"/dir/assign", "404"},
		{"/dir/lookup", "none"}, {"/3,01637037d6", ""}, {"/dir/lookup", "418"},
	}
	for _, rq := range requests {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, rq.path+"?answer="+rq.answer, nil))
	}
	want := []struct {
		op, code string
		n        float64
	}{
		{"assign", "200", 2}, {"assign", "404", 1}, {"lookup", "200", 1},
		{"lookup", "418", 1}, {"other", "200", 1}, {"other", "404", 0},
	}
	for _, w := range want {
		if got := testutil.ToFloat64(q.total.WithLabelValues("master", w.op, w.code)); got != w.n {
			t.Errorf("requests_total{op=%s,code=%s} = %v, want %v", w.op, w.code, got, w.n)
		}
	}
	if n := testutil.CollectAndCount(q.duration); n != 3 {
		t.Errorf("%d duration series, want 3 (assign, lookup, other)", n)
	}
}

func TestHandlerPassesPromtool(t *testing.T) {
	reg := NewRegistry()
	q := NewRequests(reg, "filer", "filer_read")
	q.Op("filer_read").Observe(200, time.Millisecond)
	w := httptest.NewRecorder()
	reg.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, Path, nil))
	body := w.Body.Bytes()
	for _, s := range []string{
		`weed_requests_total{code="200",op="filer_read",server="filer"} 1`,
		`weed_request_duration_seconds_count{op="filer_read",server="filer"} 1`,
		"go_goroutines", "process_cpu_seconds_total",
	} {
		if !bytes.Contains(body, []byte(s)) {
			t.Errorf("/metrics lacks %s", s)
		}
	}
	metricstest.CheckMetrics(t, body)
}

func TestAccessLogLine(t *testing.T) {
	var out bytes.Buffer
	l := NewAccessLog(&out, nil)
	reg := NewRegistry()
	q := NewRequests(reg, "master")
	h := Instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}), func(*http.Request) *Op { return q.Op(OtherOp) }, l)
	tests := []struct{ target, want string }{
		{"/dir/assign?count=2", `"GET /dir/assign?count=2 HTTP/1.1" 200 5 `},
		{"/a%22b", `"GET /a%22b HTTP/1.1" 200 5 `},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, tt.target, nil)
		r.RemoteAddr = "10.1.2.3:5555"
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(tests) {
		t.Fatalf("%d lines: %q", len(lines), out.String())
	}
	for i, tt := range tests {
		if !strings.HasPrefix(lines[i], "10.1.2.3 - - [") || !strings.Contains(lines[i], tt.want) {
			t.Errorf("line %q, want client, time and %q", lines[i], tt.want)
		}
	}
}

func TestRecorderKeepsHijack(t *testing.T) {
	reg := NewRegistry()
	q := NewRequests(reg, "master")
	srv := httptest.NewServer(Instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
		_ = brw.Flush()
		_ = conn.Close()
	}), func(*http.Request) *Op { return q.Op(OtherOp) }, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(b) != "hi" {
		t.Fatalf("body %q", b)
	}
}

// BenchmarkInstrument measures what Instrument adds to a timed request
// (counter and histogram): run with -benchmem; the handler does nothing.
func BenchmarkInstrument(b *testing.B) {
	reg := NewRegistry()
	q := NewRequests(reg, "master", "assign", "lookup")
	h := Instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}), classifyPath(q), nil)
	r := httptest.NewRequest(http.MethodGet, "/dir/lookup", nil)
	w := discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.ServeHTTP(w, r)
	}
}

// BenchmarkObserve is the counting alone: one counter and one histogram.
func BenchmarkObserve(b *testing.B) {
	q := NewRequests(NewRegistry(), "master", "assign")
	op := q.Op("assign")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		op.Observe(200, 150*time.Microsecond)
	}
}

type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}

// BenchmarkInstrumentCountOnly is Instrument for a CountOnly op (the
// master's assign).
func BenchmarkInstrumentCountOnly(b *testing.B) {
	reg := NewRegistry()
	q := NewRequests(reg, "master", "assign", "lookup")
	q.CountOnly("assign")
	h := Instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}), classifyPath(q), nil)
	r := httptest.NewRequest(http.MethodGet, "/dir/assign", nil)
	w := discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.ServeHTTP(w, r)
	}
}
