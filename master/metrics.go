package master

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weedfs/weed/internal/health"
	"github.com/weedfs/weed/internal/metrics"
	"github.com/weedfs/weed/master/raftnode"
	"github.com/weedfs/weed/topology"
	"github.com/weedfs/weed/wire"
)

// Volume states of weed_master_volumes and of the console. A volume is in
// the first state that applies, in this order.
const (
	// StateUnderReplicated: fewer copies than its placement asks for.
	StateUnderReplicated = "under_replicated"
	// StateStale: a replica is marked stale (missed a write or delete).
	StateStale = "stale"
	// StateSyncing: a replica is catching up after an outage.
	StateSyncing = "syncing"
	// StateWritable: takes assigns.
	StateWritable = "writable"
	// StateReadOnly: healthy but takes no writes (read-only, full, being
	// vacuumed, or an extra copy).
	StateReadOnly = "readonly"
)

// VolumeStates lists the states, in order of precedence.
var VolumeStates = []string{StateUnderReplicated, StateStale, StateSyncing, StateWritable, StateReadOnly}

// VolumeState returns the state of one volume.
func VolumeState(v topology.VolumeSnapshot) string {
	switch {
	case v.Copies < v.Want:
		return StateUnderReplicated
	case v.Stale:
		return StateStale
	case v.Syncing:
		return StateSyncing
	case v.Writable:
		return StateWritable
	}
	return StateReadOnly
}

// replicaState returns the state of one replica of v, drawn in the
// console: the volume's when it is short of copies, else the replica's own
// stale or syncing mark, else the volume's.
func replicaState(v topology.VolumeSnapshot, r topology.ReplicaSnapshot) string {
	switch {
	case v.Copies < v.Want:
		return StateUnderReplicated
	case r.Stale:
		return StateStale
	case r.Syncing:
		return StateSyncing
	case v.Writable:
		return StateWritable
	}
	return StateReadOnly
}

// Termer tells the current Raft term (raftnode.Node; Deps.Term).
type Termer interface {
	Term() uint64
}

// The master's request ops (the op label of weed_requests_total).
const (
	opAssign = "assign"
	opUI     = "ui"
	// opRedirect is /<fid>: the catch-all route.
	opRedirect = "redirect"
)

// masterOps maps each path the master serves to its op.
var masterOps = map[string]string{
	"/dir/assign":       opAssign,
	"/dir/lookup":       "lookup",
	"/dir/status":       "dir_status",
	"/submit":           "submit",
	"/vol/grow":         "grow",
	"/vol/vacuum":       "vacuum",
	"/vol/status":       "vol_status",
	"/col/delete":       "col_delete",
	wire.HeartbeatPath:  "heartbeat",
	wire.StalePath:      "stale",
	wire.SyncedPath:     "synced",
	wire.StaleListPath:  "stale_list",
	raftnode.StatusPath: "cluster_status",
	raftnode.JoinPath:   "cluster_join",
	raftnode.RaftPath:   "cluster_raft",
	RemovePath:          "cluster_remove",
	metrics.Path:        "metrics",
	health.LivePath:     "healthz",
	health.ReadyPath:    "readyz",
	"/":                 opUI,
	consolePath:         opUI,
	consoleJSONPath:     "ui_json",
}

// masterClassifier resolves every op once and returns the Classifier of
// the master's requests: a map read, no allocation.
func masterClassifier(reg *metrics.Registry) metrics.Classifier {
	names := make([]string, 0, len(masterOps)+1)
	for _, op := range masterOps {
		names = append(names, op)
	}
	names = append(names, opRedirect)
	q := metrics.NewRequests(reg, "master", names...)
	// The hottest master path pays one counter add, no clock read.
	q.CountOnly(opAssign)
	ops := make(map[string]*metrics.Op, len(masterOps))
	for path, op := range masterOps {
		ops[path] = q.Op(op)
	}
	ui, redirect := q.Op(opUI), q.Op(opRedirect)
	return func(r *http.Request) *metrics.Op {
		if op, ok := ops[r.URL.Path]; ok {
			return op
		}
		if strings.HasPrefix(r.URL.Path, consolePath) {
			return ui
		}
		return redirect
	}
}

// masterCollector exports the master's gauges, computed from the topology
// and the Raft node at scrape time: nothing is paid on the request path.
type masterCollector struct {
	s *Server

	isLeader, term, dataNodes, volumes, free, max, grown, repairs *prometheus.Desc
}

func newMasterCollector(s *Server) *masterCollector {
	name := func(n string) string { return prometheus.BuildFQName(metrics.Namespace, "master", n) }
	return &masterCollector{
		s:         s,
		isLeader:  prometheus.NewDesc(name("is_leader"), "1 if this master leads its Raft group, else 0.", nil, nil),
		term:      prometheus.NewDesc(name("raft_term"), "The Raft term this master is in.", nil, nil),
		dataNodes: prometheus.NewDesc(name("data_nodes"), "Volume servers in this master's topology (the leader's is authoritative).", nil, nil),
		volumes: prometheus.NewDesc(name("volumes"), "Volumes by collection, replication, ttl and state (under_replicated, stale, syncing, writable, readonly; the first that applies).",
			[]string{"collection", "replication", "ttl", "state"}, nil),
		free:    prometheus.NewDesc(name("free_volume_slots"), "Volumes the volume servers can still create (their max minus the volumes they hold and the slots reserved).", nil, nil),
		max:     prometheus.NewDesc(name("max_volume_slots"), "Sum of the volume servers' -max.", nil, nil),
		grown:   prometheus.NewDesc(name("volume_grow_total"), "Volumes this master created (on every replica) since it started.", nil, nil),
		repairs: prometheus.NewDesc(name("repairs_in_progress"), "Re-replication copies running (volumes being copied to a new node).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *masterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.isLeader, c.term, c.dataNodes, c.volumes, c.free, c.max, c.grown, c.repairs} {
		ch <- d
	}
}

type volumeSeries struct{ collection, replication, ttl, state string }

// Collect implements prometheus.Collector.
func (c *masterCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	leader := 0.0
	if s.lead.IsLeader() {
		leader = 1
	}
	gauge(c.isLeader, leader)
	if s.term != nil {
		gauge(c.term, float64(s.term.Term()))
	}
	snap := s.topo.Snapshot()
	gauge(c.dataNodes, float64(len(snap.Nodes)))
	free, maxSlots := 0, 0
	for _, n := range snap.Nodes {
		free += n.Free
		maxSlots += n.Max
	}
	gauge(c.free, float64(free))
	gauge(c.max, float64(maxSlots))
	counts := make(map[volumeSeries]int)
	for _, v := range snap.Volumes {
		counts[volumeSeries{v.Collection, v.Replication, v.TTL, VolumeState(v)}]++
	}
	for k, n := range counts {
		gauge(c.volumes, float64(n), k.collection, k.replication, k.ttl, k.state)
	}
	ch <- prometheus.MustNewConstMetric(c.grown, prometheus.CounterValue, float64(s.growth.created.Load()))
	gauge(c.repairs, float64(len(s.repair.inProgress())))
}

// initMetrics builds the master's registry (unless Options.Metrics gives
// one), its collector and readiness check.
func (s *Server) initMetrics() {
	s.metrics = s.opts.Metrics
	if s.metrics == nil {
		s.metrics = metrics.NewRegistry()
	}
	s.metrics.MustRegister(newMasterCollector(s))
	s.readiness = health.NewReadiness(s.checkReady, 0, 0)
}

// instrument wraps h with the request metrics and the access log.
func (s *Server) instrument(h http.Handler) http.Handler {
	return metrics.Instrument(h, masterClassifier(s.metrics), s.opts.AccessLog)
}

// Metrics returns the master's registry, to serve on -metricsPort.
func (s *Server) Metrics() *metrics.Registry { return s.metrics }

// checkReady is the master's readiness: it is in a group with a leader,
// and, when it leads, has applied the entries committed before its term.
func (s *Server) checkReady(ctx context.Context) error {
	if s.lead.IsLeader() {
		if s.ready == nil {
			return nil
		}
		if err := s.ready.LeaderReady(ctx); err != nil {
			return errors.New("leader not settled: " + err.Error())
		}
		return nil
	}
	if s.lead.Leader() == "" {
		return errors.New("no leader: this master is not in a group with a leader (election in progress or quorum lost)")
	}
	return nil
}
