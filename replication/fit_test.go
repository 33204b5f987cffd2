package replication

import (
	"testing"

	"github.com/weedfs/weed/needle"
)

func TestPlacementFits(t *testing.T) {
	a := Site{"dc1", "r1", "a"}
	b := Site{"dc1", "r1", "b"}
	c := Site{"dc1", "r2", "c"}
	d := Site{"dc2", "r1", "d"}
	e := Site{"dc3", "r1", "e"}
	f := Site{"dc1", "r3", "f"}
	tests := []struct {
		p     string
		sites []Site
		want  bool
	}{
		{"000", nil, true},
		{"000", []Site{a}, true},
		{"000", []Site{a, b}, false},
		{"001", []Site{a, b}, true},
		{"001", []Site{a, c}, false},
		{"001", []Site{a}, true},
		{"001", []Site{a, a}, false},
		{"010", []Site{a, c}, true},
		{"010", []Site{a, b}, false},
		{"010", []Site{a, d}, false},
		{"100", []Site{a, d}, true},
		{"100", []Site{a, c}, false},
		{"200", []Site{a, d, e}, true},
		{"200", []Site{a, d, Site{"dc2", "r9", "x"}}, false},
		{"020", []Site{a, c, f}, true},
		{"020", []Site{a, c, Site{"dc1", "r2", "y"}}, false},
		{"011", []Site{a, b, c}, true},
		{"011", []Site{c, a, b}, true},
		{"011", []Site{a, c}, true},
		{"011", []Site{a, b, d}, false},
		{"110", []Site{a, c, d}, true},
		{"002", []Site{a, b, Site{"dc1", "r1", "z"}}, true},
		{"002", []Site{a, b, c}, false},
	}
	for _, tc := range tests {
		p, err := needle.ParsePlacement(tc.p)
		if err != nil {
			t.Fatal(err)
		}
		if got := Fits(p, tc.sites); got != tc.want {
			t.Errorf("%s.Fits(%v) = %v, want %v", tc.p, tc.sites, got, tc.want)
		}
	}
}
