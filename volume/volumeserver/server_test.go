package volumeserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/internal/version"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/wire"
)

// fakeMaster answers /dir/lookup from a table and records heartbeats.
type fakeMaster struct {
	srv *httptest.Server

	mu        sync.Mutex
	locations map[needle.VolumeID][]client.Location
	beats     []wire.Heartbeat
	reply     wire.HeartbeatReply
	lookups   int
	beatCh    chan wire.Heartbeat
	// assignVolume and assignTo answer /dir/assign: fids of that volume on
	// that server, keys counting up from 1.
	assignVolume needle.VolumeID
	assignTo     string
	nextKey      needle.Key
	// answersStale makes it answer the stale-mark endpoints as a leader
	// with no marks: every ticket is 1, every sync is accepted.
	answersStale bool
	// lookupHold, when set, runs in each /dir/lookup after the locations
	// are read and before they are sent (it may block).
	lookupHold func()
}

func newFakeMaster(t testing.TB) *fakeMaster {
	t.Helper()
	m := &fakeMaster{
		locations: make(map[needle.VolumeID][]client.Location),
		beatCh:    make(chan wire.Heartbeat, 64),
	}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	m.reply = wire.HeartbeatReply{Version: wire.HeartbeatVersion, IsLeader: true, Leader: m.addr(), VolumeSizeLimit: 30000 << 20}
	t.Cleanup(m.srv.Close)
	return m
}

func (m *fakeMaster) addr() string { return strings.TrimPrefix(m.srv.URL, "http://") }

func (m *fakeMaster) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/dir/lookup":
		vid, err := needle.ParseVolumeID(r.FormValue("volumeId"))
		m.mu.Lock()
		m.lookups++
		locs := m.locations[vid]
		hold := m.lookupHold
		m.mu.Unlock()
		if hold != nil {
			hold()
		}
		w.Header().Set("Content-Type", "application/json")
		if err != nil || len(locs) == 0 {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"volumeId":%q,"error":"volumeId not found."}`, r.FormValue("volumeId"))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"volumeId": vid.String(), "locations": locs})
	case "/dir/assign":
		m.mu.Lock()
		m.nextKey++
		fid := needle.FileID{Volume: m.assignVolume, Key: m.nextKey, Cookie: 0x5eed5eed}
		to := m.assignTo
		m.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if to == "" {
			w.WriteHeader(http.StatusNotAcceptable)
			_, _ = io.WriteString(w, `{"error":"no writable volumes"}`)
			return
		}
		_ = json.NewEncoder(w).Encode(wire.Assignment{Fid: fid.String(), URL: to, PublicURL: to, Count: 1})
	case wire.HeartbeatPath:
		var hb wire.Heartbeat
		if err := json.NewDecoder(r.Body).Decode(&hb); err != nil {
			http.Error(w, `{"error":"bad heartbeat"}`, http.StatusBadRequest)
			return
		}
		m.mu.Lock()
		m.beats = append(m.beats, hb)
		reply := m.reply
		m.mu.Unlock()
		select {
		case m.beatCh <- hb:
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(reply)
	case wire.StalePath, wire.SyncedPath:
		m.mu.Lock()
		ok := m.answersStale
		m.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(wire.StaleReply{Seq: 1})
	default:
		http.NotFound(w, r)
	}
}

// setLocations makes the master say vid is held by the servers at addrs.
func (m *fakeMaster) setLocations(vid needle.VolumeID, addrs ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	locs := make([]client.Location, len(addrs))
	for i, a := range addrs {
		locs[i] = client.Location{URL: a, PublicURL: a}
	}
	m.locations[vid] = locs
}

func (m *fakeMaster) setReply(r wire.HeartbeatReply) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reply = r
}

func (m *fakeMaster) heartbeats() []wire.Heartbeat {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]wire.Heartbeat(nil), m.beats...)
}

// testServer is a real volume server on a real store, served on 127.0.0.1.
type testServer struct {
	*Server
	addr string // "127.0.0.1:port"
	url  string // "http://127.0.0.1:port"
	dir  string
}

// startServer starts a volume server with a store in a temporary directory.
// After the test it is shut down and its volumes are checked.
func startServer(t testing.TB, masters []string, tweak ...func(*ServerOptions)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	store, err := volume.NewStore([]string{dir}, []int{7}, volume.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts := ServerOptions{IP: "127.0.0.1", Port: port, Masters: masters, PulseSeconds: 3600}
	for _, f := range tweak {
		f(&opts)
	}
	s, err := NewServer(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	ts := &testServer{Server: s, addr: ln.Addr().String(), url: "http://" + ln.Addr().String(), dir: dir}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := volume.Check(dir); err != nil {
			t.Errorf("volumes after the test: %v", err)
		}
	})
	return ts
}

// addVolume creates volume vid on ts with the given replication.
func (ts *testServer) addVolume(t testing.TB, vid needle.VolumeID, rp string) {
	t.Helper()
	p, err := needle.ParsePlacement(rp)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.store.AddVolume(vid, "", p, needle.TTL{}); err != nil {
		t.Fatal(err)
	}
}

// reply is a finished HTTP exchange.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("reply %d %q is not JSON: %v", r.status, r.body, err)
	}
	return m
}

// noRedirect is a client that returns redirects instead of following them
// and never asks for gzip by itself.
var noRedirect = &http.Client{
	Transport:     &http.Transport{DisableCompression: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       30 * time.Second,
}

func do(t testing.TB, method, url string, body io.Reader, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// multipartBody builds a multipart body with one file part.
func multipartBody(t testing.TB, field, filename, contentType string, data []byte, partHeader map[string]string) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, filename))
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	for k, v := range partHeader {
		h.Set(k, v)
	}
	pw, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

// uploadFile posts data as a multipart file and expects 201.
func uploadFile(t testing.TB, base, fid, filename, contentType string, data []byte) reply {
	t.Helper()
	body, ct := multipartBody(t, "file", filename, contentType, data, nil)
	r := do(t, http.MethodPost, base+"/"+fid, body, map[string]string{"Content-Type": ct})
	if r.status != http.StatusCreated {
		t.Fatalf("upload %s: %d %s", fid, r.status, r.body)
	}
	return r
}

func fidOf(vid needle.VolumeID, key needle.Key, cookie needle.Cookie) string {
	return needle.FileID{Volume: vid, Key: key, Cookie: cookie}.String()
}

func TestNewServerOptions(t *testing.T) {
	store, err := volume.NewStore([]string{t.TempDir()}, []int{1}, volume.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := NewServer(store, ServerOptions{}); err == nil {
		t.Error("NewServer without masters succeeded")
	}
	if _, err := NewServer(store, ServerOptions{Masters: []string{"m:9333"}, Port: 70000}); err == nil {
		t.Error("NewServer with port 70000 succeeded")
	}
	if _, err := NewServer(store, ServerOptions{Masters: []string{"m:9333"}, WhiteList: []string{"not-an-ip"}}); err == nil {
		t.Error("NewServer with a bad white list succeeded")
	}
	s, err := NewServer(store, ServerOptions{Masters: []string{" http://m1:9333/", "", "m2:9333"}})
	if err != nil {
		t.Fatal(err)
	}
	if self, known := s.knownSelf(); self != ":8080" || known || !s.readRedirect || s.maxUpload != DefaultMaxUploadBytes {
		t.Errorf("defaults: self %q (known %v) redirect %v max %d", self, known, s.readRedirect, s.maxUpload)
	}
	if got := s.hb.masters; len(got) != 2 || got[0] != "m1:9333" || got[1] != "m2:9333" {
		t.Errorf("masters = %q", got)
	}
	off := false
	s, err = NewServer(store, ServerOptions{Masters: []string{"m:9333"}, IP: "10.0.0.1", Port: 8081, PublicURL: "files.example.com", ReadRedirect: &off})
	if err != nil {
		t.Fatal(err)
	}
	if hb := s.heartbeat(); s.self() != "10.0.0.1:8081" || hb.URL() != "10.0.0.1:8081" || hb.PublicURL != "files.example.com" || s.readRedirect {
		t.Errorf("options: self %q heartbeat %s public %q redirect %v", s.self(), hb.URL(), hb.PublicURL, s.readRedirect)
	}
}

func TestStatus(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 3, "001")
	ts.addVolume(t, 1, "")
	r := do(t, http.MethodGet, ts.url+"/status", nil, nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	var st struct {
		Version string
		Volumes []map[string]any
	}
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Version != version.Version || len(st.Volumes) != 2 {
		t.Fatalf("status = %s", r.body)
	}
	for _, field := range []string{"Id", "Size", "ReplicaPlacement", "Ttl", "Collection", "Version", "FileCount", "DeleteCount", "DeletedByteCount", "ReadOnly"} {
		if _, ok := st.Volumes[0][field]; !ok {
			t.Errorf("volume entry lacks %q: %v", field, st.Volumes[0])
		}
	}
	if st.Volumes[0]["Id"] != 1.0 || st.Volumes[1]["Id"] != 3.0 {
		t.Errorf("volumes not sorted by id: %s", r.body)
	}
	rp := st.Volumes[1]["ReplicaPlacement"].(map[string]any)
	if rp["SameRackCount"] != 1.0 {
		t.Errorf("replica placement of volume 3 = %v", rp)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	r := do(t, http.MethodPatch, ts.url+"/1,01637037d6", nil, nil)
	if r.status != http.StatusMethodNotAllowed || r.json(t)["error"] == nil {
		t.Fatalf("PATCH = %d %s", r.status, r.body)
	}
}

func TestWhiteList(t *testing.T) {
	m := newFakeMaster(t)
	// Only 10.1.2.3 may write: 127.0.0.1 is refused.
	ts := startServer(t, []string{m.addr()}, func(o *ServerOptions) { o.WhiteList = []string{"10.1.2.3", "192.168.0.0/16"} })
	ts.addVolume(t, 1, "")
	fid := fidOf(1, 1, 0x1234)
	body, ct := multipartBody(t, "file", "a.txt", "text/plain", []byte("hi"), nil)
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "/" + fid},
		{http.MethodPut, "/" + fid},
		{http.MethodDelete, "/" + fid},
		{http.MethodPost, "/admin/assign_volume?volume=2"},
		{http.MethodPost, "/admin/delete_volume?volume=1"},
		{http.MethodGet, "/admin/vacuum/check?volume=1"},
	} {
		r := do(t, c.method, ts.url+c.path, bytes.NewReader(body.Bytes()), map[string]string{"Content-Type": ct})
		if r.status != http.StatusForbidden || !strings.Contains(fmt.Sprint(r.json(t)["error"]), "127.0.0.1") {
			t.Errorf("%s %s = %d %s, want 403", c.method, c.path, r.status, r.body)
		}
	}
	// Reads and /status stay open.
	if r := do(t, http.MethodGet, ts.url+"/"+fid, nil, nil); r.status != http.StatusNotFound {
		t.Errorf("GET = %d, want 404", r.status)
	}
	if r := do(t, http.MethodGet, ts.url+"/status", nil, nil); r.status != http.StatusOK {
		t.Errorf("GET /status = %d", r.status)
	}
	if ts.store.Volume(2) != nil || ts.store.Volume(1) == nil {
		t.Error("a refused admin call changed the store")
	}
}

// TestShutdownDrainsInFlight starts an upload whose body is still arriving,
// shuts the server down, and finishes the body: the upload completes, then
// Shutdown returns and the store is closed.
func TestShutdownDrainsInFlight(t *testing.T) {
	m := newFakeMaster(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := volume.NewStore([]string{dir}, []int{2}, volume.Options{})
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	s, err := NewServer(store, ServerOptions{IP: "127.0.0.1", Port: port, Masters: []string{m.addr()}})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	if err := store.AddVolume(1, "", needle.Placement{}, needle.TTL{}); err != nil {
		t.Fatal(err)
	}
	fid := fidOf(1, 7, 0xabcdef01)
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/"+fid+"?filename=slow.bin", pr)
	if err != nil {
		t.Fatal(err)
	}
	// With Expect: 100-continue the client sends no body byte before the
	// handler starts reading it: once the first write returns, the request
	// is in flight in the handler.
	req.Header.Set("Expect", "100-continue")
	hc := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	got := make(chan reply, 1)
	go func() {
		resp, err := hc.Do(req)
		if err != nil {
			got <- reply{status: -1, body: []byte(err.Error())}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- reply{status: resp.StatusCode, body: b}
	}()
	if _, err := pw.Write([]byte("first half ")); err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	// Wait until the listener is closed: Shutdown has begun.
	eventually(t, 10*time.Second, "the listener stayed open after Shutdown", func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	if _, err := pw.Write([]byte("second half")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-got
	if r.status != http.StatusCreated {
		t.Fatalf("in-flight upload = %d %s", r.status, r.body)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	// The store is closed: reopening it finds the upload.
	store2, err := volume.NewStore([]string{dir}, []int{2}, volume.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store2.Close()
	n, _, err := store2.Volume(1).Read(7, 0xabcdef01, nil)
	if err != nil || string(n.Data) != "first half second half" {
		t.Fatalf("after restart: %q, %v", n.Data, err)
	}
}

// assertEmpty404 checks the walk-through's 404: empty body.
func assertEmpty404(t testing.TB, r reply, what string) {
	t.Helper()
	if r.status != http.StatusNotFound || len(r.body) != 0 || r.header.Get("Content-Length") != "0" {
		t.Errorf("%s = %d (Content-Length %q) %q, want 404 with an empty body", what, r.status, r.header.Get("Content-Length"), r.body)
	}
}

func jsonNumber(t testing.TB, m map[string]any, key string) int {
	t.Helper()
	v, ok := m[key].(float64)
	if !ok {
		t.Fatalf("%q missing or not a number in %v", key, m)
	}
	return int(v)
}

func mustStatusErr(t testing.TB, err error, status int) {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != status {
		t.Fatalf("err = %v, want status %d", err, status)
	}
}

// TestDispatch checks that the file fast path leaves to the router what it
// handled before: unclean paths (redirected), /status and /admin.
func TestDispatch(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 6, "")
	uploadFile(t, ts.url, "6,01fc4a422c", "a.txt", "text/plain", []byte("hi"))
	for _, c := range []struct {
		path     string
		status   int
		location string
	}{
		{"/6,01fc4a422c", http.StatusOK, ""},
		{"/6/01fc4a422c/a.txt", http.StatusOK, ""},
		{"//6,01fc4a422c", http.StatusTemporaryRedirect, "/6,01fc4a422c"},
		{"/6/./01fc4a422c", http.StatusTemporaryRedirect, "/6/01fc4a422c"},
		{"/6/x/../01fc4a422c", http.StatusTemporaryRedirect, "/6/01fc4a422c"},
		{"/status", http.StatusOK, ""},
		{"/admin", http.StatusTemporaryRedirect, "/admin/"},
		{"/admin/nothing", http.StatusNotFound, ""},
	} {
		w := httptest.NewRecorder()
		ts.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, c.path, nil))
		if w.Code != c.status || w.Header().Get("Location") != c.location {
			t.Errorf("GET %s = %d (Location %q), want %d (%q)", c.path, w.Code, w.Header().Get("Location"), c.status, c.location)
		}
	}
}

// TestShutdownWaitsForRun: Shutdown returns only once every goroutine Run
// started (heartbeats, space watcher, the replica protocol's sync and
// anti-entropy loops and the syncs they started) has returned, and Run
// returns with them, although its own context never ends.
func TestShutdownWaitsForRun(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()}, func(o *ServerOptions) { o.AntiEntropyInterval = time.Hour })
	ts.addVolume(t, 1, "001")
	ranOut := make(chan struct{})
	go func() { ts.Run(context.Background()); close(ranOut) }()
	eventually(t, 10*time.Second, "Run's loops and the replica protocol's loops did not start", func() bool {
		return ts.owned.Running() == 3 && ts.repl.Running() >= 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n, r := ts.owned.Running(), ts.repl.Running(); n != 0 || r != 0 {
		t.Fatalf("after Shutdown: %d server goroutines and %d replication goroutines still running", n, r)
	}
	select {
	case <-ranOut:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Shutdown")
	}
	if ts.goFunc(func() {}) {
		t.Error("goFunc started a goroutine after Shutdown")
	}
}
