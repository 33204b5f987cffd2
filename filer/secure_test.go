package filer_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/weedfs/weed/client/clienttest"
	"github.com/weedfs/weed/filer"
)

// TestSecuredCluster writes, overwrites and deletes a chunked file through
// a filer in a secured cluster: writes carry the assigns' tokens, deletes
// of old and removed needles are signed by the filer (with the secret) or
// carry a token from the master's /dir/lookup?fileId= (without it).
func TestSecuredCluster(t *testing.T) {
	for _, tc := range []struct {
		name, secret string
	}{{"filer with the secret", "s3cret"}, {"filer without it", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			cluster := startCluster(t, clienttest.Options{Secret: "s3cret"})
			tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{MaxMB: 1, Secret: tc.secret})
			data := bytes.Repeat([]byte("0123456789abcdef"), (5<<20)/2/16)
			mustStatus(t, "chunked write", tf.put("/s/big.bin", data), http.StatusCreated)
			if e := tf.findEntry("/s/big.bin"); len(e.Chunks) != 3 {
				t.Fatalf("%d chunks, want 3", len(e.Chunks))
			}
			if r := tf.get("/s/big.bin", nil); r.status != http.StatusOK || !bytes.Equal(r.body, data) {
				t.Fatalf("read: %d, %d bytes", r.status, len(r.body))
			}
			mustStatus(t, "overwrite", tf.put("/s/big.bin", []byte("small now")), http.StatusCreated)
			if n := cluster.FileCount(); n != 1 {
				t.Fatalf("%d needles after the overwrite, want 1", n)
			}
			mustStatus(t, "delete", tf.do(http.MethodDelete, "/s/big.bin", nil, nil), http.StatusAccepted)
			if n := cluster.FileCount(); n != 0 {
				t.Fatalf("%d needles after the delete", n)
			}
			// Without the secret, the filer's client knows from its
			// assigns that the cluster is secured: it asks for delete
			// tokens before sending them.
			if refused := cluster.Refused(); refused != 0 {
				t.Fatalf("%d writes or deletes refused", refused)
			}
		})
	}
}
