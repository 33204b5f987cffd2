package volumeserver

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/replication"
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
	if _, err := ts.stored(t, 1, 9, 0x12345678); !replication.IsMissing(err) {
		t.Fatalf("the rolled-back write was stored: %v", err)
	}
}
