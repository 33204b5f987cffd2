package filer_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/weedfs/weed/client/clienttest"
	"github.com/weedfs/weed/filer"
)

// TestProxiedRead reads a one-needle file through the volume servers:
// ranges, validators and HEAD pass through, a dead replica is skipped.
func TestProxiedRead(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{VolumeServers: 2, Volumes: 1, Copies: 2})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{})
	const body = "0123456789abcdefghij"
	mustStatus(t, "PUT", tf.postFiles("/p/", filePart{name: "f.txt", data: []byte(body)}), http.StatusCreated)

	r := tf.get("/p/f.txt", map[string]string{"Range": "bytes=5-9"})
	if r.status != http.StatusPartialContent || string(r.body) != "56789" || r.header.Get("Content-Range") != "bytes 5-9/20" {
		t.Errorf("ranged GET = %v %v", r, r.header)
	}
	if r := tf.get("/p/f.txt", map[string]string{"Range": "bytes=50-"}); r.status != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("GET past the end = %v", r)
	}
	full := tf.get("/p/f.txt", nil)
	if r := tf.get("/p/f.txt", map[string]string{"If-None-Match": full.header.Get("Etag")}); r.status != http.StatusNotModified || len(r.body) != 0 {
		t.Errorf("GET If-None-Match = %v", r)
	}
	if r := tf.get("/p/f.txt", map[string]string{"If-Modified-Since": full.header.Get("Last-Modified")}); r.status != http.StatusNotModified {
		t.Errorf("GET If-Modified-Since = %v", r)
	}
	head := tf.do(http.MethodHead, "/p/f.txt", nil, nil)
	if head.status != http.StatusOK || head.header.Get("Content-Length") != "20" || len(head.body) != 0 ||
		head.header.Get("Content-Disposition") != `inline; filename="f.txt"` {
		t.Errorf("HEAD = %v %v", head, head.header)
	}
	mustStatus(t, "GET a file as a directory", tf.get("/p/f.txt/", nil), http.StatusConflict)

	cluster.StopVolumeServer(0)
	for i := 0; i < 8; i++ {
		if r := tf.get("/p/f.txt", nil); r.status != http.StatusOK || string(r.body) != body {
			t.Fatalf("GET %d with one replica down = %v", i, r)
		}
	}
	cluster.StopVolumeServer(1)
	r = tf.get("/p/f.txt", nil)
	if r.status != http.StatusInternalServerError {
		t.Errorf("GET with every replica down = %v", r)
	}
}

// TestReadMissingNeedle answers 404 when the entry's needle is gone.
func TestReadMissingNeedle(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{})
	mustStatus(t, "PUT", tf.put("/m/f", []byte("x")), http.StatusCreated)
	e := tf.findEntry("/m/f")
	if _, err := tf.srv.Filer().Client().Delete(context.Background(), e.Fid()); err != nil {
		t.Fatal(err)
	}
	if r := tf.get("/m/f", nil); r.status != http.StatusNotFound || len(r.body) != 0 {
		t.Errorf("GET with the needle gone = %v", r)
	}
}
