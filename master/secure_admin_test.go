package master

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/internal/security"
	"github.com/weedfs/weed/master/raftnode"
	"github.com/weedfs/weed/wire"
)

// adminToken signs an admin token (the claim fid "admin") with secret,
// expiring after ttl (negative: already expired).
func adminToken(secret string, ttl time.Duration) string {
	return security.Sign([]byte(secret), security.Claims{Fid: "admin", Exp: time.Now().Add(ttl).Unix()})
}

// doWith sends a request to the master with headers and returns the status
// and body.
func (m *masterHarness) doWith(method, path string, body []byte, header map[string]string) (int, []byte) {
	m.t.Helper()
	req, err := http.NewRequest(method, m.base+path, bytes.NewReader(body))
	if err != nil {
		m.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
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
	return resp.StatusCode, b
}

// TestSecureAdminNeedsToken walks every state-changing endpoint of a
// master with -secure.secret (/vol/grow, /vol/vacuum, /col/delete,
// /cluster/remove, the heartbeat, the stale and synced marks): without a
// token, with a token of another secret, an expired one, a write token or
// garbage, the answer is 401 with a JSON error and nothing changes; with an
// admin token signed with the secret the handler runs. The master signs
// the admin calls it makes to volume servers.
func TestSecureAdminNeedsToken(t *testing.T) {
	m, vs := walkThroughCluster(t, Options{Secret: testSecret, DefaultReplication: "000"})
	good := adminToken(testSecret, time.Minute)
	refusals := []struct {
		name   string
		header map[string]string
		query  string
	}{
		{"no token", nil, ""},
		{"another secret", map[string]string{"Authorization": "Bearer " + adminToken("not the secret", time.Minute)}, ""},
		{"expired", map[string]string{"Authorization": "Bearer " + adminToken(testSecret, -time.Second)}, ""},
		{"a write token", map[string]string{"Authorization": "Bearer " + security.Sign([]byte(testSecret), security.Claims{Fid: "3,01637037d6", Exp: time.Now().Add(time.Minute).Unix()})}, ""},
		{"garbage in the query", nil, "jwt=not.a.token"},
	}
	volumes := func() int {
		n := 0
		for _, v := range vs {
			v.mu.Lock()
			n += len(v.volumes)
			v.mu.Unlock()
		}
		return n
	}
	stranger := newFakeVolume(t, "dc3", "", 7)
	hb, _ := json.Marshal(wire.Heartbeat{Version: wire.HeartbeatVersion, IP: stranger.ip, Port: stranger.port,
		PublicURL: stranger.addr(), DataCenter: "dc3", MaxVolumeCount: 7, Volumes: []wire.VolumeInfo{}})
	nodes := func() int {
		n := 0
		for _, dc := range m.dirStatus().Topology.DataCenters {
			for _, r := range dc.Racks {
				n += len(r.DataNodes)
			}
		}
		return n
	}
	before := nodes()

	for _, tc := range []struct {
		method, path string
		body         []byte
		contentType  string
		want         int
		unchanged    func() bool // true while the refused calls changed nothing
		done         func() bool // true once the accepted call did its work
	}{
		{method: "GET", path: "/vol/grow?count=1&replication=000", want: http.StatusOK,
			unchanged: func() bool { return volumes() == 0 },
			done:      func() bool { return volumes() == 1 }},
		{method: "POST", path: "/vol/grow?count=1&replication=000&collection=pics", want: http.StatusOK,
			unchanged: func() bool { return volumes() == 1 },
			done:      func() bool { return volumes() == 2 }},
		{method: "GET", path: "/vol/vacuum?garbageThreshold=0.5", want: http.StatusOK},
		{method: "POST", path: "/col/delete?collection=pics", want: http.StatusOK,
			unchanged: func() bool { return volumes() == 2 },
			done:      func() bool { return volumes() == 1 }},
		{method: "POST", path: wire.HeartbeatPath, body: hb, contentType: "application/json", want: http.StatusOK,
			unchanged: func() bool { return nodes() == before },
			done:      func() bool { return nodes() == before+1 }},
		// The test master has no Raft group and keeps no marks: 501 says
		// the request got past the token check to the handler.
		{method: "POST", path: RemovePath + "?peer=127.0.0.1:1", want: http.StatusNotImplemented},
		{method: "POST", path: wire.StalePath + "?volume=1&node=127.0.0.1:1", want: http.StatusNotImplemented},
		{method: "GET", path: wire.StalePath + "?volume=1&node=127.0.0.1:1", want: http.StatusNotImplemented},
		{method: "POST", path: wire.SyncedPath + "?volume=1&node=127.0.0.1:1&seq=1", want: http.StatusNotImplemented},
	} {
		name := tc.method + " " + tc.path
		sep := "?"
		if strings.Contains(tc.path, "?") {
			sep = "&"
		}
		for _, ref := range refusals {
			h := map[string]string{}
			for k, v := range ref.header {
				h[k] = v
			}
			if tc.contentType != "" {
				h["Content-Type"] = tc.contentType
			}
			path := tc.path
			if ref.query != "" {
				path += sep + ref.query
			}
			status, body := m.doWith(tc.method, path, tc.body, h)
			var e struct{ Error string }
			if status != http.StatusUnauthorized || json.Unmarshal(body, &e) != nil || e.Error == "" {
				t.Fatalf("%s with %s: %d %s, want 401 with a JSON error", name, ref.name, status, body)
			}
			if tc.unchanged != nil && !tc.unchanged() {
				t.Fatalf("%s with %s: refused, yet it changed the cluster", name, ref.name)
			}
		}
		h := map[string]string{"Authorization": "Bearer " + good}
		if tc.contentType != "" {
			h["Content-Type"] = tc.contentType
		}
		if status, body := m.doWith(tc.method, tc.path, tc.body, h); status != tc.want {
			t.Fatalf("%s with an admin token: %d %s, want %d", name, status, body, tc.want)
		}
		if tc.done != nil && !tc.done() {
			t.Fatalf("%s with an admin token: did nothing", name)
		}
	}

	// The master's own calls to the volume servers carry its admin token.
	calls := 0
	for _, v := range vs {
		v.mu.Lock()
		for _, auth := range v.adminAuths {
			calls++
			c, err := security.Parse([]byte(testSecret), strings.TrimPrefix(auth, "Bearer "), time.Now())
			if !strings.HasPrefix(auth, "Bearer ") || err != nil || c.Fid != "admin" {
				t.Errorf("admin call to %s with Authorization %q: %+v, %v", v.addr(), auth, c, err)
			}
		}
		v.mu.Unlock()
	}
	if calls < 3 {
		t.Fatalf("%d admin calls to the volume servers seen, want at least 3 (grow, grow, delete collection)", calls)
	}

	// The read-only endpoints and assigns stay open.
	for _, path := range []string{"/dir/assign", "/dir/lookup?volumeId=1", "/dir/status", "/vol/status", raftnode.StatusPath} {
		if status, body := m.doWith(http.MethodGet, path, nil, nil); status != http.StatusOK {
			t.Errorf("GET %s without a token: %d %s, want 200", path, status, body)
		}
	}
}
