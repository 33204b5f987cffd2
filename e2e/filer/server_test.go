package filer

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/weedfs/weed/testcluster"
)

// TestServerWithFiler runs `weed server -filer` (the `make run` default):
// a file uploaded through its filer reads back, survives a restart, and
// its data directory holds the volumes plus master/ and filer/.
func TestServerWithFiler(t *testing.T) {
	c := testcluster.New(t)
	s := c.StartServer(testcluster.ServerOptions{Filer: true})
	c.WaitForNodes(s.Process, 1)

	requireWritten(t, postFiles(t, s.FilerURL("/foo/"), testcluster.FormFile{Name: "hello.txt", ContentType: "text/plain", Data: hello}), "hello.txt", len(hello))
	requireBytes(t, "GET through the server's filer", get(t, s.FilerURL("/foo/hello.txt")), hello)
	big := []byte(strings.Repeat("a larger file, sent raw with PUT\n", 3000))
	requireWritten(t, put(t, s.FilerURL("/docs/big.txt"), big), "big.txt", len(big))
	requireBytes(t, "GET /docs/big.txt", get(t, s.FilerURL("/docs/big.txt")), big)
	hf, ok := list(t, s.FilerURL("/foo/")).file("hello.txt")
	if !ok || hf.Fid == "" {
		t.Fatalf("hello.txt is not listed")
	}
	// The fid is on the server's own volume server.
	requireBytes(t, "GET the fid on the volume server", get(t, s.VolumeURL("/"+hf.Fid)), hello)

	var dats []string
	for _, pattern := range []string{"*.dat", "*.idx"} {
		m, err := filepath.Glob(filepath.Join(s.Dir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		if len(m) == 0 {
			t.Errorf("no %s in %s", pattern, s.Dir)
		}
		if pattern == "*.dat" {
			dats = m
		}
	}
	for _, sub := range []string{"master", "filer"} {
		fi, err := os.Stat(filepath.Join(s.Dir, sub))
		if err != nil || !fi.IsDir() {
			t.Errorf("%s has no %s/ subdirectory: %v", s.Dir, sub, err)
		}
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "filer", "filer.db")); err != nil {
		t.Errorf("the filer's bolt index is not in filer/: %v", err)
	}
	t.Logf("%s holds %d volumes", s.Dir, len(dats))

	// A restart of the whole server finds the files again.
	s.Stop()
	s.Start()
	c.WaitForNodes(s.Process, 1)
	requireBytes(t, "GET after restart", get(t, s.FilerURL("/foo/hello.txt")), hello)
	requireBytes(t, "GET /docs/big.txt after restart", get(t, s.FilerURL("/docs/big.txt")), big)
	if root := list(t, s.FilerURL("/")); !reflect.DeepEqual(root.Subdirectories, []string{"docs", "foo"}) {
		t.Errorf("root listing after restart: %+v", root)
	}
	requireDeleted(t, del(t, s.FilerURL("/foo/hello.txt")))
	if r := get(t, s.VolumeURL("/"+hf.Fid)); r.Status != 404 {
		t.Errorf("GET the fid after the filer's delete: %v, want 404", r)
	}
}
