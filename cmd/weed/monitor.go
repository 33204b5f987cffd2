package main

import (
	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/metrics"
)

// monitorFlags are -metricsPort and -accessLog, of `weed master`, `weed
// filer` and `weed server` (where the master and the filer share them: one
// registry, one metrics listener, one access log).
type monitorFlags struct {
	metricsPort *int
	accessLog   *string

	reg *metrics.Registry  // set by open
	log *metrics.AccessLog // set by open; nil without -accessLog
}

func (m *monitorFlags) define(c *command) {
	m.metricsPort = c.flags.Int("metricsPort", 0, "also serve /metrics on this port (0: only on the http port)")
	m.accessLog = c.flags.String("accessLog", "", `log one line per request (Common Log Format plus seconds taken) to this file, or "-" for stderr; empty: off`)
}

// open builds the registry, opens the access log and starts the metrics
// listener on bind:-metricsPort. A nil m (a command without the flags)
// gives a nil registry and log: each server makes its own registry.
func (m *monitorFlags) open(bind string) error {
	if m == nil || m.reg != nil {
		return nil
	}
	m.reg = metrics.NewRegistry()
	var err error
	if m.log, err = metrics.OpenAccessLog(*m.accessLog); err != nil {
		return err
	}
	if *m.metricsPort > 0 {
		return m.reg.ServeSeparately(listenAddr(bind, *m.metricsPort))
	}
	return nil
}

// registry and accessLog are what the servers are given (nil for a nil m).
func (m *monitorFlags) registry() *metrics.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

func (m *monitorFlags) accessLogger() *metrics.AccessLog {
	if m == nil {
		return nil
	}
	return m.log
}

// close flushes and closes the access log.
func (m *monitorFlags) close() {
	if l := m.accessLogger(); l != nil {
		if err := l.Close(); err != nil {
			glog.Warningf("%v", err)
		}
	}
}
