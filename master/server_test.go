package master

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weedfs/weed/internal/version"
	"github.com/weedfs/weed/master/raftnode"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/topology"
	"github.com/weedfs/weed/wire"
)

// fakeSeq is an in-memory Sequencer.
type fakeSeq struct {
	mu        sync.Mutex
	key       uint64 // last key handed out
	vid       needle.VolumeID
	observedV []needle.VolumeID
	observedK []needle.Key
	keyCalls  int
}

func (f *fakeSeq) NextFileKeys(_ context.Context, count uint64) (needle.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keyCalls++
	first := f.key + 1
	f.key += count
	return needle.Key(first), nil
}

func (f *fakeSeq) NextVolumeID(context.Context) (needle.VolumeID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vid++
	return f.vid, nil
}

func (f *fakeSeq) ObserveVolumeID(_ context.Context, vid needle.VolumeID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.observedV = append(f.observedV, vid)
	f.vid = max(f.vid, vid)
	return nil
}

func (f *fakeSeq) ObserveFileKey(_ context.Context, key needle.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.observedK = append(f.observedK, key)
	f.key = max(f.key, uint64(key))
	return nil
}

// fakeLead is a Leadership the test flips at will.
type fakeLead struct {
	mu     sync.Mutex
	leader bool
	addr   string // the leader's address
	self   string
	peers  []string
	since  time.Time
}

func (f *fakeLead) IsLeader() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.leader }
func (f *fakeLead) Leader() string { f.mu.Lock(); defer f.mu.Unlock(); return f.addr }
func (f *fakeLead) Self() string   { f.mu.Lock(); defer f.mu.Unlock(); return f.self }
func (f *fakeLead) Peers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.peers)
}
func (f *fakeLead) LeaderSince() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.leader {
		return time.Time{}
	}
	return f.since
}

// follow makes the master a follower of leader.
func (f *fakeLead) follow(leader string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leader, f.addr, f.since = false, leader, time.Time{}
}

// masterHarness is a Server on a real 127.0.0.1 listener.
type masterHarness struct {
	t    *testing.T
	s    *Server
	seq  *fakeSeq
	lead *fakeLead
	addr string
	base string // "http://addr"
}

// startMaster starts a master that leads since long ago (unless lead says
// otherwise) and stops it when the test ends.
func startMaster(t *testing.T, opts Options, lead *fakeLead) *masterHarness {
	t.Helper()
	return startMasterWith(t, opts, lead, nil)
}

// startMasterWith is startMaster with members as the server's
// Deps.Members (nil: no Raft group).
func startMasterWith(t *testing.T, opts Options, lead *fakeLead, members MemberRemover) *masterHarness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	host, port, _ := net.SplitHostPort(addr)
	opts.IP = host
	opts.Port, _ = strconv.Atoi(port)
	if lead == nil {
		lead = &fakeLead{leader: true, since: time.Now().Add(-time.Hour)}
	}
	lead.mu.Lock()
	lead.self = addr
	if lead.leader {
		lead.addr = addr
	}
	lead.mu.Unlock()
	seq := &fakeSeq{}
	s, err := NewServer(opts, Deps{Sequencer: seq, Leadership: lead, Members: members})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &masterHarness{t: t, s: s, seq: seq, lead: lead, addr: addr, base: "http://" + addr}
}

// testHTTP does not follow redirects.
var testHTTP = &http.Client{
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// do sends a request and returns the status, headers and body.
func (m *masterHarness) do(method, path string, body io.Reader, contentType string) (int, http.Header, []byte) {
	m.t.Helper()
	req, err := http.NewRequest(method, m.base+path, body)
	if err != nil {
		m.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := testHTTP.Do(req)
	if err != nil {
		m.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		m.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func (m *masterHarness) get(path string) (int, []byte) {
	m.t.Helper()
	status, _, body := m.do(http.MethodGet, path, nil, "")
	return status, body
}

// getJSON GETs path, expects status and decodes the body into v.
func (m *masterHarness) getJSON(path string, status int, v any) {
	m.t.Helper()
	got, body := m.get(path)
	if got != status {
		m.t.Fatalf("GET %s: status %d, want %d; body %s", path, got, status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		m.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

func (m *masterHarness) dirStatus() DirStatusResult {
	m.t.Helper()
	var st DirStatusResult
	m.getJSON("/dir/status", http.StatusOK, &st)
	return st
}

func (m *masterHarness) assign(query string) wire.Assignment {
	m.t.Helper()
	var a wire.Assignment
	m.getJSON("/dir/assign?"+query, http.StatusOK, &a)
	return a
}

// fakeVolume is a volume server that implements the admin endpoints,
// uploads of whole files, and sends heartbeats when told to.
type fakeVolume struct {
	t        *testing.T
	srv      *httptest.Server
	ip       string
	port     int
	dc, rack string
	max      int

	mu      sync.Mutex
	volumes map[needle.VolumeID]wire.VolumeInfo
	garbage map[needle.VolumeID]float64
	files   map[string][]byte // fid → content
	names   map[string]string // fid → file name
	queries map[string][]url.Values
	fail    map[string]bool // admin path → answer 500 (or failCode's status)
	auths   []string        // the Authorization header of every upload
	// adminAuths is the Authorization header of every admin call.
	adminAuths []string
	maxKey     needle.Key
	// gate, when set, holds assign_volume calls until it is closed.
	gate chan struct{}
	// failCode, when set for a failing path, is the status it answers.
	failCode map[string]int
	// held holds the admin calls to a path until its channel is closed
	// or the caller gives up; each held call is announced on holding.
	held    map[string]chan struct{}
	holding chan string
}

// hold makes calls to the admin path wait until release is called; arrived
// receives the path when a call starts waiting.
func (v *fakeVolume) hold(path string) (arrived <-chan string, release func()) {
	ch := make(chan struct{})
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.held == nil {
		v.held = make(map[string]chan struct{})
		v.holding = make(chan string, 16)
	}
	v.held[path] = ch
	var once sync.Once
	return v.holding, func() { once.Do(func() { close(ch) }) }
}

func newFakeVolume(t *testing.T, dc, rack string, maxVolumes int) *fakeVolume {
	t.Helper()
	v := &fakeVolume{
		t: t, dc: dc, rack: rack, max: maxVolumes,
		volumes: make(map[needle.VolumeID]wire.VolumeInfo),
		garbage: make(map[needle.VolumeID]float64),
		files:   make(map[string][]byte),
		names:   make(map[string]string),
		queries: make(map[string][]url.Values),
		fail:    make(map[string]bool),
	}
	v.srv = httptest.NewServer(http.HandlerFunc(v.serve))
	t.Cleanup(v.srv.Close)
	host, port, _ := net.SplitHostPort(v.srv.Listener.Addr().String())
	v.ip = host
	v.port, _ = strconv.Atoi(port)
	return v
}

func (v *fakeVolume) addr() string { return net.JoinHostPort(v.ip, strconv.Itoa(v.port)) }

func (v *fakeVolume) reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (v *fakeVolume) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/admin/") {
		v.serveAdmin(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	v.serveUpload(w, r)
}

func (v *fakeVolume) serveAdmin(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	path := r.URL.Path
	v.mu.Lock()
	v.queries[path] = append(v.queries[path], q)
	v.adminAuths = append(v.adminAuths, r.Header.Get("Authorization"))
	gate := v.gate
	held, holding := v.held[path], v.holding
	v.mu.Unlock()
	if gate != nil && path == wire.AssignVolumePath {
		<-gate
	}
	if held != nil {
		holding <- path
		select {
		case <-held:
		case <-r.Context().Done():
			return
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.fail[path] {
		status := http.StatusInternalServerError
		if c := v.failCode[path]; c != 0 {
			status = c
		}
		v.reply(w, status, map[string]string{"error": "injected failure"})
		return
	}
	var vid needle.VolumeID
	if s := q.Get("volume"); s != "" {
		n, err := needle.ParseVolumeID(s)
		if err != nil {
			v.reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		vid = n
	}
	switch path {
	case wire.AssignVolumePath:
		p, err := needle.ParsePlacement(q.Get("replication"))
		if err != nil {
			v.reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		v.volumes[vid] = wire.VolumeInfo{ID: vid, ReplicaPlacement: p, TTL: q.Get("ttl"),
			Collection: q.Get("collection"), Version: needle.CurrentVersion}
	case wire.DeleteVolumePath:
		delete(v.volumes, vid)
	case wire.VacuumCheckPath:
		v.reply(w, http.StatusOK, wire.VacuumCheckReply{GarbageRatio: v.garbage[vid]})
		return
	case wire.VacuumCommitPath:
		v.garbage[vid] = 0
	case wire.VacuumCompactPath, wire.VacuumCleanupPath:
	case wire.DeleteCollectionPath:
		for id, info := range v.volumes {
			if info.Collection == q.Get("collection") {
				delete(v.volumes, id)
			}
		}
	default:
		v.reply(w, http.StatusNotFound, map[string]string{"error": "no such admin path"})
		return
	}
	v.reply(w, http.StatusOK, struct{}{})
}

func (v *fakeVolume) serveUpload(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	fail := v.fail["upload"]
	v.mu.Unlock()
	if fail {
		v.reply(w, http.StatusInternalServerError, map[string]string{"error": "injected failure"})
		return
	}
	fid := strings.TrimPrefix(r.URL.Path, "/")
	if _, err := needle.ParseFileID(fid); err != nil {
		v.reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" {
		v.reply(w, http.StatusBadRequest, map[string]string{"error": "want multipart"})
		return
	}
	part, err := multipart.NewReader(r.Body, params["boundary"]).NextPart()
	if err != nil {
		v.reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	data, err := io.ReadAll(part)
	if err != nil {
		v.reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	v.mu.Lock()
	v.files[fid] = data
	v.names[fid] = part.FileName()
	v.queries["upload"] = append(v.queries["upload"], r.URL.Query())
	v.auths = append(v.auths, r.Header.Get("Authorization"))
	v.mu.Unlock()
	v.reply(w, http.StatusCreated, map[string]any{"name": part.FileName(), "size": len(data)})
}

// calls returns how many times the admin path was called (for volume vid
// when vid is not 0).
func (v *fakeVolume) calls(path string, vid needle.VolumeID) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, q := range v.queries[path] {
		if vid == 0 || q.Get("volume") == vid.String() {
			n++
		}
	}
	return n
}

func (v *fakeVolume) volumeIDs() []needle.VolumeID {
	v.mu.Lock()
	defer v.mu.Unlock()
	var ids []needle.VolumeID
	for id := range v.volumes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (v *fakeVolume) setFail(path string, on bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.fail[path] = on
}

// heartbeatTo posts a heartbeat describing the server to the master at
// addr and returns the reply.
func (v *fakeVolume) heartbeatTo(addr string) wire.HeartbeatReply {
	v.t.Helper()
	reply, err := v.beat(addr)
	if err != nil {
		v.t.Fatal(err)
	}
	return reply
}

// beat is heartbeatTo for goroutines other than the test's.
func (v *fakeVolume) beat(addr string) (wire.HeartbeatReply, error) {
	v.mu.Lock()
	hb := wire.Heartbeat{
		Version: wire.HeartbeatVersion, IP: v.ip, Port: v.port, PublicURL: v.addr(),
		DataCenter: v.dc, Rack: v.rack, MaxVolumeCount: v.max, MaxFileKey: v.maxKey,
		Volumes: []wire.VolumeInfo{},
	}
	for _, info := range v.volumes {
		hb.Volumes = append(hb.Volumes, info)
	}
	v.mu.Unlock()
	body, _ := json.Marshal(hb)
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+wire.HeartbeatPath, bytes.NewReader(body))
	if err != nil {
		return wire.HeartbeatReply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	// Masters with testSecret want an admin token; the others ignore it.
	req.Header.Set("Authorization", "Bearer "+adminToken(testSecret, time.Minute))
	resp, err := testHTTP.Do(req)
	if err != nil {
		return wire.HeartbeatReply{}, fmt.Errorf("heartbeat: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return wire.HeartbeatReply{}, fmt.Errorf("heartbeat: status %d: %s", resp.StatusCode, b)
	}
	var reply wire.HeartbeatReply
	if err := json.Unmarshal(b, &reply); err != nil {
		return wire.HeartbeatReply{}, fmt.Errorf("heartbeat reply %s: %w", b, err)
	}
	return reply, nil
}

// walkThroughCluster starts a master with -defaultReplication=100 and three
// volume servers in dc1, dc1, dc2 (max 7 each) that have sent a heartbeat.
func walkThroughCluster(t *testing.T, opts Options) (*masterHarness, []*fakeVolume) {
	t.Helper()
	if opts.DefaultReplication == "" {
		opts.DefaultReplication = "100"
	}
	m := startMaster(t, opts, nil)
	vs := []*fakeVolume{
		newFakeVolume(t, "dc1", "", 7),
		newFakeVolume(t, "dc1", "", 7),
		newFakeVolume(t, "dc2", "", 7),
	}
	for _, v := range vs {
		reply := v.heartbeatTo(m.addr)
		if !reply.IsLeader || reply.Leader != m.addr {
			t.Fatalf("heartbeat reply %+v, want leader %s", reply, m.addr)
		}
	}
	return m, vs
}

// eventually polls cond every 50ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestServerHeartbeatAndDirStatus(t *testing.T) {
	m, vs := walkThroughCluster(t, Options{})
	reply := vs[0].heartbeatTo(m.addr)
	if reply.Version != wire.HeartbeatVersion || reply.VolumeSizeLimit != 30000*1024*1024 {
		t.Errorf("heartbeat reply %+v", reply)
	}

	status, body := m.get("/dir/status")
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	// The exact key set of SPEC §3.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 2 || raw["Topology"] == nil || string(raw["Version"]) != strconv.Quote(version.Version) {
		t.Fatalf("dir status keys: %s", body)
	}
	var topo map[string]json.RawMessage
	if err := json.Unmarshal(raw["Topology"], &topo); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"DataCenters", "Free", "Max", "layouts"} {
		if topo[k] == nil {
			t.Errorf("Topology has no %q: %s", k, raw["Topology"])
		}
	}

	st := m.dirStatus().Topology
	if st.Max != 21 || st.Free != 21 || len(st.DataCenters) != 2 {
		t.Fatalf("topology %+v", st)
	}
	dc1, dc2 := st.DataCenters[0], st.DataCenters[1]
	if dc1.ID != "dc1" || dc2.ID != "dc2" || dc1.Max != 14 || dc2.Max != 7 {
		t.Fatalf("data centers %+v", st.DataCenters)
	}
	if len(dc1.Racks) != 1 || dc1.Racks[0].ID != topology.DefaultRack || len(dc1.Racks[0].DataNodes) != 2 {
		t.Fatalf("dc1 racks %+v", dc1.Racks)
	}
	n := dc2.Racks[0].DataNodes[0]
	if n.URL != vs[2].addr() || n.PublicURL != vs[2].addr() || n.Max != 7 || n.Free != 7 || n.Volumes != 0 {
		t.Fatalf("dc2 node %+v", n)
	}

	var vol VolStatusResult
	m.getJSON("/vol/status", http.StatusOK, &vol)
	if vol.Version != version.Version || vol.Volumes.Max != 21 || len(vol.Volumes.DataCenters["dc1"][topology.DefaultRack]) != 2 {
		t.Fatalf("vol status %+v", vol)
	}
}

func TestServerHeartbeatRaisesMarksOnlyWhenTheyGrow(t *testing.T) {
	m := startMaster(t, Options{}, nil)
	v := newFakeVolume(t, "dc1", "", 7)
	v.volumes[5] = wire.VolumeInfo{ID: 5, Version: needle.CurrentVersion}
	v.maxKey = 1000
	v.heartbeatTo(m.addr)
	v.heartbeatTo(m.addr)
	v.mu.Lock()
	v.maxKey = 2000
	v.mu.Unlock()
	v.heartbeatTo(m.addr)

	m.seq.mu.Lock()
	defer m.seq.mu.Unlock()
	if !slices.Equal(m.seq.observedV, []needle.VolumeID{5}) {
		t.Errorf("observed volume ids %v, want [5]", m.seq.observedV)
	}
	if !slices.Equal(m.seq.observedK, []needle.Key{1000, 2000}) {
		t.Errorf("observed keys %v, want [1000 2000]", m.seq.observedK)
	}
}

func TestServerBadHeartbeat(t *testing.T) {
	m := startMaster(t, Options{}, nil)
	for _, body := range []string{`{`, `{"version":2,"ip":"127.0.0.1","port":8080}`, `{"version":1,"ip":"127.0.0.1","port":0}`} {
		status, _, b := m.do(http.MethodPost, wire.HeartbeatPath, strings.NewReader(body), "application/json")
		var e struct{ Error string }
		if status != http.StatusBadRequest || json.Unmarshal(b, &e) != nil || e.Error == "" {
			t.Errorf("heartbeat %s: %d %s, want 400 with a JSON error", body, status, b)
		}
	}
	if st := m.dirStatus().Topology; len(st.DataCenters) != 0 {
		t.Errorf("bad heartbeats changed the topology: %+v", st)
	}
}

// A volume server started without -ip (weed-fs's walk-through form) is
// registered under the address its heartbeats come from, and the reply tells
// it that address; a given ip is kept as it is.
func TestServerHeartbeatWithoutIP(t *testing.T) {
	m := startMaster(t, Options{}, nil)
	beat := func(body string) wire.HeartbeatReply {
		t.Helper()
		status, _, b := m.do(http.MethodPost, wire.HeartbeatPath, strings.NewReader(body), "application/json")
		var reply wire.HeartbeatReply
		if status != http.StatusOK || json.Unmarshal(b, &reply) != nil {
			t.Fatalf("heartbeat %s: %d %s", body, status, b)
		}
		return reply
	}
	reply := beat(`{"version":1,"port":8081,"dataCenter":"dc1","maxVolumeCount":7,"volumes":[]}`)
	if reply.IP != "127.0.0.1" || !reply.IsLeader {
		t.Errorf("reply to a heartbeat without ip: %+v, want ip 127.0.0.1", reply)
	}
	reply = beat(`{"version":1,"ip":"10.1.2.3","port":8082,"dataCenter":"dc1","maxVolumeCount":7,"volumes":[]}`)
	if reply.IP != "10.1.2.3" {
		t.Errorf("reply to a heartbeat with ip 10.1.2.3: %+v", reply)
	}
	var urls []string
	for _, dc := range m.dirStatus().Topology.DataCenters {
		for _, r := range dc.Racks {
			for _, n := range r.DataNodes {
				urls = append(urls, n.URL+" "+n.PublicURL)
			}
		}
	}
	slices.Sort(urls)
	if want := []string{"10.1.2.3:8082 10.1.2.3:8082", "127.0.0.1:8081 127.0.0.1:8081"}; !slices.Equal(urls, want) {
		t.Errorf("data nodes %q, want %q", urls, want)
	}
}

func TestServerClusterStatus(t *testing.T) {
	lead := &fakeLead{leader: true, since: time.Now().Add(-time.Hour), peers: []string{"127.0.0.1:9334", "127.0.0.1:9335"}}
	m := startMaster(t, Options{}, lead)
	status, body := m.get("/cluster/status")
	want := fmt.Sprintf(`{"IsLeader":true,"Leader":%q,"Peers":["127.0.0.1:9334","127.0.0.1:9335"]}`+"\n", m.addr)
	if status != http.StatusOK || string(body) != want {
		t.Fatalf("cluster status %d %s, want %s", status, body, want)
	}
}

func TestServerDeadNodeDisappears(t *testing.T) {
	m, vs := walkThroughCluster(t, Options{PulseSeconds: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	a := m.assign("")
	fid, _ := needle.ParseFileID(a.Fid)
	var before LookupResult
	m.getJSON("/dir/lookup?volumeId="+fid.Volume.String(), http.StatusOK, &before)
	if len(before.Locations) != 2 {
		t.Fatalf("lookup %+v, want two locations", before)
	}

	// dc1's nodes keep beating; dc2's node falls silent.
	stop := make(chan struct{})
	var beats sync.WaitGroup
	beats.Go(func() {
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				for _, v := range vs[:2] {
					if _, err := v.beat(m.addr); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}
	})
	defer func() { close(stop); beats.Wait() }()

	eventually(t, 15*time.Second, "dc2 dropped from /dir/status", func() bool {
		st := m.dirStatus().Topology
		return len(st.DataCenters) == 1 && st.DataCenters[0].ID == "dc1"
	})
	var after LookupResult
	m.getJSON("/dir/lookup?volumeId="+fid.Volume.String(), http.StatusOK, &after)
	if len(after.Locations) != 1 || after.Locations[0].URL == vs[2].addr() {
		t.Fatalf("lookup after dc2 died: %+v", after)
	}
	// With dc2 gone, replication 100 can no longer grow.
	status, body := m.get("/vol/grow?count=1")
	if status != http.StatusNotAcceptable || string(body) != `{"error":"Cannot grow volume group! Not enough data node found!"}`+"\n" {
		t.Fatalf("grow without dc2: %d %s", status, body)
	}
}

func TestServerWhiteList(t *testing.T) {
	m := startMaster(t, Options{WhiteList: []string{"10.1.2.3", "192.168.0.0/16"}}, nil)
	for _, path := range []string{"/dir/assign", "/vol/grow", "/vol/vacuum", "/col/delete?collection=x"} {
		status, body := m.get(path)
		if status != http.StatusForbidden || !strings.Contains(string(body), `"error"`) {
			t.Errorf("GET %s from 127.0.0.1: %d %s, want 403 JSON", path, status, body)
		}
	}
	status, _, _ := m.do(http.MethodPost, wire.HeartbeatPath, strings.NewReader(`{}`), "application/json")
	if status != http.StatusForbidden {
		t.Errorf("heartbeat from 127.0.0.1: %d, want 403", status)
	}
	// Reads stay open.
	for _, path := range []string{"/dir/status", "/vol/status", "/cluster/status"} {
		if status, body := m.get(path); status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
	}

	open := startMaster(t, Options{WhiteList: []string{"127.0.0.1"}}, nil)
	if status, body := open.get("/vol/vacuum"); status != http.StatusOK {
		t.Errorf("vacuum from a listed address: %d %s", status, body)
	}
}

func TestNewServerRejectsBadOptions(t *testing.T) {
	lead := &fakeLead{}
	for _, o := range []Options{
		{DefaultReplication: "3x0"},
		{DefaultReplication: "300"},
		{PulseSeconds: -1},
		{GarbageThreshold: 1.5},
		{VacuumInterval: -time.Second},
		{WhiteList: []string{"not-an-ip"}},
		{WhiteList: []string{"10.0.0.0/99"}},
		{VolumeSizeLimitMB: 40000},
		{Port: 70000},
	} {
		if _, err := NewServer(o, Deps{Sequencer: &fakeSeq{}, Leadership: lead}); err == nil {
			t.Errorf("NewServer(%+v) succeeded", o)
		}
	}
}

// emfileTransport fails every request as a process out of descriptors does.
type emfileTransport struct{}

func (emfileTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("socket: %w", syscall.EMFILE)}
}

func TestServerTooManyOpenFilesAnswers503(t *testing.T) {
	m, _ := walkThroughCluster(t, Options{})
	m.s.admin.hc.Transport = emfileTransport{}
	status, body := m.get("/dir/assign")
	if status != http.StatusServiceUnavailable || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("assign out of descriptors: %d %s, want 503 JSON", status, body)
	}
	// The server keeps running.
	if status, _ := m.get("/dir/status"); status != http.StatusOK {
		t.Fatalf("dir status after EMFILE: %d", status)
	}
}

func TestServerShutdownDrainsInFlight(t *testing.T) {
	m, vs := walkThroughCluster(t, Options{})
	gate := make(chan struct{})
	for _, v := range vs {
		v.mu.Lock()
		v.gate = gate
		v.mu.Unlock()
	}
	result := make(chan int, 1)
	go func() {
		resp, err := testHTTP.Get(m.base + "/dir/assign")
		if err != nil {
			result <- 0
			return
		}
		resp.Body.Close()
		result <- resp.StatusCode
	}()
	// Wait until the assign is growing (a volume server was called).
	eventually(t, 10*time.Second, "growth started", func() bool {
		for _, v := range vs {
			v.mu.Lock()
			n := len(v.queries[wire.AssignVolumePath])
			v.mu.Unlock()
			if n > 0 {
				return true
			}
		}
		return false
	})
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shut <- m.s.Shutdown(ctx)
	}()
	close(gate)
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if status := <-result; status != http.StatusOK {
		t.Fatalf("in-flight assign ended with %d, want 200", status)
	}
}

// removingLead is a fakeLead whose RemoveMember records the names it is
// given and answers err.
type removingLead struct {
	*fakeLead
	mu      sync.Mutex
	err     error
	removed []string
}

func (l *removingLead) RemoveMember(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.removed = append(l.removed, name)
	return l.err
}

func (l *removingLead) fail(err error) { l.mu.Lock(); l.err = err; l.mu.Unlock() }

func (l *removingLead) calls() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.removed)
}

func TestServerClusterRemove(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	rl := &removingLead{fakeLead: &fakeLead{leader: true, since: time.Now().Add(-time.Hour)}}
	m := startMasterWith(t, Options{}, rl.fakeLead, rl)

	for _, c := range []struct {
		name   string
		query  string
		body   string
		err    error
		status int
		reply  string
	}{
		{"by query", "?peer=127.0.0.1:9335", "", nil, http.StatusOK, `{"removed":"127.0.0.1:9335"}`},
		{"by form, with scheme", "", "peer=http://127.0.0.1:9336", nil, http.StatusOK, `{"removed":"127.0.0.1:9336"}`},
		{"no peer", "", "", nil, http.StatusBadRequest, ""},
		{"no port", "?peer=somehost", "", nil, http.StatusBadRequest, ""},
		{"bad form", "?peer=%zz", "", nil, http.StatusBadRequest, ""},
		{"not a member", "?peer=127.0.0.1:1", "", fmt.Errorf("127.0.0.1:1: %w", raftnode.ErrNotMember), http.StatusNotFound, ""},
		{"last member", "?peer=127.0.0.1:2", "", fmt.Errorf("x: %w", raftnode.ErrLastMember), http.StatusConflict, ""},
		{"leadership lost", "?peer=127.0.0.1:3", "", fmt.Errorf("raft remove server: %w", raftnode.ErrNotLeader), http.StatusServiceUnavailable, ""},
		{"raft failure", "?peer=127.0.0.1:4", "", errors.New("configuration changed"), http.StatusInternalServerError, ""},
	} {
		rl.fail(c.err)
		status, _, body := m.do(http.MethodPost, RemovePath+c.query, strings.NewReader(c.body), form)
		got := strings.TrimSpace(string(body))
		if status != c.status || (c.reply != "" && got != c.reply) || (c.reply == "" && !strings.Contains(got, `"error"`)) {
			t.Errorf("%s: %d %s, want %d %s", c.name, status, got, c.status, c.reply)
		}
	}
	if got, want := rl.calls(), []string{"127.0.0.1:9335", "127.0.0.1:9336", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4"}; !slices.Equal(got, want) {
		t.Errorf("RemoveMember calls %v, want %v", got, want)
	}

	// A follower forwards the request to the leader.
	rl.fail(nil)
	follower := startMaster(t, Options{}, &fakeLead{})
	follower.lead.follow(m.addr)
	status, _, body := follower.do(http.MethodPost, RemovePath, strings.NewReader("peer=127.0.0.1:9337"), form)
	if status != http.StatusOK || !slices.Contains(rl.calls(), "127.0.0.1:9337") {
		t.Errorf("through a follower: %d %s, calls %v", status, body, rl.calls())
	}

	// A master without a Raft group cannot remove anyone; the white list
	// guards the endpoint.
	if status, _, _ := startMaster(t, Options{}, nil).do(http.MethodPost, RemovePath+"?peer=127.0.0.1:9335", nil, ""); status != http.StatusNotImplemented {
		t.Errorf("without Raft: %d, want 501", status)
	}
	gl := &removingLead{fakeLead: &fakeLead{leader: true}}
	guarded := startMasterWith(t, Options{WhiteList: []string{"10.1.2.3"}}, gl.fakeLead, gl)
	if status, _, _ := guarded.do(http.MethodPost, RemovePath+"?peer=127.0.0.1:9335", nil, ""); status != http.StatusForbidden {
		t.Errorf("from outside the white list: %d, want 403", status)
	}
}

// Shutdown ends the goroutines the Server started (Run's loops and a
// re-replication copy in progress, whose call it cancels) and returns only
// after every one has returned.
func TestServerShutdownWaitsForItsGoroutines(t *testing.T) {
	m := startMaster(t, Options{DefaultReplication: "001", PulseSeconds: 1, RepairAfter: time.Nanosecond}, nil)
	p, err := needle.ParsePlacement("001")
	if err != nil {
		t.Fatal(err)
	}
	holder := newFakeVolume(t, "dc1", "rack1", 7)
	holder.volumes[1] = wire.VolumeInfo{ID: 1, ReplicaPlacement: p, Version: needle.CurrentVersion}
	target := newFakeVolume(t, "dc1", "rack1", 7)
	arrived, release := target.hold(wire.CopyVolumePath)
	defer release()
	holder.heartbeatTo(m.addr)
	target.heartbeatTo(m.addr)

	runDone := make(chan struct{})
	go func() { m.s.Run(context.Background()); close(runDone) }()
	select {
	case <-arrived:
	case <-time.After(15 * time.Second):
		t.Fatal("re-replication did not start copying volume 1")
	}
	if n := m.s.owned.Running(); n != 4 {
		t.Fatalf("%d owned goroutines during the copy, want 4 (three loops and the copy)", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if n := m.s.owned.Running(); n != 0 {
		t.Fatalf("%d owned goroutines still running after Shutdown", n)
	}
	select {
	case <-runDone:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Shutdown")
	}
	m.s.repair.mu.Lock()
	busy := len(m.s.repair.busy)
	m.s.repair.mu.Unlock()
	if busy != 0 {
		t.Errorf("a copy target still busy after Shutdown: the copy goroutine did not finish")
	}
	if m.s.goFunc(func() {}) {
		t.Error("a goroutine started after Shutdown")
	}
}
