package security

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
)

var testSecret = []byte("s3cret")

// forge builds a token from raw header and claims JSON, signed with secret
// by HMAC-SHA256 whatever the header says.
func forge(secret []byte, header, claims string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

func TestSignThenParse(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, c := range []Claims{
		{Fid: "3,01637037d6", Exp: now.Unix() + 60},
		{Fid: "3,01637037d6", Count: 5, Exp: now.Unix() + 1},
		{Fid: `odd "fid" \ with escapes`, Exp: 1 << 40},
	} {
		tok := Sign(testSecret, c)
		if parts := strings.Split(tok, "."); len(parts) != 3 || strings.ContainsAny(tok, "=+/") {
			t.Fatalf("token %q is not three unpadded base64url parts", tok)
		}
		got, err := Parse(testSecret, tok, now)
		if err != nil || got != c {
			t.Fatalf("Parse(Sign(%+v)) = %+v, %v", c, got, err)
		}
	}
	// The header is the standard one.
	head, _ := base64.RawURLEncoding.DecodeString(strings.Split(Sign(testSecret, Claims{Fid: "1,01", Exp: 1}), ".")[0])
	if string(head) != `{"alg":"HS256","typ":"JWT"}` {
		t.Fatalf("header %s", head)
	}
}

func TestParseRefusals(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	exp := now.Unix() + 60
	good := Sign(testSecret, Claims{Fid: "3,01637037d6", Exp: exp})
	parts := strings.Split(good, ".")
	claims := `{"fid":"3,01637037d6","exp":1700000060}`
	enc := base64.RawURLEncoding
	for _, tc := range []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrNoToken},
		{"one part", "abc", ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed},
		{"four parts", good + ".x", ErrMalformed},
		{"too long", good + strings.Repeat("A", MaxTokenLen), ErrMalformed},
		{"header not base64", "!!!." + parts[1] + "." + parts[2], ErrMalformed},
		{"header padded", parts[0] + "=." + parts[1] + "." + parts[2], ErrMalformed},
		{"header not an object", forge(testSecret, `["HS256"]`, claims), ErrMalformed},
		{"header null", forge(testSecret, `null`, claims), ErrMalformed},
		{"alg none", forge(testSecret, `{"alg":"none","typ":"JWT"}`, claims), ErrAlgorithm},
		{"alg none unsigned", enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".", ErrAlgorithm},
		{"alg HS512", forge(testSecret, `{"alg":"HS512"}`, claims), ErrAlgorithm},
		{"alg lower case", forge(testSecret, `{"alg":"hs256"}`, claims), ErrAlgorithm},
		{"alg missing", forge(testSecret, `{"typ":"JWT"}`, claims), ErrAlgorithm},
		{"alg not a string", forge(testSecret, `{"alg":256}`, claims), ErrAlgorithm},
		{"crit", forge(testSecret, `{"alg":"HS256","crit":["exp"]}`, claims), ErrAlgorithm},
		{"other secret", Sign([]byte("other"), Claims{Fid: "3,01637037d6", Exp: exp}), ErrSignature},
		{"empty signature", parts[0] + "." + parts[1] + ".", ErrSignature},
		{"short signature", parts[0] + "." + parts[1] + "." + parts[2][:42], ErrSignature},
		{"signature not base64", parts[0] + "." + parts[1] + "." + strings.Repeat("*", 43), ErrMalformed},
		{"claims changed", parts[0] + "." + enc.EncodeToString([]byte(`{"fid":"3,02637037d6","exp":1700000060}`)) + "." + parts[2], ErrSignature},
		{"claims not JSON", forge(testSecret, `{"alg":"HS256"}`, `fid=1`), ErrMalformed},
		{"no fid", forge(testSecret, `{"alg":"HS256"}`, `{"exp":1700000060}`), ErrMalformed},
		{"no exp", forge(testSecret, `{"alg":"HS256"}`, `{"fid":"3,01637037d6"}`), ErrMalformed},
		{"exp a string", forge(testSecret, `{"alg":"HS256"}`, `{"fid":"3,01637037d6","exp":"soon"}`), ErrMalformed},
		{"negative count", forge(testSecret, `{"alg":"HS256"}`, `{"fid":"3,01637037d6","count":-1,"exp":1700000060}`), ErrMalformed},
		{"expired", Sign(testSecret, Claims{Fid: "3,01637037d6", Exp: now.Unix() - 1}), ErrExpired},
		{"expires this second", Sign(testSecret, Claims{Fid: "3,01637037d6", Exp: now.Unix()}), ErrExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(testSecret, tc.token, now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse = %+v, %v; want %v", c, err, tc.want)
			}
		})
	}
	// A token forged with a standard HS256 header of another spelling is
	// fine as long as it is signed with the secret.
	if _, err := Parse(testSecret, forge(testSecret, `{"typ":"JWT","alg":"HS256"}`, claims), now); err != nil {
		t.Fatalf("valid token with reordered header: %v", err)
	}
}

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		claims Claims
		fid    string
		want   bool
	}{
		{Claims{Fid: "3,01637037d6"}, "3,01637037d6", true},
		{Claims{Fid: "3,01637037d6"}, "3,01637037d6_1", false},
		{Claims{Fid: "3,01637037d6"}, "3,02637037d6", false},
		{Claims{Fid: "3,01637037d6"}, "4,01637037d6", false},
		{Claims{Fid: "3,01637037d6"}, "3,01637037d7", false},
		{Claims{Fid: "3,01637037d6", Count: 1}, "3,01637037d6", true},
		{Claims{Fid: "3,01637037d6", Count: 3}, "3,01637037d6_2", true},
		{Claims{Fid: "3,01637037d6", Count: 3}, "3,03637037d6", true},
		{Claims{Fid: "3,01637037d6", Count: 3}, "3,01637037d6_3", false},
		{Claims{Fid: "3,02637037d6", Count: 3}, "3,01637037d6", false},
		{Claims{Fid: "3,ffffffffffffffff637037d6", Count: 3}, "3,01637037d6", false},
		{Claims{Fid: "3,01637037d6_2", Count: 2}, "3,04637037d6", true},
		{Claims{Fid: "not a fid", Count: 2}, "3,01637037d6", false},
	} {
		fid, err := needle.ParseFileID(tc.fid)
		if err != nil {
			t.Fatal(err)
		}
		if got := tc.claims.Covers(fid); got != tc.want {
			t.Errorf("%+v covers %s = %v, want %v", tc.claims, tc.fid, got, tc.want)
		}
	}
}

func TestSigner(t *testing.T) {
	if NewSigner("", time.Minute) != nil {
		t.Fatal("an empty secret must give no Signer")
	}
	s := NewSigner("s3cret", 0)
	if s.ttl != DefaultTokenTTL {
		t.Fatalf("ttl %v", s.ttl)
	}
	fid, _ := needle.ParseFileID("7,0a12345678")
	tok := s.Sign("7,0a12345678", 1)
	if err := s.Check(tok, fid); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte("s3cret"), tok, time.Now())
	if err != nil || c.Count != 0 || c.Exp < time.Now().Add(DefaultTokenTTL-2*time.Second).Unix() || c.Exp > time.Now().Add(DefaultTokenTTL).Unix() {
		t.Fatalf("claims %+v, %v", c, err)
	}
	other, _ := needle.ParseFileID("7,0b12345678")
	if err := s.Check(tok, other); !errors.Is(err, ErrWrongFid) {
		t.Fatalf("other fid: %v", err)
	}
	many := s.Sign("7,0a12345678", 2)
	if err := s.Check(many, other); err != nil {
		t.Fatalf("count token for fid_1: %v", err)
	}
	if err := s.Check("", fid); !errors.Is(err, ErrNoToken) {
		t.Fatalf("no token: %v", err)
	}
	if err := NewSigner("other", 0).Check(tok, fid); !errors.Is(err, ErrSignature) {
		t.Fatalf("other secret: %v", err)
	}
}

func TestRequestToken(t *testing.T) {
	for _, tc := range []struct {
		auth, query, want string
	}{
		{"", "", ""},
		{"Bearer abc.def.ghi", "", "abc.def.ghi"},
		{"BEARER abc.def.ghi", "", "abc.def.ghi"},
		{"bearer   abc.def.ghi ", "", "abc.def.ghi"},
		{"Basic dXNlcjpwdw==", "", ""},
		{"Bearer", "", ""},
		{"", "jwt=abc.def.ghi", "abc.def.ghi"},
		{"", "type=replicate&jwt=abc.def.ghi&ts=1", "abc.def.ghi"},
		{"Bearer from.the.header", "jwt=from.the.query", "from.the.header"},
		{"", "notjwt=1", ""},
	} {
		r := httptest.NewRequest(http.MethodPost, "/3,01637037d6?"+tc.query, nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		if got := RequestToken(r); got != tc.want {
			t.Errorf("Authorization %q, query %q: token %q, want %q", tc.auth, tc.query, got, tc.want)
		}
	}
	if got := BearerToken(Bearer("x.y.z")); got != "x.y.z" {
		t.Errorf("BearerToken(Bearer) = %q", got)
	}
}

func BenchmarkSign(b *testing.B) {
	s := NewSigner("s3cret", 0)
	for b.Loop() {
		_ = s.Sign("3,01637037d6", 1)
	}
}

func BenchmarkCheck(b *testing.B) {
	s := NewSigner("s3cret", 0)
	tok := s.Sign("3,01637037d6", 1)
	fid, _ := needle.ParseFileID("3,01637037d6")
	for b.Loop() {
		if err := s.Check(tok, fid); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAdminToken(t *testing.T) {
	s := NewSigner("s3cret", 0)
	fid, _ := needle.ParseFileID("7,0a12345678")
	admin := s.SignAdmin()
	for _, tc := range []struct {
		name  string
		token string
		want  error
	}{
		{"admin token", admin, nil},
		{"none", "", ErrNoToken},
		{"write token", s.Sign("7,0a12345678", 1), ErrNotAdmin},
		{"write token of many", s.Sign("7,0a12345678", 3), ErrNotAdmin},
		{"another secret", NewSigner("other", 0).SignAdmin(), ErrSignature},
		{"expired", Sign([]byte("s3cret"), Claims{Fid: AdminFid, Exp: time.Now().Add(-time.Second).Unix()}), ErrExpired},
		{"alg none", forge([]byte("s3cret"), `{"alg":"none"}`, `{"fid":"admin","exp":`+strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)+`}`), ErrAlgorithm},
		{"garbage", "a.b.c", ErrMalformed},
	} {
		if err := s.CheckAdmin(tc.token); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: CheckAdmin = %v, want %v", tc.name, err, tc.want)
		}
	}
	// An admin token never allows a write or delete of a fid.
	if err := s.Check(admin, fid); !errors.Is(err, ErrWrongFid) {
		t.Fatalf("admin token for a write: %v", err)
	}
}

func TestRequireAdmin(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	var nilSigner *Signer
	if h := nilSigner.RequireAdmin(ok); reflect.ValueOf(h).Pointer() != reflect.ValueOf(ok).Pointer() {
		t.Fatal("without a secret RequireAdmin must return the handler itself")
	}
	s := NewSigner("s3cret", 0)
	h := s.RequireAdmin(ok)
	for _, tc := range []struct {
		name   string
		auth   string
		query  string
		status int
	}{
		{"header", "Bearer " + s.SignAdmin(), "", http.StatusNoContent},
		{"query", "", "?jwt=" + s.SignAdmin(), http.StatusNoContent},
		{"none", "", "", http.StatusUnauthorized},
		{"write token", "Bearer " + s.Sign("7,0a12345678", 1), "", http.StatusUnauthorized},
		{"other secret", "Bearer " + NewSigner("x", 0).SignAdmin(), "", http.StatusUnauthorized},
	} {
		r := httptest.NewRequest(http.MethodPost, "/admin/delete_volume"+tc.query, nil)
		if tc.auth != "" {
			r.Header.Set(AuthorizationHeader, tc.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, w.Code, w.Body, tc.status)
		}
		if tc.status == http.StatusUnauthorized && !strings.Contains(w.Body.String(), `"error"`) {
			t.Errorf("%s: 401 without a JSON error: %s", tc.name, w.Body)
		}
	}
	// AuthorizeAdmin signs a request RequireAdmin accepts; nil does nothing.
	r := httptest.NewRequest(http.MethodPost, "/admin/sync/apply", nil)
	nilSigner.AuthorizeAdmin(r)
	if r.Header.Get(AuthorizationHeader) != "" {
		t.Fatal("a nil Signer set a header")
	}
	s.AuthorizeAdmin(r)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusNoContent {
		t.Fatalf("signed request: %d %s", w.Code, w.Body)
	}
}
