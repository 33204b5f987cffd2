package filer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/testcluster"
)

// makeTree writes a nested tree of 30 files under root/tree, four levels
// deep, text and binary, one of them empty, and returns their contents by
// slash-separated path relative to root.
func makeTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(30, 5))
	dirs := []string{"tree", "tree/docs", "tree/docs/old", "tree/img", "tree/img/2015/08", "tree/src/weed/filer"}
	files := map[string][]byte{}
	for i := 0; i < 30; i++ {
		dir := dirs[i%len(dirs)]
		var name string
		var data []byte
		switch i % 3 {
		case 0:
			name = fmt.Sprintf("note-%02d.txt", i)
			data = []byte(strings.Repeat(fmt.Sprintf("line %d of a text file\n", i), 1+i*7))
		case 1:
			name = fmt.Sprintf("photo %02d.jpg", i) // a space, escaped in the URL
			data = make([]byte, 1000+rng.IntN(200_000))
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
		default:
			name = fmt.Sprintf("data-%02d.bin", i)
			data = make([]byte, rng.IntN(5000))
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
		}
		if i == 29 {
			data = nil // an empty file
		}
		rel := dir + "/" + name
		files[rel] = data
		full := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// exitCode returns the exit code of a finished command's error (0 for nil).
func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("weed did not run: %v", err)
	return -1
}

// TestFilerCopyTree runs `weed filer.copy` on a nested local tree: every
// file arrives under the same path below the destination, byte for byte,
// and the command reports its progress and exits 0. Bad destinations are
// usage errors (exit 2).
func TestFilerCopyTree(t *testing.T) {
	cl := startCluster(t)
	f := cl.startFiler(testcluster.FilerOptions{})
	local := t.TempDir()
	files := makeTree(t, local)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := cl.c.Run(ctx, local, "filer.copy", "-c=4", "tree", f.URL("/backup/"))
	if code := exitCode(t, err); code != 0 {
		t.Fatalf("filer.copy exited %d:\n%s", code, out)
	}
	lines := strings.FieldsFunc(out, func(r rune) bool { return r == '\r' || r == '\n' })
	if len(lines) > 0 {
		t.Logf("filer.copy: %s", lines[len(lines)-1])
	}
	// Not on a terminal (a log, a pipe): no "\r" progress lines, the
	// summary alone.
	if strings.Contains(out, "\r") || !strings.Contains(out, fmt.Sprintf("Copied %d of %d files", len(files), len(files))) {
		t.Errorf("filer.copy output off a terminal is not the summary alone:\n%q", out)
	}

	for rel, data := range files {
		requireBytes(t, "GET /backup/"+rel, get(t, f.URL("/backup/"+escapePath(rel))), data)
	}
	// The tree is kept: each directory lists exactly its own files and
	// subdirectories.
	wantFiles := map[string][]string{}
	wantDirs := map[string]map[string]bool{}
	for rel := range files {
		dir, name := filepath.ToSlash(filepath.Dir(rel)), filepath.Base(rel)
		wantFiles[dir] = append(wantFiles[dir], name)
		for d := dir; strings.Contains(d, "/"); d = filepath.ToSlash(filepath.Dir(d)) {
			parent := filepath.ToSlash(filepath.Dir(d))
			if wantDirs[parent] == nil {
				wantDirs[parent] = map[string]bool{}
			}
			wantDirs[parent][filepath.Base(d)] = true
		}
	}
	if root := list(t, f.URL("/backup/")); !reflect.DeepEqual(root.Subdirectories, []string{"tree"}) || len(root.Files) != 0 {
		t.Errorf("listing of /backup/: %+v, want only the directory tree", root)
	}
	for dir, names := range wantFiles {
		sort.Strings(names)
		var subdirs []string
		for d := range wantDirs[dir] {
			subdirs = append(subdirs, d)
		}
		sort.Strings(subdirs)
		l := list(t, f.URL("/backup/"+escapePath(dir)+"/?pretty=y&limit=1000"))
		if !reflect.DeepEqual(l.fileNames(), names) || !reflect.DeepEqual(l.Subdirectories, subdirs) {
			t.Errorf("listing of /backup/%s/: files %q dirs %q, want %q and %q", dir, l.fileNames(), l.Subdirectories, names, subdirs)
		}
	}

	for _, args := range [][]string{
		{"filer.copy", "tree", f.URL("/backup")},                   // no trailing "/"
		{"filer.copy", "tree", "ftp://" + f.Addr() + "/backup/"},   // not http
		{"filer.copy", "tree", "/backup/"},                         // not a URL
		{"filer.copy", "tree", f.URL("/backup/../../etc/passwd/")}, // escapes the namespace
		{"filer.copy", f.URL("/backup/")},                          // nothing to copy
	} {
		out, err := cl.c.Run(ctx, local, args...)
		if code := exitCode(t, err); code != 2 {
			t.Errorf("weed %s exited %d, want 2:\n%s", strings.Join(args, " "), code, out)
		}
	}
}

// escapePath percent-escapes the space in the tree's file names.
func escapePath(p string) string {
	return strings.ReplaceAll(p, " ", "%20")
}
