package master

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/internal/security"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

const testSecret = "s3cret"

// claimsOf checks that an Authorization value is "BEARER <token>" signed
// with testSecret and returns the token's claims.
func claimsOf(t *testing.T, auth string) security.Claims {
	t.Helper()
	if !strings.HasPrefix(auth, "BEARER ") {
		t.Fatalf("Authorization %q, want BEARER <jwt>", auth)
	}
	c, err := security.Parse([]byte(testSecret), strings.TrimPrefix(auth, "BEARER "), time.Now())
	if err != nil {
		t.Fatalf("token %q: %v", auth, err)
	}
	if ttl := time.Until(time.Unix(c.Exp, 0)); ttl < security.DefaultTokenTTL-2*time.Second || ttl > security.DefaultTokenTTL {
		t.Errorf("token expires in %v, want about %v", ttl, security.DefaultTokenTTL)
	}
	return c
}

func TestAssignTokenOnlyWithSecret(t *testing.T) {
	m, _ := walkThroughCluster(t, Options{})
	status, h, body := m.do(http.MethodGet, "/dir/assign", nil, "")
	if status != http.StatusOK || h.Get("Authorization") != "" {
		t.Fatalf("assign without a secret: %d, Authorization %q, %s", status, h.Get("Authorization"), body)
	}
	var a wire.Assignment
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	status, h, _ = m.do(http.MethodGet, "/dir/lookup?fileId="+a.Fid, nil, "")
	if status != http.StatusOK || h.Get("Authorization") != "" {
		t.Fatalf("lookup?fileId= without a secret: %d, Authorization %q", status, h.Get("Authorization"))
	}

	s, _ := walkThroughCluster(t, Options{Secret: testSecret})
	status, h, body = s.do(http.MethodGet, "/dir/assign", nil, "")
	if status != http.StatusOK {
		t.Fatalf("assign: %d %s", status, body)
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil || len(raw) != 4 {
		t.Fatalf("assign body %s: want exactly fid, url, publicUrl, count", body)
	}
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(t, h.Get("Authorization")); c.Fid != a.Fid || c.Count != 0 {
		t.Fatalf("token claims %+v for assign %+v", c, a)
	}

	// count=3: one token for fid, fid_1 and fid_2.
	status, h, body = s.do(http.MethodPost, "/dir/assign", strings.NewReader("count=3"), "application/x-www-form-urlencoded")
	if status != http.StatusOK || json.Unmarshal(body, &a) != nil {
		t.Fatalf("assign count=3: %d %s", status, body)
	}
	c := claimsOf(t, h.Get("Authorization"))
	last, _ := needle.ParseFileID(a.Fid + "_2")
	past, _ := needle.ParseFileID(a.Fid + "_3")
	if c.Fid != a.Fid || c.Count != 3 || !c.Covers(last) || c.Covers(past) {
		t.Fatalf("count=3 token claims %+v for %s", c, a.Fid)
	}
}

func TestLookupFileIDToken(t *testing.T) {
	m, _ := walkThroughCluster(t, Options{Secret: testSecret})
	a := m.assign("")
	fid, _ := needle.ParseFileID(a.Fid)

	status, h, body := m.do(http.MethodGet, "/dir/lookup?fileId="+a.Fid, nil, "")
	var l LookupResult
	if status != http.StatusOK || json.Unmarshal(body, &l) != nil || l.VolumeID != fid.Volume.String() || len(l.Locations) != 2 {
		t.Fatalf("lookup?fileId=: %d %s", status, body)
	}
	if c := claimsOf(t, h.Get("Authorization")); c.Fid != a.Fid || c.Count != 0 {
		t.Fatalf("lookup token claims %+v for %s", c, a.Fid)
	}
	// POST form, too.
	status, h, _ = m.do(http.MethodPost, "/dir/lookup", strings.NewReader("fileId="+a.Fid), "application/x-www-form-urlencoded")
	if status != http.StatusOK || claimsOf(t, h.Get("Authorization")).Fid != a.Fid {
		t.Fatalf("POST lookup fileId: %d %v", status, h)
	}
	// A plain volume lookup, even with a whole fid, answers no token.
	for _, q := range []string{"volumeId=" + fid.Volume.String(), "volumeId=" + a.Fid} {
		status, h, _ = m.do(http.MethodGet, "/dir/lookup?"+q, nil, "")
		if status != http.StatusOK || h.Get("Authorization") != "" {
			t.Fatalf("lookup?%s: %d, Authorization %q", q, status, h.Get("Authorization"))
		}
	}
	// Neither does a lookup of an unknown volume, nor a bad fid.
	status, h, _ = m.do(http.MethodGet, "/dir/lookup?fileId=9999,01637037d6", nil, "")
	if status != http.StatusNotFound || h.Get("Authorization") != "" {
		t.Fatalf("lookup of an unknown volume: %d, Authorization %q", status, h.Get("Authorization"))
	}
	status, h, body = m.do(http.MethodGet, "/dir/lookup?fileId=3", nil, "")
	if status != http.StatusBadRequest || h.Get("Authorization") != "" || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("lookup of a bad fileId: %d %s", status, body)
	}
}

func TestLookupTokenBehindWhiteList(t *testing.T) {
	// The leader admits 10.9.9.9 only; clients connect from 127.0.0.1.
	leader, follower := leaderAndFollower(t,
		Options{Secret: testSecret, WhiteList: []string{"10.9.9.9"}},
		Options{Secret: testSecret})
	// Heartbeats are behind the white list too: this one comes as if a
	// peer had forwarded it.
	v := newFakeVolume(t, "dc1", "", 7)
	hb, _ := json.Marshal(wire.Heartbeat{
		Version: wire.HeartbeatVersion, IP: v.ip, Port: v.port, PublicURL: v.addr(), MaxVolumeCount: 7,
		Volumes: []wire.VolumeInfo{{ID: 5, Version: needle.CurrentVersion}},
	})
	req, _ := http.NewRequest(http.MethodPost, leader.base+wire.HeartbeatPath, bytes.NewReader(hb))
	req.Header.Set(ForwardedByHeader, follower.addr)
	// With a secret a heartbeat carries an admin token, as volume servers sign it.
	req.Header.Set("Authorization", "Bearer "+adminToken(testSecret, time.Minute))
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("heartbeat: %d", resp.StatusCode)
	}
	a := wire.Assignment{Fid: "5,01637037d6"}

	lookup := func(base string, header map[string]string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+"/dir/lookup?fileId="+a.Fid, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := testHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("lookup: %d", resp.StatusCode)
		}
		return resp.Header.Get("Authorization")
	}
	if auth := lookup(leader.base, nil); auth != "" {
		t.Fatalf("a client off the white list got a token: %q", auth)
	}
	if auth := lookup(follower.base, nil); auth != "" {
		t.Fatalf("a client off the leader's white list got a token through a follower: %q", auth)
	}
	// A follower names its client in X-Forwarded-For; the leader trusts
	// that from a peer only.
	if auth := lookup(leader.base, map[string]string{ForwardedByHeader: follower.addr, "X-Forwarded-For": "10.9.9.9"}); claimsOf(t, auth).Fid != a.Fid {
		t.Fatalf("listed client forwarded by a peer: %q", auth)
	}
	if auth := lookup(leader.base, map[string]string{ForwardedByHeader: follower.addr, "X-Forwarded-For": "10.1.1.1"}); auth != "" {
		t.Fatalf("unlisted client forwarded by a peer got a token: %q", auth)
	}
	leader.lead.mu.Lock()
	leader.lead.peers = []string{"10.8.8.8:9333"}
	leader.lead.mu.Unlock()
	if auth := lookup(leader.base, map[string]string{ForwardedByHeader: "10.8.8.8:9333", "X-Forwarded-For": "10.9.9.9"}); auth != "" {
		t.Fatalf("forged forwarding got a token: %q", auth)
	}
}

func TestSubmitSendsToken(t *testing.T) {
	m, vs := walkThroughCluster(t, Options{Secret: testSecret})
	body, ct := multipartBody(t, "file", "hello.txt", "text/plain", []byte("hello"))
	status, _, reply := m.do(http.MethodPost, "/submit", body, ct)
	var res SubmitResult
	if status != http.StatusCreated || json.Unmarshal(reply, &res) != nil {
		t.Fatalf("submit: %d %s", status, reply)
	}
	var auths []string
	for _, v := range vs {
		v.mu.Lock()
		auths = append(auths, v.auths...)
		v.mu.Unlock()
	}
	if len(auths) != 1 || !strings.HasPrefix(auths[0], "Bearer ") {
		t.Fatalf("uploads carried %q", auths)
	}
	c, err := security.Parse([]byte(testSecret), strings.TrimPrefix(auths[0], "Bearer "), time.Now())
	if err != nil || c.Fid != res.Fid {
		t.Fatalf("submit's token %+v, %v for %s", c, err, res.Fid)
	}
}
