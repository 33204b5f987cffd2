package filer_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/client/clienttest"
	"github.com/weedfs/weed/filer"
	"github.com/weedfs/weed/internal/redistest"
)

// TestNotReplicatedWriteKeepsItsNeedles: a filer asking for a Redis
// replica that is not there answers a write 503 with the reason, but the
// entry is on the master, so the file's needle stays and the file reads
// back: a 503 never leaves a listed file whose bytes are gone.
func TestNotReplicatedWriteKeepsItsNeedles(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	addr := redistest.Start(t)
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{
		RedisServer: addr, RedisWaitReplicas: 1, RedisWaitTimeout: 50 * time.Millisecond,
	})
	r := tf.put("/f.txt", []byte("kept"))
	mustStatus(t, "write without a replica", r, http.StatusServiceUnavailable)
	var body struct{ Error string }
	if err := json.Unmarshal(r.body, &body); err != nil || !strings.Contains(body.Error, "0 of 1 replicas") {
		t.Fatalf("503 reply %v does not say how many replicas acknowledged", r)
	}
	if got := tf.get("/f.txt", nil); got.status != http.StatusOK || string(got.body) != "kept" {
		t.Fatalf("GET of the unacknowledged but stored write = %v, want its bytes", got)
	}
	if n := cluster.FileCount(); n != 1 {
		t.Fatalf("cluster holds %d needles, want the written file's 1", n)
	}
}
