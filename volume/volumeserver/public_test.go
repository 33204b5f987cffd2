package volumeserver

import "testing"

// TestFidShaped: only a path whose first element is a decimal volume id is
// read as a fid (a bad one is 400); anything else is an unknown page (404).
func TestFidShaped(t *testing.T) {
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/3,01637037d6", true},
		{"/3/01637037d6/a.jpg", true},
		{"/3,zz", true},
		{"/3", true},
		{"/,01637037d6", true},
		{"/abc,01637037d6", true},
		{"/metrics", false},
		{"/favicon.ico", false},
		{"/", false},
		{"/x3/01637037d6", false},
		{"/ui/index.html", false},
	} {
		if got := fidShaped(tc.path); got != tc.want {
			t.Errorf("fidShaped(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}
