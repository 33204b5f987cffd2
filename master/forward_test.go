package master

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/master/raftnode"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// leaderAndFollower starts two masters: a leader and a follower of it.
func leaderAndFollower(t *testing.T, leaderOpts, followerOpts Options) (leader, follower *masterHarness) {
	t.Helper()
	leader = startMaster(t, leaderOpts, nil)
	follower = startMaster(t, followerOpts, &fakeLead{addr: leader.addr, peers: []string{leader.addr}})
	leader.lead.mu.Lock()
	leader.lead.peers = []string{follower.addr}
	leader.lead.mu.Unlock()
	return leader, follower
}

func TestFollowerForwardsToLeader(t *testing.T) {
	leader, follower := leaderAndFollower(t, Options{DefaultReplication: "100"}, Options{DefaultReplication: "100"})
	vs := []*fakeVolume{newFakeVolume(t, "dc1", "", 7), newFakeVolume(t, "dc1", "", 7), newFakeVolume(t, "dc2", "", 7)}

	// A heartbeat to the follower names the leader and is not processed.
	for _, v := range vs {
		reply := v.heartbeatTo(follower.addr)
		if reply.IsLeader || reply.Leader != leader.addr {
			t.Fatalf("follower's heartbeat reply %+v, want leader %s", reply, leader.addr)
		}
	}
	if st := follower.s.topo.DirStatus(); len(st.DataCenters) != 0 {
		t.Fatalf("follower processed heartbeats: %+v", st)
	}
	for _, v := range vs {
		v.heartbeatTo(leader.addr)
	}

	// Assign through the follower: the leader grows and answers.
	a := follower.assign("count=2")
	if a.Count != 2 || len(vs[2].volumeIDs()) != 6 {
		t.Fatalf("assign through follower %+v; dc2 volumes %v", a, vs[2].volumeIDs())
	}
	if st := follower.dirStatus().Topology; len(st.DataCenters) != 2 || len(st.Layouts) != 1 {
		t.Fatalf("/dir/status through follower: %+v", st)
	}
	fid, _ := needle.ParseFileID(a.Fid)
	var l LookupResult
	follower.getJSON("/dir/lookup?volumeId="+fid.Volume.String(), http.StatusOK, &l)
	if len(l.Locations) != 2 {
		t.Fatalf("lookup through follower %+v", l)
	}
	status, h, _ := follower.do(http.MethodGet, "/"+a.Fid, nil, "")
	if status != http.StatusMovedPermanently || !strings.HasSuffix(h.Get("Location"), "/"+a.Fid) {
		t.Fatalf("redirect through follower: %d %v", status, h)
	}

	// Submit streams through the follower.
	data := []byte(strings.Repeat("weed ", 1000))
	body, ct := multipartBody(t, "file", "big.txt", "text/plain", data)
	status, _, reply := follower.do(http.MethodPost, "/submit", body, ct)
	var res SubmitResult
	if status != http.StatusCreated || json.Unmarshal(reply, &res) != nil || res.Size != int64(len(data)) {
		t.Fatalf("submit through follower: %d %s", status, reply)
	}

	// /cluster/status is the follower's own.
	var cs raftnode.ClusterStatus
	follower.getJSON("/cluster/status", http.StatusOK, &cs)
	if cs.IsLeader || cs.Leader != leader.addr || len(cs.Peers) != 1 || cs.Peers[0] != leader.addr {
		t.Fatalf("follower's cluster status %+v", cs)
	}
}

func TestFollowerWithoutLeader(t *testing.T) {
	m := startMaster(t, Options{LeaderWait: 200 * time.Millisecond}, &fakeLead{})
	for _, path := range []string{"/dir/assign", "/dir/lookup?volumeId=1", "/dir/status", "/vol/status", "/3,01637037d6"} {
		status, body := m.get(path)
		if want := `{"error":"no leader"}` + "\n"; status != http.StatusServiceUnavailable || string(body) != want {
			t.Errorf("GET %s: %d %s, want 503 %s", path, status, body, want)
		}
	}
	// Heartbeats and /cluster/status are still answered.
	v := newFakeVolume(t, "dc1", "", 7)
	if reply := v.heartbeatTo(m.addr); reply.IsLeader || reply.Leader != "" {
		t.Errorf("heartbeat reply %+v", reply)
	}
	var cs raftnode.ClusterStatus
	m.getJSON("/cluster/status", http.StatusOK, &cs)
	if cs.IsLeader || cs.Leader != "" || cs.Peers == nil {
		t.Errorf("cluster status %+v", cs)
	}
}

func TestForwardedRequestIsNotForwardedAgain(t *testing.T) {
	// Two followers that each believe the other leads.
	a := startMaster(t, Options{}, &fakeLead{})
	b := startMaster(t, Options{}, &fakeLead{addr: a.addr})
	a.lead.follow(b.addr)
	status, body := a.get("/dir/status")
	if status != http.StatusServiceUnavailable || !strings.Contains(string(body), "no leader") {
		t.Fatalf("request between confused followers: %d %s, want 503", status, body)
	}
}

func TestFollowerWithUnreachableLeader(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close()
	m := startMaster(t, Options{LeaderWait: 200 * time.Millisecond}, &fakeLead{addr: gone})
	status, body := m.get("/dir/assign")
	if status != http.StatusBadGateway || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("assign with the leader gone: %d %s, want 502 JSON", status, body)
	}
}

func TestWhiteListTrustsForwardingPeers(t *testing.T) {
	// The leader lists only another address; the follower lists the client.
	// A request through the follower passes; the same request sent to the
	// leader directly does not.
	leader, follower := leaderAndFollower(t, Options{WhiteList: []string{"10.9.9.9"}}, Options{WhiteList: []string{"127.0.0.1"}})
	if status, body := leader.get("/vol/vacuum"); status != http.StatusForbidden {
		t.Fatalf("direct vacuum on the leader: %d %s, want 403", status, body)
	}
	if status, body := follower.get("/vol/vacuum"); status != http.StatusOK {
		t.Fatalf("vacuum through the follower: %d %s, want 200", status, body)
	}
	// A forged forwarding header from a non-peer does not help.
	leader.lead.mu.Lock()
	leader.lead.peers = []string{"10.8.8.8:9333"}
	leader.lead.mu.Unlock()
	req, _ := http.NewRequest(http.MethodGet, leader.base+"/vol/vacuum", nil)
	req.Header.Set(ForwardedByHeader, "10.8.8.8:9333")
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged forwarded request: %d, want 403", resp.StatusCode)
	}
}

// getLater GETs url in the background; the answer's status and body come
// on the returned channel.
func getLater(t *testing.T, url string) <-chan string {
	done := make(chan string, 1)
	go func() {
		resp, err := testHTTP.Get(url)
		if err != nil {
			t.Error(err)
			done <- ""
			return
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		done <- fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(b.String()))
	}()
	return done
}

func TestFollowerHoldsRequestsDuringAnElection(t *testing.T) {
	leader := startMaster(t, Options{}, nil)
	// No leader known yet: the request waits for one.
	lead := &fakeLead{}
	follower := startMaster(t, Options{}, lead)
	pending := getLater(t, follower.base+"/dir/lookup?volumeId=9999")
	time.Sleep(300 * time.Millisecond)
	lead.follow(leader.addr)
	if got := <-pending; !strings.HasPrefix(got, "404 ") || !strings.Contains(got, "volumeId not found.") {
		t.Errorf("lookup held until a leader was known: %q, want the leader's 404", got)
	}

	// The known leader is gone: a request without a body waits for the
	// next one and is sent again.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close()
	lead.follow(gone)
	pending = getLater(t, follower.base+"/dir/status")
	time.Sleep(300 * time.Millisecond)
	lead.follow(leader.addr)
	if got := <-pending; !strings.HasPrefix(got, "200 ") {
		t.Errorf("dir/status while the leader changed: %q, want 200", got)
	}

	// A request with a body cannot be sent twice: 502 without waiting (a
	// wait would outlast the client's timeout).
	patient := startMaster(t, Options{LeaderWait: time.Hour}, &fakeLead{addr: gone})
	status, _, body := patient.do(http.MethodPost, "/dir/assign", strings.NewReader("count=1"), "application/x-www-form-urlencoded")
	if status != http.StatusBadGateway {
		t.Errorf("POST with a body to a gone leader: %d %s, want 502", status, body)
	}
}

// hungLeader returns the address of a leader that accepts connections
// (the kernel completes the handshake) and never answers, as a leader
// stopped with SIGSTOP does.
func hungLeader(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func TestFollowerAbandonsAPausedLeader(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantBody   string
	}{
		// Sent again to the new leader.
		{name: "without a body", method: http.MethodGet, path: "/dir/status", wantStatus: http.StatusOK, wantBody: `"Topology"`},
		// Cannot be sent twice: the client is told to send it again.
		{name: "with a body", method: http.MethodPost, path: "/dir/assign", body: "count=1", wantStatus: http.StatusServiceUnavailable, wantBody: "leader changed"},
	}
	leader := startMaster(t, Options{}, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lead := &fakeLead{addr: hungLeader(t)}
			follower := startMaster(t, Options{}, lead)
			type answer struct {
				status int
				body   string
				err    error
			}
			done := make(chan answer, 1)
			go func() {
				var body io.Reader
				if tc.body != "" {
					body = strings.NewReader(tc.body)
				}
				req, err := http.NewRequest(tc.method, follower.base+tc.path, body)
				if err != nil {
					done <- answer{err: err}
					return
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := testHTTP.Do(req)
				if err != nil {
					done <- answer{err: err}
					return
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				done <- answer{status: resp.StatusCode, body: string(b), err: err}
			}()
			time.Sleep(300 * time.Millisecond)
			changed := time.Now()
			lead.follow(leader.addr)
			select {
			case a := <-done:
				took := time.Since(changed)
				if a.err != nil || a.status != tc.wantStatus || !strings.Contains(a.body, tc.wantBody) {
					t.Fatalf("%s through a follower of a paused leader: %d %q %v, want %d with %q", tc.method, a.status, a.body, a.err, tc.wantStatus, tc.wantBody)
				}
				t.Logf("answered %d %v after the leader changed", a.status, took.Round(time.Millisecond))
			case <-time.After(3 * time.Second):
				t.Fatalf("%s through a follower still waits on the paused leader 3 s after the leader changed", tc.method)
			}
		})
	}
}

func TestForwardedAnswerNamesTheLeader(t *testing.T) {
	leader, follower := leaderAndFollower(t, Options{}, Options{})
	status, h, body := follower.do(http.MethodGet, "/dir/lookup?volumeId=9999", nil, "")
	if status != http.StatusNotFound || h.Get(wire.LeaderHeader) != leader.addr {
		t.Fatalf("lookup through the follower: %d %s=%q %s, want 404 naming leader %s", status, wire.LeaderHeader, h.Get(wire.LeaderHeader), body, leader.addr)
	}
}
