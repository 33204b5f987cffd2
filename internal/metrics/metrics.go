// Package metrics holds what every weed server shares to be watched: a
// Prometheus registry with the Go runtime and process collectors, the
// request metrics (weed_requests_total, weed_request_duration_seconds)
// recorded by Instrument, the /metrics handler, and the access log. Each
// server adds its own collectors to the Registry (the master's topology
// gauges, the volume server's volumes, the filer's store operations).
package metrics

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/golang/glog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every weed metric name.
const Namespace = "weed"

// Path is where every weed server answers the Prometheus text format.
const Path = "/metrics"

// Registry is one server's Prometheus registry: its own, not the global
// default, so that two servers in one process (`weed server`, tests)
// export separate series. Safe for concurrent use.
type Registry struct {
	*prometheus.Registry
}

// NewRegistry returns a registry holding the Go runtime and process
// collectors.
func NewRegistry() *Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return &Registry{Registry: r}
}

// Handler returns the /metrics handler of the registry: the Prometheus text
// (or OpenMetrics, when asked) exposition of every series. Errors of a
// collector are logged and the rest is still served.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.Registry, promhttp.HandlerOpts{
		ErrorLog:      promLogger{},
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// promLogger sends promhttp's errors to glog.
type promLogger struct{}

func (promLogger) Println(v ...any) { glog.Warning(append([]any{"metrics: "}, v...)...) }

// ServeSeparately serves the registry's /metrics alone on addr (the
// -metricsPort listener) until the process ends; it returns once the
// listener is open, or the listen error.
func (r *Registry) ServeSeparately(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, r.Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	glog.Infof("metrics at http://%s%s", ln.Addr(), Path)
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			glog.Errorf("metrics listener %s: %v", addr, err)
		}
	}()
	return nil
}
