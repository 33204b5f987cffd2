package volume

import "testing"

var (
	none = RecordState{}
	live = func(ts uint64) RecordState { return RecordState{Present: true, AppendAtNs: ts} }
	tomb = func(ts uint64) RecordState { return RecordState{Present: true, Tombstone: true, AppendAtNs: ts} }
)

func TestNewer(t *testing.T) {
	tests := []struct {
		a, b RecordState
		want bool
	}{
		{live(2), live(1), true},
		{live(1), live(2), false},
		{live(1), live(1), false},
		{tomb(1), live(1), true}, // equal times: the tombstone wins
		{live(1), tomb(1), false},
		{tomb(1), tomb(1), false},
		{tomb(1), live(2), false}, // an older tombstone loses to a newer write
		{live(2), tomb(1), true},
		{live(1), none, true},
		{tomb(1), none, true},
		{none, live(1), false},
		{none, none, false},
	}
	for _, tc := range tests {
		if got := Newer(tc.a, tc.b); got != tc.want {
			t.Errorf("Newer(%+v, %+v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestShouldApply(t *testing.T) {
	tests := []struct {
		name       string
		inc, local RecordState
		damaged    bool
		opts       ApplyOptions
		want       bool
	}{
		{"newer write", live(5), live(3), false, ApplyOptions{}, true},
		{"older write", live(3), live(5), false, ApplyOptions{}, false},
		{"tombstone over older write", tomb(5), live(3), false, ApplyOptions{}, true},
		{"older write after a tombstone", live(3), tomb(5), false, ApplyOptions{AllowNew: true}, false},
		{"new key refused", live(3), none, false, ApplyOptions{}, false},
		{"new key allowed", live(3), none, false, ApplyOptions{AllowNew: true}, true},
		{"tombstone of an unknown key", tomb(3), none, false, ApplyOptions{}, true},
		{"same record", live(3), live(3), false, ApplyOptions{Repair: true}, false},
		{"repair a damaged copy", live(3), live(3), true, ApplyOptions{Repair: true}, true},
		{"no repair without the option", live(3), live(3), true, ApplyOptions{}, false},
	}
	for _, tc := range tests {
		if got := shouldApply(tc.inc, tc.local, tc.damaged, tc.opts); got != tc.want {
			t.Errorf("%s: shouldApply = %v, want %v", tc.name, got, tc.want)
		}
	}
}
