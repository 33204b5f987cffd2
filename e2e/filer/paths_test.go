package filer

import (
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/weedfs/weed/testcluster"
)

// TestBadPathsRefused sends writes, reads and deletes to paths with "..",
// "//", NUL and over-long names: each is a 400 with a JSON error, and
// nothing is written, neither an entry nor a needle.
func TestBadPathsRefused(t *testing.T) {
	cl := startCluster(t)
	f := cl.startFiler(testcluster.FilerOptions{})
	// One good file, so that the volumes exist and a delete of it through
	// a bad path could be noticed.
	good := []byte("a good file\n")
	requireWritten(t, put(t, f.URL("/ok/good.txt"), good), "good.txt", len(good))
	before := cl.counts()
	rootBefore := list(t, f.URL("/"))

	long := strings.Repeat("n", 256)
	bad := []string{
		"/ok/../escape.txt",
		"/../escape.txt",
		"/ok/%2e%2e/escape.txt",
		"/ok/./dot.txt",
		"//escape.txt",
		"/ok//double.txt",
		"/ok/nul%00.txt",
		"/ok/nul%00/x.txt",
		"/ok/ctl%0a.txt",
		"/ok/" + long,
		"/" + long + "/x.txt",
		"/ok/bad%ffutf8.txt",
	}
	for _, p := range bad {
		requireJSONError(t, "PUT "+p, put(t, f.URL(p), []byte("must not be stored")), http.StatusBadRequest)
		r := postFiles(t, f.URL(p), testcluster.FormFile{Name: "x.txt", Data: []byte("must not be stored")})
		requireJSONError(t, "POST "+p, r, http.StatusBadRequest)
		requireJSONError(t, "GET "+p, get(t, f.URL(p)), http.StatusBadRequest)
		requireJSONError(t, "DELETE "+p, del(t, f.URL(p)), http.StatusBadRequest)
	}
	for _, dir := range []string{"/ok/..", "/ok/../", "/ok//"} {
		requireJSONError(t, "DELETE "+dir+"?recursive=true", del(t, f.URL(dir+"?recursive=true")), http.StatusBadRequest)
	}
	// File names inside a multipart upload to a good directory.
	for _, name := range []string{"../escape.txt", "..", "a/b.txt", "nul\x00.txt", long} {
		r := postFiles(t, f.URL("/ok/"), testcluster.FormFile{Name: name, Data: []byte("must not be stored")})
		requireJSONError(t, "POST /ok/ with file name "+strings.ReplaceAll(name, "\x00", `\0`), r, http.StatusBadRequest)
	}
	if after := cl.counts(); after != before {
		t.Errorf("volume servers' needles went from %+v to %+v: a refused write stored bytes", before, after)
	}
	checkUnchanged := func(when string) {
		t.Helper()
		if got := list(t, f.URL("/")); !reflect.DeepEqual(got, rootBefore) {
			t.Errorf("%s: root listing changed: %+v, was %+v", when, got, rootBefore)
		}
		if l := list(t, f.URL("/ok/")); !reflect.DeepEqual(l.fileNames(), []string{"good.txt"}) || len(l.Subdirectories) != 0 {
			t.Errorf("%s: listing of /ok/: %+v, want only good.txt", when, l)
		}
		requireBytes(t, when+": GET /ok/good.txt", get(t, f.URL("/ok/good.txt")), good)
	}
	checkUnchanged("after the refused paths")

	// A multipart upload whose second file is refused stores neither: the
	// first is streamed to the volume servers before the second's name is
	// read, so its needles are written, then deleted.
	r := postFiles(t, f.URL("/ok/"),
		testcluster.FormFile{Name: "first.txt", Data: []byte("first")},
		testcluster.FormFile{Name: "../second.txt", Data: []byte("second")})
	requireJSONError(t, "POST /ok/ with a bad second file", r, http.StatusBadRequest)
	checkUnchanged("after a refused multipart upload")
	if after := cl.counts(); after.Live != before.Live {
		t.Errorf("volume servers hold %d live needles after a refused multipart upload, want %d", after.Live, before.Live)
	}
}

// TestRecursiveDelete removes a tree with DELETE /dir/?recursive=true, its
// needles included, after a DELETE without recursive was refused with 409.
func TestRecursiveDelete(t *testing.T) {
	cl := startCluster(t)
	f := cl.startFiler(testcluster.FilerOptions{MaxMB: 1})
	keep := []byte("outside the tree\n")
	requireWritten(t, put(t, f.URL("/keep.txt"), keep), "keep.txt", len(keep))
	before := cl.counts()

	tree := map[string][]byte{
		"/tree/a/1.txt":     []byte("one\n"),
		"/tree/a/b/2.txt":   []byte("two\n"),
		"/tree/a/b/c/3.bin": bytes.Repeat([]byte{3, 0, 3}, 700_000), // 2.1 MB: three chunks
		"/tree/4.txt":       []byte("four\n"),
	}
	for p, data := range tree {
		requireWritten(t, put(t, f.URL(p), data), p[strings.LastIndexByte(p, '/')+1:], len(data))
	}
	var fids []string
	for _, dir := range []string{"/tree/", "/tree/a/", "/tree/a/b/", "/tree/a/b/c/"} {
		for _, fl := range list(t, f.URL(dir)).Files {
			fids = append(fids, fl.Fid)
		}
	}
	holders := map[string][]string{}
	for _, fid := range fids {
		holders[fid] = cl.holders(fid)
		if len(holders[fid]) != copies {
			t.Fatalf("needle %s is on %v, want %d replicas", fid, holders[fid], copies)
		}
	}
	if got := cl.counts().Live - before.Live; got != (3+3)*copies {
		t.Fatalf("the tree's files hold %d needles, want %d", got, (3+3)*copies)
	}

	for _, u := range []string{"/tree/", "/tree", "/tree/a/", "/tree/?recursive=false"} {
		r := del(t, f.URL(u))
		requireJSONError(t, "DELETE "+u, r, http.StatusConflict)
	}
	for p, data := range tree {
		requireBytes(t, "GET "+p+" after a refused delete", get(t, f.URL(p)), data)
	}

	requireDeleted(t, del(t, f.URL("/tree/?recursive=true")))
	for p := range tree {
		if r := get(t, f.URL(p)); r.Status != http.StatusNotFound {
			t.Errorf("GET %s after the recursive delete: %v, want 404", p, r)
		}
	}
	for _, dir := range []string{"/tree/", "/tree/a/b/"} {
		if r := get(t, f.URL(dir+"?pretty=y")); r.Status != http.StatusNotFound {
			t.Errorf("listing %s after the recursive delete: %v, want 404", dir, r)
		}
	}
	if l := list(t, f.URL("/")); !reflect.DeepEqual(l.fileNames(), []string{"keep.txt"}) || len(l.Subdirectories) != 0 {
		t.Errorf("root listing after the recursive delete: %+v, want only keep.txt", l)
	}
	for fid, hs := range holders {
		cl.requireGone(fid, hs)
	}
	if after := cl.counts(); after.Live != before.Live {
		t.Errorf("volume servers hold %d live needles after the recursive delete, want %d", after.Live, before.Live)
	}
	requireBytes(t, "GET /keep.txt", get(t, f.URL("/keep.txt")), keep)
	// An empty directory goes without recursive.
	requireWritten(t, put(t, f.URL("/empty/x.txt"), keep), "x.txt", len(keep))
	requireDeleted(t, del(t, f.URL("/empty/x.txt")))
	requireDeleted(t, del(t, f.URL("/empty/")))
	if r := get(t, f.URL("/empty/?pretty=y")); r.Status != http.StatusNotFound {
		t.Errorf("listing /empty/ after deleting it: %v, want 404", r)
	}
}
