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

func (tf *testFiler) move(from, to string) reply {
	tf.t.Helper()
	return tf.do(http.MethodPost, to+"?mv.from="+from, nil, nil)
}

// TestMove renames files and directory trees with POST /to?mv.from=/from:
// 204, the bytes readable at the new path and gone from the old, into a
// directory with a trailing "/", over a file (whose needle is deleted);
// refused moves answer 404, 409 or 400 and change nothing.
func TestMove(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{})
	mustStatus(t, "write", tf.put("/a/f.txt", []byte("file f")), http.StatusCreated)
	mustStatus(t, "write", tf.put("/a/sub/g.txt", []byte("file g")), http.StatusCreated)

	mustStatus(t, "move a file", tf.move("/a/f.txt", "/b/f2.txt"), http.StatusNoContent)
	mustStatus(t, "old path", tf.get("/a/f.txt", nil), http.StatusNotFound)
	if r := tf.get("/b/f2.txt", nil); r.status != http.StatusOK || string(r.body) != "file f" {
		t.Fatalf("GET of the moved file = %v", r)
	}
	mustStatus(t, "move into a directory", tf.move("/b/f2.txt", "/c/"), http.StatusNoContent)
	if r := tf.get("/c/f2.txt", nil); string(r.body) != "file f" {
		t.Fatalf("GET of the file moved into /c/ = %v", r)
	}
	mustStatus(t, "move a directory", tf.move("/a", "/d/a2"), http.StatusNoContent)
	if r := tf.get("/d/a2/sub/g.txt", nil); string(r.body) != "file g" {
		t.Fatalf("GET in the moved tree = %v", r)
	}
	mustStatus(t, "old tree", tf.get("/a/sub/g.txt", nil), http.StatusNotFound)
	if l := tf.list("/d/"); strings.Join(l.Subdirectories, ",") != "a2" {
		t.Fatalf("listing of /d/ after the move: %+v", l)
	}

	// Over a file: the replaced file's needle goes.
	replacedFid := tf.findEntry("/c/f2.txt").Fid()
	mustStatus(t, "move over a file", tf.move("/d/a2/sub/g.txt", "/c/f2.txt"), http.StatusNoContent)
	if r := tf.get("/c/f2.txt", nil); string(r.body) != "file g" {
		t.Fatalf("GET of the file moved over another = %v", r)
	}
	if _, ok := cluster.File(replacedFid); ok {
		t.Errorf("the replaced file's needle %s is still stored", replacedFid)
	}
	if n := cluster.FileCount(); n != 1 {
		t.Errorf("cluster holds %d needles, want 1", n)
	}

	mustStatus(t, "setup", tf.put("/e/h.txt", []byte("h")), http.StatusCreated)
	for _, c := range []struct {
		what, from, to string
		status         int
	}{
		{"missing source", "/nothing", "/x", http.StatusNotFound},
		{"onto a directory", "/c/f2.txt", "/e", http.StatusConflict},
		{"directory onto a file", "/e", "/c/f2.txt", http.StatusConflict},
		{"under a file", "/e/h.txt", "/c/f2.txt/x", http.StatusConflict},
		{"into itself", "/e", "/e/inner", http.StatusBadRequest},
		{"the root", "/", "/x", http.StatusBadRequest},
		{"bad source", "/a/../b", "/x", http.StatusBadRequest},
	} {
		r := tf.move(c.from, c.to)
		mustStatus(t, c.what, r, c.status)
		var body struct{ Error string }
		if err := json.Unmarshal(r.body, &body); err != nil || body.Error == "" {
			t.Errorf("%s: reply %v has no JSON error", c.what, r)
		}
	}
	if r := tf.get("/e/h.txt", nil); string(r.body) != "h" {
		t.Fatalf("refused moves changed /e/h.txt: %v", r)
	}
	// "/" is a directory path: the file moves into the root.
	mustStatus(t, "move into the root", tf.move("/e/h.txt", "/"), http.StatusNoContent)
	if r := tf.get("/h.txt", nil); string(r.body) != "h" {
		t.Fatalf("GET of the file moved into / = %v", r)
	}
	if r := tf.get("/c/f2.txt", nil); string(r.body) != "file g" {
		t.Fatalf("refused moves changed /c/f2.txt: %v", r)
	}
}

// TestRedisDown503 kills the filer's Redis: reads, writes, listings and
// moves answer 503 with a JSON reason and Retry-After, within seconds.
func TestRedisDown503(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	srv := redistest.StartServer(t)
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{RedisServer: srv.Addr})
	mustStatus(t, "write", tf.put("/f.txt", []byte("x")), http.StatusCreated)
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		send func() reply
	}{
		{"GET", func() reply { return tf.get("/f.txt", nil) }},
		{"list", func() reply { return tf.get("/?pretty=y", nil) }},
		{"PUT", func() reply { return tf.put("/g.txt", []byte("y")) }},
		{"DELETE", func() reply { return tf.do(http.MethodDelete, "/f.txt", nil, nil) }},
		{"move", func() reply { return tf.move("/f.txt", "/h.txt") }},
	} {
		start := time.Now()
		r := c.send()
		mustStatus(t, c.what+" with Redis down", r, http.StatusServiceUnavailable)
		var body struct{ Error string }
		if err := json.Unmarshal(r.body, &body); err != nil || !strings.Contains(body.Error, "metadata store unavailable") {
			t.Errorf("%s: reply %v does not say the store is unavailable", c.what, r)
		}
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", c.what)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s took %v to answer", c.what, d)
		}
	}
	if n := cluster.FileCount(); n != 1 {
		t.Errorf("cluster holds %d needles after refused writes, want 1 (the upload of a refused write is deleted)", n)
	}
}
