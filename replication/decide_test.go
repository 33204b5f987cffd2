package replication

import (
	"testing"

	"github.com/weedfs/weed/volume"
)

var (
	peerRole  = sideRole{Trusted: true, Authority: true, Receives: true}
	staleRole = sideRole{Receives: true}
)

func TestDecideKey(t *testing.T) {
	backupLocal := sideRole{Receives: true}
	backupSource := sideRole{Trusted: true, Authority: true}
	syncingTrusted := sideRole{Trusted: true, Receives: true}
	tests := []struct {
		name          string
		local, remote volume.RecordState
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
