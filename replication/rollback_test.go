package replication

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/volume/volumetest"
)

// TestRejoinResolvesRolledBackSplit: the state the fault used to leave (the
// primary holds the write then its rollback tombstone; the replica the
// tombstone then the late write, live) is resolved by a rejoin sync of
// either side to absent on both: the tombstone is newer than the write.
func TestRejoinResolvesRolledBackSplit(t *testing.T) {
	const k = needle.Key(5)
	rejoining := sideRole{Trusted: true, Receives: true} // restarted, not marked stale
	for _, c := range []struct {
		name          string
		primaryRejoin bool
	}{{"the replica restarts", false}, {"the primary restarts", true}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			primary := createVolIn(t, filepath.Join(dir, "primary"), volume.Options{})
			replica := createVolIn(t, filepath.Join(dir, "replica"), volume.Options{})
			for _, v := range []*volume.Volume{primary, replica} {
				for key := needle.Key(1); key < k; key++ {
					writeAt(t, v, key, sec(float64(key)/10))
				}
			}
			writeAt(t, primary, k, sec(2))
			deleteAt(t, primary, k, sec(3))
			if _, err := replica.DeleteReplica(k, volumetest.CookieOf(k), sec(3)); !errors.Is(err, needle.ErrNotFound) {
				t.Fatal(err)
			}
			writeAt(t, replica, k, sec(2)) // what Write did with the late write
			local, peer := replica, primary
			if c.primaryRejoin {
				local, peer = primary, replica
			}
			if st, err := reconcile(context.Background(), LocalSide(local), LocalSide(peer), rejoining, peerRole, reconcileOptions{}); err != nil {
				t.Fatalf("reconcile: %v (%v)", err, st)
			}
			for _, v := range []*volume.Volume{primary, replica} {
				expectGone(t, v, k)
				for key := needle.Key(1); key < k; key++ {
					expectNeedle(t, v, key, volumetest.Payload(key, 0, volumetest.SizeOf(key)))
				}
			}
		})
	}
}
