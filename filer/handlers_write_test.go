package filer_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weedfs/weed/client/clienttest"
	"github.com/weedfs/weed/filer"
)

const fuzzBoundary = "fuzzboundary"

// fuzzPart is one part of a seed body.
func fuzzPart(disposition, data string) string {
	return "--" + fuzzBoundary + "\r\nContent-Disposition: " + disposition + "\r\n\r\n" + data + "\r\n"
}

// FuzzFilerUpload posts arbitrary multipart bodies to arbitrary paths under
// /fuzz: the server never panics, answers a client error or 201, and every
// entry it keeps is a canonical path under /fuzz whose parents are
// directories.
func FuzzFilerUpload(f *testing.F) {
	end := "--" + fuzzBoundary + "--\r\n"
	for _, seed := range []struct{ path, body string }{
		{"/", fuzzPart(`form-data; name="filename"; filename="hello.txt"`, "hello") + end},
		{"/dir/", fuzzPart(`form-data; name="a"; filename="a.txt"`, "a") + fuzzPart(`form-data; name="b"; filename="b.txt"`, "bb") + end},
		{"/dir/", fuzzPart(`form-data; name="a"; filename="../escape"`, "x") + end},
		{"/dir/", fuzzPart(`form-data; name="a"; filename="..\\..\\x"`, "x") + end},
		{"/dir/name.txt", fuzzPart(`form-data; name="file"`, "no filename") + end},
		{"/dir/", fuzzPart(`form-data; name="field"`, "value") + end},
		{"/dir/", fuzzPart(`form-data; name="a"; filename="a.txt"`, "cut")},
		{"/dir/", fuzzPart(`form-data; name="a"; filename*=UTF-8''%2e%2e%2Fx`, "x") + end},
		{"/d/", ""},
		{"/../x/", fuzzPart(`form-data; name="a"; filename="a"`, "a") + end},
		{"/a//b/", end},
	} {
		f.Add(seed.path, []byte(seed.body))
	}
	cluster, err := clienttest.Start(clienttest.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer cluster.Close()
	srv, err := filer.NewServer(filer.FilerOptions{Master: cluster.MasterAddr(), Dir: f.TempDir(), MaxMB: 1})
	if err != nil {
		f.Fatal(err)
	}
	defer func() { _ = srv.Shutdown(context.Background()) }()
	h := srv.Handler()
	fl := srv.Filer()
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, path string, body []byte) {
		if strings.ContainsAny(path, "?#") || !strings.HasPrefix(path, "/") {
			return
		}
		req := httptest.NewRequest(http.MethodPost, "http://filer/", bytes.NewReader(body))
		req.URL.Path = "/fuzz" + path
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+fuzzBoundary)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusCreated, http.StatusBadRequest, http.StatusConflict:
		default:
			t.Fatalf("POST %q: status %d: %s", req.URL.Path, w.Code, w.Body)
		}
		root, err := fl.List(ctx, "/", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(root.Files) != 0 || len(root.Subdirectories) > 1 || (len(root.Subdirectories) == 1 && root.Subdirectories[0] != "fuzz") {
			t.Fatalf("POST %q wrote outside /fuzz: %+v", req.URL.Path, root)
		}
		checkTree(t, fl, "/fuzz")
		if err := fl.Delete(ctx, "/fuzz", true); err != nil && w.Code == http.StatusCreated {
			t.Fatalf("cleaning up: %v", err)
		}
	})
}

// checkTree walks the tree under dir and fails on an entry that is not a
// canonical child of its directory.
func checkTree(t *testing.T, fl *filer.Filer, dir string) {
	t.Helper()
	ctx := context.Background()
	after := ""
	for {
		l, err := fl.List(ctx, dir, after, filer.MaxListLimit)
		if err != nil {
			if dir == "/fuzz" {
				return // nothing was written
			}
			t.Fatalf("list %s: %v", dir, err)
		}
		names := append([]string{}, l.Subdirectories...)
		for _, f := range l.Files {
			names = append(names, f.Name)
		}
		for _, name := range names {
			p := filer.JoinPath(dir, name)
			if clean, isDir, err := filer.CleanPath(p); err != nil || isDir || clean != p || filer.CheckName(name) != nil {
				t.Fatalf("entry %q is not canonical (%v)", p, err)
			}
		}
		for _, sub := range l.Subdirectories {
			checkTree(t, fl, filer.JoinPath(dir, sub))
		}
		if !l.ShouldDisplayLoadMore {
			return
		}
		after = l.LastFileName
	}
}

// TestMultipartToFilePath stores the one file part of a multipart body at
// a file path and refuses a second one.
func TestMultipartToFilePath(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{})
	body := fuzzPart(`form-data; name="note"`, "a form field") + fuzzPart(`form-data; name="file"`, "content without a file name") + "--" + fuzzBoundary + "--\r\n"
	ct := map[string]string{"Content-Type": "multipart/form-data; boundary=" + fuzzBoundary}
	mustStatus(t, "POST a nameless file part", tf.do(http.MethodPost, "/fp/one.txt", strings.NewReader(body), ct), http.StatusCreated)
	if r := tf.get("/fp/one.txt", nil); string(r.body) != "content without a file name" {
		t.Errorf("GET = %v", r)
	}
	r := tf.postFiles("/fp/two.txt", filePart{name: "a", data: []byte("a")}, filePart{name: "b", data: []byte("b")})
	mustStatus(t, "two files to a file path", r, http.StatusBadRequest)
	mustStatus(t, "GET two.txt", tf.get("/fp/two.txt", nil), http.StatusNotFound)
	if n := cluster.FileCount(); n != 1 {
		t.Errorf("cluster holds %d needles, want 1", n)
	}
	mustStatus(t, "bad multipart", tf.do(http.MethodPost, "/fp/", strings.NewReader("garbage"), ct), http.StatusBadRequest)
}
