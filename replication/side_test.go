package replication_test

import (
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/replication"
	"github.com/weedfs/weed/replication/sidetest"
	"github.com/weedfs/weed/volume"
)

// TestLocalSide runs the Side conformance suite against LocalSide; the
// volume server's tests run it against the remote side (a Peer over HTTP).
func TestLocalSide(t *testing.T) {
	sidetest.Test(t, func(t *testing.T) (*volume.Volume, replication.Side) {
		dir := t.TempDir()
		v, err := volume.Create(dir, "", 1, needle.Placement{SameRack: 1}, needle.TTL{}, volume.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			v.Close()
			if err := volume.Check(dir); err != nil {
				t.Error(err)
			}
		})
		return v, replication.LocalSide(v)
	})
}
