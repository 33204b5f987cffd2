package security

import (
	"errors"
	"testing"
	"time"
)

// FuzzParse feeds Parse arbitrary tokens: it never panics, every refusal
// wraps one of the sentinel errors, and whatever it accepts was signed with
// the secret, has a fid and has not expired, and signs back into a token
// that parses to the same claims.
func FuzzParse(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	f.Add(Sign(testSecret, Claims{Fid: "3,01637037d6", Exp: now.Unix() + 60}))
	f.Add(Sign(testSecret, Claims{Fid: "3,01637037d6", Count: 4, Exp: now.Unix() + 60}))
	f.Add(Sign(testSecret, Claims{Fid: "3,01637037d6", Exp: now.Unix() - 60}))
	f.Add(forge(testSecret, `{"alg":"none"}`, `{"fid":"1,01","exp":1800000000}`))
	f.Add(forge(testSecret, `{"alg":"HS256","crit":[]}`, `{"fid":"1,01","exp":1800000000}`))
	f.Add(forge(testSecret, `{"alg":"HS256"}`, `{"fid":"1,01","exp":1800000000,"count":2}`))
	f.Add("eyJhbGciOiJIUzI1NiJ9..")
	f.Add("...")
	f.Add("")
	sentinels := []error{ErrNoToken, ErrMalformed, ErrAlgorithm, ErrSignature, ErrExpired}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := Parse(testSecret, token, now)
		if err != nil {
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("Parse(%q): error %v wraps no sentinel", token, err)
		}
		if c.Fid == "" || c.Exp <= now.Unix() {
			t.Fatalf("Parse(%q) accepted claims %+v", token, c)
		}
		if _, err := Parse([]byte("another secret"), token, now); !errors.Is(err, ErrSignature) {
			t.Fatalf("Parse(%q) with another secret: %v", token, err)
		}
		back, err := Parse(testSecret, Sign(testSecret, c), now)
		if err != nil || back != c {
			t.Fatalf("claims %+v signed again parse to %+v, %v", c, back, err)
		}
	})
}
