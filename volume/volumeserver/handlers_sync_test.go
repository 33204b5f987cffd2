package volumeserver

import (
	"net/http"
	"testing"

	"github.com/weedfs/weed/replication"
	"github.com/weedfs/weed/replication/sidetest"
	"github.com/weedfs/weed/volume"
)

// TestRemoteSide runs the Side conformance suite against a Peer reached
// over this server's sync endpoints; replication's tests run it against
// the local side.
func TestRemoteSide(t *testing.T) {
	sidetest.Test(t, func(t *testing.T) (*volume.Volume, replication.Side) {
		m := newFakeMaster(t)
		ts := startServer(t, []string{m.addr()})
		ts.addVolume(t, 1, "001")
		return ts.store.Volume(1), replication.NewRemotePeer(http.DefaultClient, ts.addr, 1, nil)
	})
}
