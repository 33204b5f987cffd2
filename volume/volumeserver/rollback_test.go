package volumeserver

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/wire"
)

// TestRollbackEndpoint: a replicated delete naming a rollback
// (rollback=<the write's append time>) makes the replica refuse that write
// when it arrives afterwards (409), and a malformed one is a 400.
func TestRollbackEndpoint(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 1, "001")
	n := needle.Needle{Cookie: 0x12345678, Key: 9, Data: []byte("given up on"), AppendAtNs: 1234567890}
	rec, err := n.AppendRecord(nil, needle.Version3)
	if err != nil {
		t.Fatal(err)
	}
	fid := fidOf(1, 9, 0x12345678)
	for _, c := range []struct{ query string }{
		{"ts=1234567999&rollback=x"},
		{"ts=1234567999&rollback=0"},
		{"ts=1234567999&rollback=1234567999"},
	} {
		r := do(t, http.MethodDelete, ts.url+"/"+fid+"?type=replicate&"+c.query, nil, nil)
		if r.status != http.StatusBadRequest {
			t.Errorf("DELETE ?%s = %d %s, want 400", c.query, r.status, r.body)
		}
	}
	r := do(t, http.MethodDelete, ts.url+"/"+fid+"?type=replicate&ts=1234567999&rollback=1234567890", nil, nil)
	if r.status != http.StatusNotFound {
		t.Fatalf("rollback before the write = %d %s, want 404", r.status, r.body)
	}
	r = do(t, http.MethodPost, ts.url+"/"+fid+"?type=replicate", bytes.NewReader(rec), map[string]string{"Content-Type": wire.NeedleContentType})
	if r.status != http.StatusConflict {
		t.Fatalf("the rolled-back write arriving late = %d %s, want 409", r.status, r.body)
	}
	assertEmpty404(t, do(t, http.MethodGet, ts.url+"/"+fid, nil, nil), "GET of the rolled-back write")
	if _, err := ts.stored(t, 1, 9, 0x12345678); !isMissing(err) {
		t.Fatalf("the rolled-back write was stored: %v", err)
	}
}

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
			if _, err := replica.DeleteReplica(k, cookieOf(k), sec(3)); !errors.Is(err, needle.ErrNotFound) {
				t.Fatal(err)
			}
			writeAt(t, replica, k, sec(2)) // what Write did with the late write
			local, peer := replica, primary
			if c.primaryRejoin {
				local, peer = primary, replica
			}
			if st, err := reconcile(context.Background(), localSide{local}, localSide{peer}, rejoining, peerRole, reconcileOptions{}); err != nil {
				t.Fatalf("reconcile: %v (%v)", err, st)
			}
			for _, v := range []*volume.Volume{primary, replica} {
				expectGone(t, v, k)
				for key := needle.Key(1); key < k; key++ {
					expectNeedle(t, v, key, payload(key, 0, sizeOf(key)))
				}
			}
		})
	}
}
