package filer_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weedfs/weed/client/clienttest"
	"github.com/weedfs/weed/filer"
)

// writeTree creates files (slash-separated relative paths) under root.
func writeTree(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for rel, data := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCopyTree copies a nested tree and a single file, keeping the tree.
func TestCopyTree(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{MaxMB: 1})
	local := t.TempDir()
	big := strings.Repeat("0123456789", 250_000) // 2.5 MB: three chunks
	writeTree(t, local, map[string]string{
		"a/b/c.txt":      "c",
		"a/d.txt":        "d",
		"a/b/e/f.log":    "f",
		"a/big.bin":      big,
		"a/empty":        "",
		"a/sp ace/%x?#y": "odd",
		"single.txt":     "single",
	})
	var progress bytes.Buffer
	ctx := context.Background()
	err := filer.Copy(ctx, []string{filepath.Join(local, "a"), filepath.Join(local, "single.txt")}, tf.url+"/x/",
		filer.CopyOptions{Concurrency: 3, Progress: &progress, Collection: "copied"})
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	for remote, want := range map[string]string{
		"/x/a/b/c.txt":   "c",
		"/x/a/d.txt":     "d",
		"/x/a/b/e/f.log": "f",
		"/x/a/big.bin":   big,
		"/x/a/empty":     "",
		"/x/single.txt":  "single",
	} {
		if r := tf.get(remote, nil); r.status != 200 || string(r.body) != want {
			t.Errorf("GET %s = %v", remote, r)
		}
	}
	if e := tf.findEntry("/x/a/sp ace/%x?#y"); e.Size != 3 || e.Collection != "copied" {
		t.Errorf("odd name entry = %+v", e)
	}
	if e := tf.findEntry("/x/a/big.bin"); len(e.Chunks) != 3 {
		t.Errorf("big.bin has %d chunks", len(e.Chunks))
	}
	out := progress.String()
	if !strings.Contains(out, "\r7/7 files") || !strings.Contains(out, "Copied 7 of 7 files") {
		t.Errorf("progress output: %q", out)
	}

	// Only *.txt from the tree, into another directory.
	if err := filer.Copy(ctx, []string{filepath.Join(local, "a")}, tf.url+"/y/", filer.CopyOptions{Include: "*.txt"}); err != nil {
		t.Fatalf("Copy with include: %v", err)
	}
	l := tf.list("/y/a/")
	if len(l.Files) != 1 || l.Files[0].Name != "d.txt" || strings.Join(l.Subdirectories, ",") != "b" {
		t.Errorf("/y/a/ = %+v", l)
	}
	if _, err := tf.srv.Filer().Find(ctx, "/y/a/b/e/f.log"); err == nil {
		t.Errorf("f.log copied despite the include pattern")
	}
}

// TestCopyFailures counts failed files, copies the others, and refuses a
// destination that is not a filer directory URL.
func TestCopyFailures(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{})
	local := t.TempDir()
	writeTree(t, local, map[string]string{"ok.txt": "ok", "clash/inner.txt": "x"})
	mustStatus(t, "make /z/clash a file", tf.put("/z/clash", []byte("a file")), 201)
	ctx := context.Background()
	err := filer.Copy(ctx, []string{filepath.Join(local, "missing.txt"), filepath.Join(local, "ok.txt"), filepath.Join(local, "clash")},
		tf.url+"/z/", filer.CopyOptions{})
	if err == nil || !strings.Contains(err.Error(), "2 of 3 files failed") {
		t.Fatalf("Copy = %v, want 2 of 3 failed", err)
	}
	if r := tf.get("/z/ok.txt", nil); string(r.body) != "ok" {
		t.Errorf("ok.txt not copied: %v", r)
	}
	for _, dest := range []string{"ftp://h/x/", "http://h/x", "/x/", "http:///x/", "http://h/a/../b/", "localhost:8888/x/"} {
		if err := filer.Copy(ctx, []string{local}, dest, filer.CopyOptions{}); !errors.Is(err, filer.ErrCopyUsage) {
			t.Errorf("Copy to %q = %v, want ErrCopyUsage", dest, err)
		}
	}
	if err := filer.Copy(ctx, []string{local}, tf.url+"/w/", filer.CopyOptions{Include: "["}); !errors.Is(err, filer.ErrCopyUsage) {
		t.Errorf("Copy with a bad include pattern = %v, want ErrCopyUsage", err)
	}
}
