// Package security signs and checks the write tokens of a cluster started
// with -secure.secret, weed-fs's model: the master signs a short-lived JSON
// Web Token (RFC 7519, HS256) for every fid it hands out, and volume servers
// refuse writes and deletes of a fid that do not carry a valid token for it.
// Reads need no token.
//
// Only what weed needs of JWT is here: HMAC-SHA256 signatures, the claims
// fid, count and exp. Tokens with another algorithm ("none" included) are
// refused before anything else is looked at.
package security

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/weedfs/weed/needle"
)

// Errors of Parse and Signer.Check, checked with errors.Is.
var (
	// ErrNoToken means the request carried no token at all.
	ErrNoToken = errors.New("security: no token")
	// ErrMalformed means the token is not three base64url parts holding a
	// JSON header and JSON claims with a fid and an exp.
	ErrMalformed = errors.New("security: malformed token")
	// ErrAlgorithm means the header names an algorithm other than HS256
	// ("none" included) or critical extensions.
	ErrAlgorithm = errors.New("security: token algorithm is not HS256")
	// ErrSignature means the signature was not made with this secret.
	ErrSignature = errors.New("security: token signature does not match")
	// ErrExpired means the token's exp has passed.
	ErrExpired = errors.New("security: token expired")
	// ErrWrongFid means the token is valid but names another file id.
	ErrWrongFid = errors.New("security: token is for another file id")
)

// MaxTokenLen bounds the length of a token Parse looks at. A weed token is
// about 150 bytes.
const MaxTokenLen = 2048

// Algorithm is the only signature algorithm weed signs and accepts.
const Algorithm = "HS256"

// Claims are what a token says: which file ids it allows writing or deleting
// and until when.
type Claims struct {
	// Fid is the file id the token was signed for.
	Fid string `json:"fid"`
	// Count, when above 1, extends the token to Fid_1 … Fid_{Count-1}, the
	// ids an assign with count=Count reserved along with Fid.
	Count uint64 `json:"count,omitempty"`
	// Exp is when the token expires, in unix seconds. A token is refused
	// from that second on.
	Exp int64 `json:"exp"`
}

// Covers reports whether the claims allow writing or deleting fid: the
// claimed fid itself or, with a count, one of the ids after it (same volume
// and cookie, keys key+1 … key+Count-1).
func (c Claims) Covers(fid needle.FileID) bool {
	first, err := needle.ParseFileID(c.Fid)
	if err != nil || first.Volume != fid.Volume || first.Cookie != fid.Cookie || fid.Key < first.Key {
		return false
	}
	return uint64(fid.Key-first.Key) < max(c.Count, 1)
}

// b64 is the base64url alphabet without padding that JWT uses. Strict: a
// part whose unused trailing bits are not zero is refused, so that a token
// has exactly one spelling.
var b64 = base64.RawURLEncoding.Strict()

// encodedHeader is the first part of every token Sign writes.
var encodedHeader = b64.EncodeToString([]byte(`{"alg":"` + Algorithm + `","typ":"JWT"}`))

// Sign returns the HS256 token of c signed with secret:
// base64url(header) "." base64url(claims) "." base64url(HMAC-SHA256).
func Sign(secret []byte, c Claims) string {
	// Claims are a string and two integers: Marshal cannot fail.
	payload, _ := json.Marshal(c)
	b := make([]byte, 0, len(encodedHeader)+1+b64.EncodedLen(len(payload))+1+b64.EncodedLen(sha256.Size))
	b = append(b, encodedHeader...)
	b = append(b, '.')
	b = b64.AppendEncode(b, payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write(b)
	var sum [sha256.Size]byte
	b = append(b, '.')
	b = b64.AppendEncode(b, mac.Sum(sum[:0]))
	return string(b)
}

// Parse checks token, in this order: its shape, that its header names
// HS256 and no critical extension, its signature with secret (compared in
// constant time), its claims (a fid and an exp are required) and that it has
// not expired at now. It returns the claims, or an error wrapping one of the
// sentinel errors above.
func Parse(secret []byte, token string, now time.Time) (Claims, error) {
	if token == "" {
		return Claims{}, ErrNoToken
	}
	if len(token) > MaxTokenLen {
		return Claims{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(token))
	}
	head, rest, ok1 := strings.Cut(token, ".")
	body, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(sig, '.') >= 0 {
		return Claims{}, fmt.Errorf("%w: not three parts", ErrMalformed)
	}
	if err := checkHeader(head); err != nil {
		return Claims{}, err
	}
	var got [sha256.Size]byte
	if b64.DecodedLen(len(sig)) != sha256.Size {
		return Claims{}, fmt.Errorf("%w: signature of %d characters", ErrSignature, len(sig))
	}
	if n, err := b64.Decode(got[:], []byte(sig)); err != nil || n != sha256.Size {
		return Claims{}, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(token[:len(head)+1+len(body)]))
	var want [sha256.Size]byte
	if !hmac.Equal(got[:], mac.Sum(want[:0])) {
		return Claims{}, ErrSignature
	}
	payload, err := b64.DecodeString(body)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: claims are not base64url", ErrMalformed)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	if c.Fid == "" || c.Exp == 0 {
		return Claims{}, fmt.Errorf("%w: claims without fid or exp", ErrMalformed)
	}
	if now.Unix() >= c.Exp {
		return Claims{}, fmt.Errorf("%w at %s", ErrExpired, time.Unix(c.Exp, 0).UTC().Format(time.RFC3339))
	}
	return c, nil
}

// checkHeader decodes a token's first part and accepts only a JSON object
// whose "alg" is exactly HS256 and which has no "crit" member.
func checkHeader(head string) error {
	raw, err := b64.DecodeString(head)
	if err != nil {
		return fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(raw, &h); err != nil || h == nil {
		return fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	var alg string
	if a, ok := h["alg"]; !ok || json.Unmarshal(a, &alg) != nil || alg != Algorithm {
		return fmt.Errorf("%w: alg %s", ErrAlgorithm, bytes.TrimSpace(h["alg"]))
	}
	if _, ok := h["crit"]; ok {
		return fmt.Errorf("%w: critical header extensions", ErrAlgorithm)
	}
	return nil
}
