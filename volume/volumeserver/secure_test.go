package volumeserver

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/internal/security"
	"github.com/weedfs/weed/replication"
	"github.com/weedfs/weed/wire"
)

const testSecret = "s3cret"

// withSecret gives a test server -secure.secret.
func withSecret(secret string) func(*ServerOptions) {
	return func(o *ServerOptions) { o.Secret = secret }
}

// token signs a token for fid with secret, valid for a minute.
func token(secret, fid string, count uint64) string {
	return security.Sign([]byte(secret), security.Claims{Fid: fid, Count: count, Exp: time.Now().Add(time.Minute).Unix()})
}

// bearer is the header map of a request carrying tok.
func bearer(tok string, more ...string) map[string]string {
	h := map[string]string{"Authorization": "Bearer " + tok}
	for i := 0; i+1 < len(more); i += 2 {
		h[more[i]] = more[i+1]
	}
	return h
}

// expect401 checks a refusal: 401 with a JSON error.
func expect401(t *testing.T, r reply, what string) {
	t.Helper()
	if r.status != http.StatusUnauthorized {
		t.Fatalf("%s: %d %s, want 401", what, r.status, r.body)
	}
	if msg, _ := r.json(t)["error"].(string); msg == "" {
		t.Fatalf("%s: 401 without a JSON error: %s", what, r.body)
	}
}

func TestSecureWriteNeedsToken(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()}, withSecret(testSecret))
	ts.addVolume(t, 3, "")
	const fid = "3,01637037d6"
	past := security.Sign([]byte(testSecret), security.Claims{Fid: fid, Exp: time.Now().Add(-time.Second).Unix()})
	enc := base64.RawURLEncoding
	none := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		enc.EncodeToString([]byte(`{"fid":"`+fid+`","exp":`+strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)+`}`)) + "."
	for _, tc := range []struct {
		name   string
		url    string
		header map[string]string
	}{
		{"no token", ts.url + "/" + fid, nil},
		{"another scheme", ts.url + "/" + fid, map[string]string{"Authorization": "Basic " + token(testSecret, fid, 1)}},
		{"bad signature", ts.url + "/" + fid, bearer(token("not the secret", fid, 1))},
		{"expired", ts.url + "/" + fid, bearer(past)},
		{"other fid", ts.url + "/" + fid, bearer(token(testSecret, "3,02637037d6", 1))},
		{"other cookie", ts.url + "/" + fid, bearer(token(testSecret, "3,01637037d7", 1))},
		{"alg none", ts.url + "/" + fid, bearer(none)},
		{"garbage", ts.url + "/" + fid, bearer("not.a.token")},
		{"bad query token", ts.url + "/" + fid + "?jwt=" + token(testSecret, "3,09637037d6", 1), nil},
		{"past the count", ts.url + "/" + fid + "_2", bearer(token(testSecret, fid, 2))},
		{"replicated write", ts.url + "/" + fid + "?type=replicate", map[string]string{"Content-Type": wire.NeedleContentType}},
	} {
		r := do(t, http.MethodPost, tc.url, strings.NewReader("data"), tc.header)
		expect401(t, r, tc.name)
	}
	if _, err := ts.stored(t, 3, 1, 0x637037d6); !replication.IsMissing(err) {
		t.Fatalf("refused writes stored something: %v", err)
	}
	if _, err := ts.stored(t, 3, 3, 0x637037d6); !replication.IsMissing(err) {
		t.Fatalf("refused write of fid_2 stored something: %v", err)
	}

	// Valid tokens: header (any case of the scheme) or ?jwt=.
	r := do(t, http.MethodPost, ts.url+"/"+fid, strings.NewReader("one"), bearer(token(testSecret, fid, 1)))
	if r.status != http.StatusCreated {
		t.Fatalf("valid token: %d %s", r.status, r.body)
	}
	r = do(t, http.MethodPut, ts.url+"/3,04637037d6", strings.NewReader("two"),
		map[string]string{"Authorization": "BEARER " + token(testSecret, "3,04637037d6", 1)})
	if r.status != http.StatusCreated {
		t.Fatalf("valid token, BEARER: %d %s", r.status, r.body)
	}
	r = do(t, http.MethodPost, ts.url+"/3,05637037d6?jwt="+token(testSecret, "3,05637037d6", 1), strings.NewReader("three"), nil)
	if r.status != http.StatusCreated {
		t.Fatalf("valid token in the query: %d %s", r.status, r.body)
	}
	// A count token covers fid_1 … fid_{count-1}, in any URL form.
	many := token(testSecret, "3,06637037d6", 3)
	for _, u := range []string{"/3,06637037d6_1", "/3,06637037d6_2.txt", "/3/08637037d6/named.txt"} {
		r = do(t, http.MethodPost, ts.url+u, strings.NewReader("counted"), bearer(many))
		if r.status != http.StatusCreated {
			t.Fatalf("count token for %s: %d %s", u, r.status, r.body)
		}
	}

	// Reads need no token.
	g := do(t, http.MethodGet, ts.url+"/"+fid, nil, nil)
	if g.status != http.StatusOK || string(g.body) != "one" {
		t.Fatalf("read without a token: %d %q", g.status, g.body)
	}

	// Deletes need one for the fid too.
	expect401(t, do(t, http.MethodDelete, ts.url+"/"+fid, nil, nil), "delete without a token")
	expect401(t, do(t, http.MethodDelete, ts.url+"/"+fid, nil, bearer(token(testSecret, "3,04637037d6", 1))), "delete with another fid's token")
	expect401(t, do(t, http.MethodDelete, ts.url+"/"+fid+"?type=replicate&ts=1", nil, nil), "replicated delete without a token")
	if g := do(t, http.MethodGet, ts.url+"/"+fid, nil, nil); g.status != http.StatusOK {
		t.Fatalf("refused deletes deleted: %d", g.status)
	}
	r = do(t, http.MethodDelete, ts.url+"/"+fid, nil, bearer(token(testSecret, fid, 1)))
	if r.status != http.StatusAccepted {
		t.Fatalf("delete with a token: %d %s", r.status, r.body)
	}
	assertEmpty404(t, do(t, http.MethodGet, ts.url+"/"+fid, nil, nil), "GET after delete")
}

func TestUnsecuredServerIgnoresTokens(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 3, "")
	r := do(t, http.MethodPost, ts.url+"/3,01637037d6?jwt=junk", strings.NewReader("x"), bearer("junk"))
	if r.status != http.StatusCreated {
		t.Fatalf("write with a junk token to a server without a secret: %d %s", r.status, r.body)
	}
	if r := do(t, http.MethodDelete, ts.url+"/3,01637037d6", nil, nil); r.status != http.StatusAccepted {
		t.Fatalf("delete without a token: %d %s", r.status, r.body)
	}
}

// TestSecureReplication: two servers with the same secret replicate writes
// and deletes (each signs its own tokens for the other); a replica with
// another secret refuses them, and the write fails with nothing readable.
func TestSecureReplication(t *testing.T) {
	m := newFakeMaster(t)
	a := startServer(t, []string{m.addr()}, withSecret(testSecret))
	b := startServer(t, []string{m.addr()}, withSecret(testSecret))
	a.addVolume(t, 6, "001")
	b.addVolume(t, 6, "001")
	m.setLocations(6, a.addr, b.addr)

	const fid = "6,01fc4a422c"
	body, ct := multipartBody(t, "file", "hello.txt", "text/plain", []byte("replicated"), nil)
	r := do(t, http.MethodPost, a.url+"/"+fid, body, bearer(token(testSecret, fid, 1), "Content-Type", ct))
	if r.status != http.StatusCreated {
		t.Fatalf("write: %d %s", r.status, r.body)
	}
	for _, s := range []*testServer{a, b} {
		if g := do(t, http.MethodGet, s.url+"/"+fid, nil, nil); g.status != http.StatusOK || string(g.body) != "replicated" {
			t.Fatalf("read on %s: %d %q", s.addr, g.status, g.body)
		}
	}
	r = do(t, http.MethodDelete, b.url+"/"+fid, nil, bearer(token(testSecret, fid, 1)))
	if r.status != http.StatusAccepted {
		t.Fatalf("delete through b: %d %s", r.status, r.body)
	}
	for _, s := range []*testServer{a, b} {
		assertEmpty404(t, do(t, http.MethodGet, s.url+"/"+fid, nil, nil), "GET after delete on "+s.addr)
	}

	// A replica with another secret.
	c := startServer(t, []string{m.addr()}, withSecret(testSecret))
	d := startServer(t, []string{m.addr()}, withSecret("another secret"))
	c.addVolume(t, 7, "001")
	d.addVolume(t, 7, "001")
	m.setLocations(7, c.addr, d.addr)
	const doomed = "7,01fc4a422c"
	r = do(t, http.MethodPost, c.url+"/"+doomed, strings.NewReader("never readable"), bearer(token(testSecret, doomed, 1)))
	if r.status != http.StatusInternalServerError {
		t.Fatalf("write with a replica of another secret: %d %s", r.status, r.body)
	}
	if msg, _ := r.json(t)["error"].(string); !strings.Contains(msg, "401") {
		t.Errorf("error %q does not name the replica's refusal", msg)
	}
	for _, s := range []*testServer{c, d} {
		assertEmpty404(t, do(t, http.MethodGet, s.url+"/"+doomed, nil, nil), "GET on "+s.addr)
	}
	if _, err := d.stored(t, 7, 1, 0xfc4a422c); !replication.IsMissing(err) {
		t.Errorf("replica with another secret stored the needle: %v", err)
	}
}
