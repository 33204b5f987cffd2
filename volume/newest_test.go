package volume

import "testing"

var (
	none      = recordState{}
	live      = func(ts uint64) recordState { return recordState{Present: true, AppendAtNs: ts} }
	tomb      = func(ts uint64) recordState { return recordState{Present: true, Tombstone: true, AppendAtNs: ts} }
	peerRole  = sideRole{Trusted: true, Authority: true, Receives: true}
	staleRole = sideRole{Receives: true}
)

func TestNewer(t *testing.T) {
	tests := []struct {
		a, b recordState
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
		if got := newer(tc.a, tc.b); got != tc.want {
			t.Errorf("newer(%+v, %+v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestDecideKey(t *testing.T) {
	backupLocal := sideRole{Receives: true}
	backupSource := sideRole{Trusted: true, Authority: true}
	syncingTrusted := sideRole{Trusted: true, Receives: true}
	tests := []struct {
		name          string
		local, remote recordState
		l, r          sideRole
		exact         bool
		want          syncAction
	}{
		{"equal", live(5), live(5), peerRole, peerRole, true, actNone},
		{"both absent", none, none, peerRole, peerRole, true, actNone},
		{"missed delete here", live(5), tomb(9), staleRole, peerRole, true, actPull},
		{"missed delete there", tomb(9), live(5), peerRole, staleRole, true, actPush},
		{"tombstone beats older write", tomb(9), live(5), peerRole, peerRole, false, actPush},
		{"newer write beats older tombstone", tomb(5), live(9), peerRole, peerRole, false, actPull},
		{"same time, tombstone wins", live(7), tomb(7), peerRole, peerRole, true, actPull},
		{"tombstone to a side that never saw the key", none, tomb(3), peerRole, peerRole, true, actPull},
		{"window: absent here means older here", none, live(3), staleRole, staleRole, false, actPull},
		{"missing write copied from a trusted peer", none, live(3), peerRole, peerRole, true, actPull},
		{"missing write copied from a trusted syncing peer", none, live(3), staleRole, syncingTrusted, true, actPull},
		{"stale peer's needle the authority never had: deleted there", none, live(3), peerRole, staleRole, true, actDeleteRemote},
		{"stale peer's needle, no authority here: left alone", none, live(3), syncingTrusted, staleRole, false, actPull},
		{"stale local needle the authority never had: deleted here", live(3), none, staleRole, peerRole, true, actDeleteLocal},
		{"trusted local needle pushed", live(3), none, peerRole, peerRole, true, actPush},
		{"both stale: undecided", live(3), none, staleRole, staleRole, true, actNone},
		{"backup: source wrote", none, live(3), backupLocal, backupSource, false, actPull},
		{"backup: source deleted", live(3), tomb(4), backupLocal, backupSource, true, actPull},
		{"backup: source compacted the tombstone away", live(3), none, backupLocal, backupSource, true, actDeleteLocal},
		{"backup: never push to the source", live(9), live(3), backupLocal, backupSource, true, actNone},
		{"backup: window absence there is not a delete", live(3), none, backupLocal, backupSource, false, actNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := decideKey(tc.local, tc.remote, tc.l, tc.r, tc.exact); got != tc.want {
				t.Errorf("decideKey(%+v, %+v) = %v, want %v", tc.local, tc.remote, got, tc.want)
			}
		})
	}
}

func TestShouldApply(t *testing.T) {
	tests := []struct {
		name       string
		inc, local recordState
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

func TestSinceWindow(t *testing.T) {
	if w := sinceWindow(0, 100e9, DefaultSyncSlack); w != 0 {
		t.Errorf("empty side: window %d, want 0", w)
	}
	if w := sinceWindow(200e9, 100e9, DefaultSyncSlack); w != 40e9 {
		t.Errorf("window %d, want 40e9 (the older minus 60s)", w)
	}
	if w := sinceWindow(30e9, 100e9, DefaultSyncSlack); w != 0 {
		t.Errorf("window %d, want 0", w)
	}
}
