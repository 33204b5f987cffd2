package needle_test

import (
	"errors"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
)

func TestParseTTL(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want needle.TTL
		str  string
		dur  time.Duration
	}{
		{"", needle.TTL{}, "", 0},
		{"0m", needle.TTL{}, "", 0},
		{"0", needle.TTL{}, "", 0},
		{"5", needle.TTL{Count: 5, Unit: needle.TTLUnitMinute}, "5m", 5 * time.Minute},
		{"3m", needle.TTL{Count: 3, Unit: needle.TTLUnitMinute}, "3m", 3 * time.Minute},
		{"4h", needle.TTL{Count: 4, Unit: needle.TTLUnitHour}, "4h", 4 * time.Hour},
		{"5d", needle.TTL{Count: 5, Unit: needle.TTLUnitDay}, "5d", 5 * day},
		{"6w", needle.TTL{Count: 6, Unit: needle.TTLUnitWeek}, "6w", 42 * day},
		{"7M", needle.TTL{Count: 7, Unit: needle.TTLUnitMonth}, "7M", 7 * 31 * day},
		{"8y", needle.TTL{Count: 8, Unit: needle.TTLUnitYear}, "8y", 8 * 366 * day},
		{"255d", needle.TTL{Count: 255, Unit: needle.TTLUnitDay}, "255d", 255 * day},
	} {
		got, err := needle.ParseTTL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseTTL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if s := got.String(); s != tc.str {
			t.Errorf("%+v.String() = %q, want %q", got, s, tc.str)
		}
		if d := got.Duration(); d != tc.dur {
			t.Errorf("%+v.Duration() = %v, want %v", got, d, tc.dur)
		}
		if got.IsZero() != (tc.dur == 0) {
			t.Errorf("%+v.IsZero() = %v", got, got.IsZero())
		}
		b := got.Bytes()
		if back := needle.TTLFromBytes(b[:]); back != got {
			t.Errorf("TTLFromBytes(%v) = %+v, want %+v", b, back, got)
		}
	}
}

func TestParseTTLMalformed(t *testing.T) {
	for _, in := range []string{"m", "256m", "256", "3x", "-1m", "+3m", "3 m", " 3m", "1.5h", "3mm", "d3", "0x10m", "3D"} {
		if got, err := needle.ParseTTL(in); !errors.Is(err, needle.ErrBadTTL) {
			t.Errorf("ParseTTL(%q) = %+v, %v; want ErrBadTTL", in, got, err)
		}
	}
}

func TestTTLFromBytes(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want needle.TTL
	}{
		{nil, needle.TTL{}},
		{[]byte{5}, needle.TTL{}},
		{[]byte{0, 3}, needle.TTL{}},
		{[]byte{5, 0}, needle.TTL{}},
		{[]byte{5, 7}, needle.TTL{}}, // unknown unit
		{[]byte{5, 3}, needle.TTL{Count: 5, Unit: needle.TTLUnitDay}},
	} {
		if got := needle.TTLFromBytes(tc.b); got != tc.want {
			t.Errorf("TTLFromBytes(%v) = %+v, want %+v", tc.b, got, tc.want)
		}
	}
	if s := (needle.TTL{Count: 1, Unit: 9}).String(); s != "" {
		t.Errorf("unknown unit String() = %q", s)
	}
	if d := (needle.TTL{Count: 1, Unit: 9}).Duration(); d != 0 {
		t.Errorf("unknown unit Duration() = %v", d)
	}
}
