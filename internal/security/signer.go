package security

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/needle"
)

// DefaultTokenTTL is how long a token stays valid after it is signed. It is
// checked when a volume server starts handling a request, so it bounds the
// time between an assign and the start of its upload, not the upload's
// length. weed-fs later defaulted to 10 s; 60 s leaves room for slow
// clients and clock skew between the master and the volume servers.
const DefaultTokenTTL = 60 * time.Second

// AuthorizationHeader carries a token: "Bearer <token>" from clients (the
// scheme is matched without regard to case), "BEARER <token>" in a master's
// answers, as weed-fs wrote it.
const AuthorizationHeader = "Authorization"

// QueryParam is the query parameter that may carry a token instead of the
// header: /<fid>?jwt=<token>.
const QueryParam = "jwt"

// bearerPrefix starts an Authorization value of the Bearer scheme, in the
// spelling masters write.
const bearerPrefix = "BEARER "

// Signer signs and checks tokens with one secret. A nil *Signer stands for
// an unsecured cluster; callers test for nil before use. It is read-only
// once built and safe for concurrent use.
type Signer struct {
	secret []byte
	ttl    time.Duration
}

// NewSigner returns a Signer for secret whose tokens expire ttl after they
// are signed (DefaultTokenTTL when ttl <= 0), or nil when secret is empty:
// no security, as without -secure.secret.
func NewSigner(secret string, ttl time.Duration) *Signer {
	if secret == "" {
		return nil
	}
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	return &Signer{secret: []byte(secret), ttl: ttl}
}

// Sign returns a token for fid that expires the Signer's ttl from now. With
// count > 1 it also covers fid_1 … fid_{count-1}.
func (s *Signer) Sign(fid string, count uint64) string {
	c := Claims{Fid: fid, Exp: time.Now().Add(s.ttl).Unix()}
	if count > 1 {
		c.Count = count
	}
	return Sign(s.secret, c)
}

// Check parses token (see Parse) and reports whether it allows writing or
// deleting fid: nil, or an error wrapping ErrNoToken, ErrMalformed,
// ErrAlgorithm, ErrSignature, ErrExpired or ErrWrongFid.
func (s *Signer) Check(token string, fid needle.FileID) error {
	c, err := Parse(s.secret, token, time.Now())
	if err != nil {
		return err
	}
	if !c.Covers(fid) {
		if c.Count > 1 {
			return fmt.Errorf("%w: it covers %s and %d after it, not %s", ErrWrongFid, c.Fid, c.Count-1, fid)
		}
		return fmt.Errorf("%w: it covers %s, not %s", ErrWrongFid, c.Fid, fid)
	}
	return nil
}

// Bearer returns the Authorization value a master answers with a token:
// "BEARER <token>".
func Bearer(token string) string { return bearerPrefix + token }

// BearerToken returns the token of an Authorization value of the Bearer
// scheme (any case), or "" when v is of another scheme or empty.
func BearerToken(v string) string {
	if len(v) <= len(bearerPrefix) || !strings.EqualFold(v[:len(bearerPrefix)], bearerPrefix) {
		return ""
	}
	return strings.TrimSpace(v[len(bearerPrefix):])
}

// RequestToken returns the token r carries: in its Authorization header
// ("Bearer <token>"), else in its jwt query parameter; "" when none.
func RequestToken(r *http.Request) string {
	if t := BearerToken(r.Header.Get(AuthorizationHeader)); t != "" {
		return t
	}
	if strings.Contains(r.URL.RawQuery, QueryParam+"=") {
		return r.URL.Query().Get(QueryParam)
	}
	return ""
}

// AdminFid is the fid claim of an admin token: the token a state-changing
// admin request (a volume server's /admin/... POSTs, a master's /vol/grow,
// /vol/vacuum, /col/delete, /cluster/remove, heartbeats and stale marks)
// must carry in a cluster with a secret. It is not a file id, so an admin
// token never allows a write or delete of a fid, and a fid's write token,
// which any client the master assigns to holds, never allows an admin call.
const AdminFid = "admin"

// ErrNotAdmin means the token is valid but is a write token for a fid, not
// an admin token.
var ErrNotAdmin = errors.New("security: not an admin token")

// SignAdmin returns an admin token that expires the Signer's ttl from now.
func (s *Signer) SignAdmin() string {
	return Sign(s.secret, Claims{Fid: AdminFid, Exp: time.Now().Add(s.ttl).Unix()})
}

// CheckAdmin parses token (see Parse) and reports whether it is an admin
// token: nil, or an error wrapping ErrNoToken, ErrMalformed, ErrAlgorithm,
// ErrSignature, ErrExpired or ErrNotAdmin.
func (s *Signer) CheckAdmin(token string) error {
	c, err := Parse(s.secret, token, time.Now())
	if err != nil {
		return err
	}
	if c.Fid != AdminFid {
		return fmt.Errorf("%w: it is for fid %s", ErrNotAdmin, c.Fid)
	}
	return nil
}

// AuthorizeAdmin sets r's Authorization header to "Bearer <admin token>",
// for the calls servers make to each other's admin endpoints. A nil Signer
// (no secret) leaves r as it is.
func (s *Signer) AuthorizeAdmin(r *http.Request) {
	if s != nil {
		r.Header.Set(AuthorizationHeader, "Bearer "+s.SignAdmin())
	}
}

// RequireAdmin returns h guarded by admin tokens: a request without a valid
// admin token (in its Authorization header or ?jwt=) gets 401 with a JSON
// error saying why, and h is not called. A nil Signer returns h itself, so
// that a server without a secret pays nothing.
func (s *Signer) RequireAdmin(h http.Handler) http.Handler {
	if s == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.CheckAdmin(RequestToken(r)); err != nil {
			glog.V(1).Infof("%s %s from %s refused: %v", r.Method, r.URL.Path, r.RemoteAddr, err)
			httpx.WriteError(w, r, http.StatusUnauthorized, "admin request needs an admin token: "+err.Error())
			return
		}
		h.ServeHTTP(w, r)
	})
}
