package master

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/weedfs/weed/internal/metrics/metricstest"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// fixedTerm is a Termer at term 7.
type fixedTerm struct{}

func (fixedTerm) Term() uint64 { return 7 }

// readyErr is a LeaderReadiness answering err.
type readyErr struct{ err error }

func (r readyErr) LeaderReady(context.Context) error { return r.err }

// newUnservedMaster builds a Server that is not serving: its handler is
// called directly.
func newUnservedMaster(t *testing.T, lead Leadership, ready LeaderReadiness) *Server {
	t.Helper()
	s, err := NewServer(Options{IP: "127.0.0.1", Port: 9333}, Deps{Sequencer: &fakeSeq{}, Leadership: lead, Ready: ready, Term: fixedTerm{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

func info(t *testing.T, id needle.VolumeID, repl, collection string, mod func(*wire.VolumeInfo)) wire.VolumeInfo {
	t.Helper()
	p, err := needle.ParsePlacement(repl)
	if err != nil {
		t.Fatal(err)
	}
	v := wire.VolumeInfo{ID: id, ReplicaPlacement: p, Collection: collection, Version: needle.CurrentVersion, Size: 1000 * uint64(id), DeletedByteCount: 10 * uint64(id), FileCount: uint64(id)}
	if mod != nil {
		mod(&v)
	}
	return v
}

// stateCluster fills s's topology with one volume in each state: 1
// writable, 2 read-only, 3 syncing, 4 stale (a replica marked), 5
// under-replicated (one of two copies), 6 writable in collection pics.
func stateCluster(t *testing.T, s *Server) {
	t.Helper()
	ro := func(v *wire.VolumeInfo) { v.ReadOnly = true }
	syncing := func(v *wire.VolumeInfo) { v.Syncing = true }
	beats := []struct {
		port int
		dc   string
		vols []wire.VolumeInfo
	}{
		{8081, "dc1", []wire.VolumeInfo{info(t, 1, "000", "", nil), info(t, 2, "000", "", ro), info(t, 3, "000", "", syncing), info(t, 4, "001", "", nil), info(t, 5, "001", "", nil)}},
		{8082, "dc1", []wire.VolumeInfo{info(t, 4, "001", "", nil), info(t, 6, "000", "pics", nil)}},
		{8083, "dc2", nil},
	}
	s.topo.SetStaleCheck(func(vid needle.VolumeID, url string) bool { return vid == 4 && url == "127.0.0.1:8082" })
	for _, b := range beats {
		hb := &wire.Heartbeat{
			Version: wire.HeartbeatVersion, IP: "127.0.0.1", Port: b.port, DataCenter: b.dc, Rack: "r1",
			MaxVolumeCount: 10, Volumes: append([]wire.VolumeInfo{}, b.vols...),
			Disks: []wire.DiskInfo{{Dir: "/data", Free: 40 << 30, Total: 100 << 30}},
		}
		if _, err := s.topo.ProcessHeartbeat(hb, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// series returns the values of family name by their labels, printed
// "k=v,k=v" in label order.
func series(t *testing.T, s *Server, name string) map[string]float64 {
	t.Helper()
	mfs, err := s.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out[strings.Join(labels, ",")] = value(m)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	return float64(m.Histogram.GetSampleCount())
}

func TestMasterCollector(t *testing.T) {
	lead := &fakeLead{leader: true, addr: "127.0.0.1:9333", self: "127.0.0.1:9333"}
	s := newUnservedMaster(t, lead, nil)
	stateCluster(t, s)
	tests := []struct {
		name string
		want map[string]float64
	}{
		{"weed_master_is_leader", map[string]float64{"": 1}},
		{"weed_master_raft_term", map[string]float64{"": 7}},
		{"weed_master_data_nodes", map[string]float64{"": 3}},
		{"weed_master_free_volume_slots", map[string]float64{"": 30 - 7}},
		{"weed_master_max_volume_slots", map[string]float64{"": 30}},
		{"weed_master_volume_grow_total", map[string]float64{"": 0}},
		{"weed_master_repairs_in_progress", map[string]float64{"": 0}},
		{"weed_master_volumes", map[string]float64{
			"collection=,replication=000,state=writable,ttl=":         1,
			"collection=,replication=000,state=readonly,ttl=":         1,
			"collection=,replication=000,state=syncing,ttl=":          1,
			"collection=,replication=001,state=stale,ttl=":            1,
			"collection=,replication=001,state=under_replicated,ttl=": 1,
			"collection=pics,replication=000,state=writable,ttl=":     1,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := series(t, s, tt.name)
			if len(got) != len(tt.want) {
				t.Fatalf("%s = %v, want %v", tt.name, got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s{%s} = %v, want %v (all: %v)", tt.name, k, got[k], v, got)
				}
			}
		})
	}
}

func TestMasterRequestMetrics(t *testing.T) {
	m := startMaster(t, Options{}, nil)
	requests := []struct {
		method, path string
		op           string
	}{
		{http.MethodGet, "/dir/assign", "assign"}, // no volume server: an error
		{http.MethodGet, "/dir/lookup?volumeId=1", "lookup"},
		{http.MethodGet, "/dir/status", "dir_status"},
		{http.MethodGet, "/healthz", "healthz"},
		{http.MethodGet, "/ui/", "ui"},
		{http.MethodGet, "/3,01637037d6", "redirect"},
	}
	codes := make([]int, len(requests))
	for i, rq := range requests {
		codes[i], _, _ = m.do(rq.method, rq.path, nil, "")
	}
	got := series(t, m.s, "weed_requests_total")
	for i, rq := range requests {
		k := "code=" + strconv.Itoa(codes[i]) + ",op=" + rq.op + ",server=master"
		if got[k] < 1 {
			t.Errorf("weed_requests_total{%s} = %v, want ≥ 1", k, got[k])
		}
	}
	status, body := m.get("/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d", status)
	}
	for _, s := range []string{"weed_master_is_leader 1", "weed_request_duration_seconds_bucket", "go_goroutines"} {
		if !strings.Contains(string(body), s) {
			t.Errorf("/metrics lacks %q", s)
		}
	}
	metricstest.CheckMetrics(t, body)
}

func TestMasterReadiness(t *testing.T) {
	tests := []struct {
		name       string
		lead       *fakeLead
		ready      LeaderReadiness
		wantCode   int
		wantReason string
	}{
		{"leader without raft", &fakeLead{leader: true, addr: "m1"}, nil, 200, ""},
		{"settled leader", &fakeLead{leader: true, addr: "m1"}, readyErr{}, 200, ""},
		{"unsettled leader", &fakeLead{leader: true, addr: "m1"}, readyErr{errors.New("applying")}, 503, "leader not settled"},
		{"follower with a leader", &fakeLead{addr: "m2"}, readyErr{}, 200, ""},
		{"no leader", &fakeLead{}, readyErr{}, 503, "no leader"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newUnservedMaster(t, tt.lead, tt.ready)
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if w.Code != tt.wantCode {
				t.Fatalf("code %d, want %d: %s", w.Code, tt.wantCode, w.Body)
			}
			var st struct {
				Ready  bool
				Reason string
			}
			if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
				t.Fatal(err)
			}
			if st.Ready != (tt.wantCode == 200) || !strings.HasPrefix(st.Reason, tt.wantReason) {
				t.Errorf("body %s", w.Body)
			}
		})
	}
}

func TestConsole(t *testing.T) {
	lead := &fakeLead{leader: true, addr: "127.0.0.1:9333", self: "127.0.0.1:9333", peers: []string{"127.0.0.1:9334"}}
	s := newUnservedMaster(t, lead, nil)
	stateCluster(t, s)
	get := func(path string) (int, string, string) {
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		b, _ := io.ReadAll(w.Body)
		return w.Code, w.Header().Get("Content-Type"), string(b)
	}
	for _, path := range []string{"/", "/ui/", "/ui/index.html"} {
		code, ctype, body := get(path)
		if code != 200 || !strings.HasPrefix(ctype, "text/html") {
			t.Fatalf("GET %s: %d %s", path, code, ctype)
		}
		for _, want := range []string{
			`data-node="127.0.0.1:8081"`, `data-node="127.0.0.1:8082"`, `data-node="127.0.0.1:8083"`,
			`data-dc="dc2"`, `data-volume="1" data-state="writable"`, `data-volume="2" data-state="readonly"`,
			`data-volume="3" data-state="syncing"`, `data-volume="5" data-state="under_replicated"`,
			`data-volume="6" data-state="writable"`, `<b id="term">7</b>`, "127.0.0.1:9334", "pics",
			"disk 40.0 GiB free of 100.0 GiB",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s lacks %s", path, want)
			}
		}
		// Volume 4: stale on 8082 only.
		if !strings.Contains(body, `data-volume="4" data-state="stale"`) || strings.Count(body, `data-volume="4" data-state="writable"`) != 0 {
			t.Errorf("GET %s: volume 4's replicas not drawn writable on 8081 and stale on 8082", path)
		}
	}
	code, ctype, body := get("/ui/cluster.json")
	var v ConsoleView
	if code != 200 || !strings.HasPrefix(ctype, "application/json") || json.Unmarshal([]byte(body), &v) != nil {
		t.Fatalf("cluster.json: %d %s %s", code, ctype, body)
	}
	if len(v.DataCenters) != 2 || v.States[StateStale] != 1 || v.Term != 7 || len(v.Members) != 2 {
		t.Errorf("cluster.json: %+v", v)
	}
	for _, asset := range []string{"/ui/static/console.css", "/ui/static/console.js"} {
		if code, _, body := get(asset); code != 200 || len(body) < 100 {
			t.Errorf("GET %s: %d", asset, code)
		}
	}
}
