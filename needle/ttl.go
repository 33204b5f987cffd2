package needle

import (
	"fmt"
	"strconv"
	"time"
)

// TTL is a needle or volume time-to-live: a count and a unit, stored as two
// bytes. The zero TTL means "never expires".
type TTL struct {
	Count uint8
	Unit  uint8
}

// TTL units as stored on disk (SeaweedFS compatible).
const (
	TTLUnitNone   uint8 = 0
	TTLUnitMinute uint8 = 1 // 'm'
	TTLUnitHour   uint8 = 2 // 'h'
	TTLUnitDay    uint8 = 3 // 'd'
	TTLUnitWeek   uint8 = 4 // 'w'
	TTLUnitMonth  uint8 = 5 // 'M'
	TTLUnitYear   uint8 = 6 // 'y'
)

const ttlUnitChars = " mhdwMy"

// ParseTTL parses "" (no ttl), "<n>" (minutes) or "<n><unit>" with unit one
// of m h d w M y and 1 <= n <= 255.
func ParseTTL(s string) (TTL, error) {
	if s == "" {
		return TTL{}, nil
	}
	unit := TTLUnitMinute
	num := s
	last := s[len(s)-1]
	if last < '0' || last > '9' {
		unit = 0
		for u := 1; u < len(ttlUnitChars); u++ {
			if ttlUnitChars[u] == last {
				unit = uint8(u)
			}
		}
		if unit == 0 {
			return TTL{}, fmt.Errorf("%w: unknown unit in %q", ErrBadTTL, s)
		}
		num = s[:len(s)-1]
	}
	n, err := strconv.ParseUint(num, 10, 8)
	if err != nil || num[0] == '+' {
		return TTL{}, fmt.Errorf("%w: %q", ErrBadTTL, s)
	}
	if n == 0 {
		return TTL{}, nil
	}
	return TTL{Count: uint8(n), Unit: unit}, nil
}

// TTLFromBytes decodes the two stored bytes. Unknown units decode as no ttl.
func TTLFromBytes(b []byte) TTL {
	if len(b) < 2 || b[0] == 0 || b[1] == 0 || int(b[1]) >= len(ttlUnitChars) {
		return TTL{}
	}
	return TTL{Count: b[0], Unit: b[1]}
}

// Bytes returns the two stored bytes.
func (t TTL) Bytes() [2]byte { return [2]byte{t.Count, t.Unit} }

// IsZero reports whether t means "never expires".
func (t TTL) IsZero() bool { return t.Count == 0 || t.Unit == 0 }

// String returns the form ParseTTL accepts, or "" for no ttl.
func (t TTL) String() string {
	if t.IsZero() || int(t.Unit) >= len(ttlUnitChars) {
		return ""
	}
	return strconv.Itoa(int(t.Count)) + string(ttlUnitChars[t.Unit])
}

// Duration returns the ttl as a duration (months are 31 days, years 366).
func (t TTL) Duration() time.Duration {
	if t.IsZero() {
		return 0
	}
	var unit time.Duration
	switch t.Unit {
	case TTLUnitMinute:
		unit = time.Minute
	case TTLUnitHour:
		unit = time.Hour
	case TTLUnitDay:
		unit = 24 * time.Hour
	case TTLUnitWeek:
		unit = 7 * 24 * time.Hour
	case TTLUnitMonth:
		unit = 31 * 24 * time.Hour
	case TTLUnitYear:
		unit = 366 * 24 * time.Hour
	default:
		return 0
	}
	return time.Duration(t.Count) * unit
}
