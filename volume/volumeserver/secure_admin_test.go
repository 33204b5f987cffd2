package volumeserver

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/internal/security"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/replication"
	"github.com/weedfs/weed/wire"
)

// adminToken signs an admin token (the claim fid "admin") with secret,
// expiring after ttl (negative: already expired).
func adminToken(secret string, ttl time.Duration) string {
	return security.Sign([]byte(secret), security.Claims{Fid: "admin", Exp: time.Now().Add(ttl).Unix()})
}

// smuggledRecord is a needle record, as /admin/sync/apply takes them, of
// key 0x51 in volume 3.
func smuggledRecord(t *testing.T) []byte {
	t.Helper()
	n := needle.Needle{Key: 0x51, Cookie: 0x1234abcd, Data: []byte("smuggled"), AppendAtNs: uint64(time.Now().UnixNano())}
	n.Checksum = needle.DataChecksum(n.Data)
	rec, err := n.AppendRecord(nil, needle.Version3)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestSecureAdminNeedsToken walks every state-changing admin endpoint of a
// volume server with -secure.secret: without a token, with a token of
// another secret, an expired one, a write token for a fid, or garbage, the
// answer is 401 with a JSON error and nothing changes; with an admin token
// signed with the secret (in the header or ?jwt=) the endpoint works. The
// read-only ones stay open, as reads do.
func TestSecureAdminNeedsToken(t *testing.T) {
	m := newFakeMaster(t)
	source := startServer(t, []string{m.addr()}, withSecret(testSecret))
	source.addVolume(t, 5, "000")
	ts := startServer(t, []string{m.addr()}, withSecret(testSecret))
	ts.addVolume(t, 3, "000")
	ts.addVolume(t, 4, "000")
	if err := ts.store.AddVolume(6, "pics", needle.Placement{}, needle.TTL{}); err != nil {
		t.Fatal(err)
	}
	good := adminToken(testSecret, time.Minute)
	refusals := []struct {
		name   string
		header map[string]string
		query  string
	}{
		{"no token", nil, ""},
		{"another secret", bearer(adminToken("not the secret", time.Minute)), ""},
		{"expired", bearer(adminToken(testSecret, -time.Second)), ""},
		{"a write token", bearer(token(testSecret, "3,01637037d6", 1)), ""},
		{"a write token in the query", nil, "&jwt=" + token(testSecret, "3,01637037d6", 1)},
		{"garbage", bearer("not.a.token"), ""},
		{"another scheme", map[string]string{"Authorization": "Basic " + good}, ""},
	}
	for _, tc := range []struct {
		method, path string
		body         func() []byte
		contentType  string
		useQuery     bool // carry the good token in ?jwt= instead of the header
		want         int
		unchanged    func() bool // true while the refused calls changed nothing
		done         func() bool // true once the accepted call did its work
	}{
		{method: "POST", path: "/admin/assign_volume?volume=9", want: http.StatusOK,
			unchanged: func() bool { return ts.store.Volume(9) == nil },
			done:      func() bool { return ts.store.Volume(9) != nil }},
		{method: "POST", path: "/admin/delete_volume?volume=4", want: http.StatusOK,
			unchanged: func() bool { return ts.store.Volume(4) != nil },
			done:      func() bool { return ts.store.Volume(4) == nil }},
		{method: "POST", path: wire.SyncApplyPath + "?volume=3&allowNew=true", body: func() []byte { return smuggledRecord(t) },
			contentType: wire.RecordsContentType, want: http.StatusOK,
			unchanged: func() bool { _, err := ts.stored(t, 3, 0x51, 0x1234abcd); return replication.IsMissing(err) },
			done:      func() bool { _, err := ts.stored(t, 3, 0x51, 0x1234abcd); return err == nil }},
		{method: "POST", path: "/admin/vacuum/compact?volume=3", want: http.StatusOK},
		{method: "POST", path: "/admin/vacuum/commit?volume=3", useQuery: true, want: http.StatusOK},
		{method: "POST", path: "/admin/vacuum/compact?volume=3", want: http.StatusOK},
		{method: "POST", path: "/admin/vacuum/cleanup?volume=3", want: http.StatusOK},
		{method: "POST", path: wire.SyncHelloPath + "?volume=3", want: http.StatusOK},
		{method: "POST", path: "/admin/delete_collection?collection=pics", want: http.StatusOK,
			unchanged: func() bool { return ts.store.Volume(6) != nil },
			done:      func() bool { return ts.store.Volume(6) == nil }},
		{method: "POST", path: wire.CopyVolumePath + "?volume=5&source=" + source.addr, want: http.StatusOK,
			unchanged: func() bool { return ts.store.Volume(5) == nil },
			done:      func() bool { return ts.store.Volume(5) != nil }},
	} {
		name := tc.method + " " + tc.path
		body := func() *bytes.Reader {
			if tc.body == nil {
				return bytes.NewReader(nil)
			}
			return bytes.NewReader(tc.body())
		}
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
			u := ts.url + tc.path
			if ref.query != "" {
				u += sep + strings.TrimPrefix(ref.query, "&")
			}
			expect401(t, do(t, tc.method, u, body(), h), name+" with "+ref.name)
			if tc.unchanged != nil && !tc.unchanged() {
				t.Fatalf("%s with %s: refused, yet it changed the server", name, ref.name)
			}
		}
		h := map[string]string{}
		u := ts.url + tc.path
		if tc.useQuery {
			u += sep + "jwt=" + good
		} else {
			h["Authorization"] = "Bearer " + good
		}
		if tc.contentType != "" {
			h["Content-Type"] = tc.contentType
		}
		if r := do(t, tc.method, u, body(), h); r.status != tc.want {
			t.Fatalf("%s with an admin token: %d %s, want %d", name, r.status, r.body, tc.want)
		}
		if tc.done != nil && !tc.done() {
			t.Fatalf("%s with an admin token: answered %d but did nothing", name, tc.want)
		}
	}

	// Read-only admin endpoints need no token (reads need none either).
	for _, path := range []string{
		"/admin/vacuum/check?volume=3&garbageThreshold=0.3",
		wire.SyncStatusPath + "?volume=3",
		wire.SyncSincePath + "?volume=3&ts=0",
		wire.SyncDigestPath + "?volume=3",
	} {
		if r := do(t, http.MethodGet, ts.url+path, nil, nil); r.status != http.StatusOK {
			t.Errorf("GET %s without a token: %d %s, want 200", path, r.status, r.body)
		}
	}
	// Writes keep their own tokens: an admin token does not allow one.
	expect401(t, do(t, http.MethodPost, ts.url+"/3,01637037d6", strings.NewReader("data"), bearer(good)), "write with an admin token")
}
