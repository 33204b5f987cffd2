package filer_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/weedfs/weed/client/clienttest"
	"github.com/weedfs/weed/filer"
)

// TestListingPages lists a directory of 1,000 files (uploaded in one
// multipart POST) in pages of 100.
func TestListingPages(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{})
	var parts []filePart
	for i := 0; i < 1000; i++ {
		parts = append(parts, filePart{name: fmt.Sprintf("f%04d.txt", i), data: []byte(fmt.Sprint(i))})
	}
	r := tf.postFiles("/big/", parts...)
	mustStatus(t, "POST 1000 files", r, http.StatusCreated)

	var names []string
	after := ""
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("more than 10 pages")
		}
		l := tf.list("/big/?lastFileName=" + url.QueryEscape(after))
		more := page < 9
		if len(l.Files) != 100 || l.ShouldDisplayLoadMore != more || l.LastFileName != l.Files[99].Name || l.Directory != "/big/" {
			t.Fatalf("page %d: %d files, last %q, more %v", page, len(l.Files), l.LastFileName, l.ShouldDisplayLoadMore)
		}
		for _, f := range l.Files {
			names = append(names, f.Name)
			if f.Fid == "" || f.Mtime == "" {
				t.Fatalf("page %d: file %+v", page, f)
			}
		}
		if !l.ShouldDisplayLoadMore {
			break
		}
		after = l.LastFileName
	}
	for i, n := range names {
		if want := fmt.Sprintf("f%04d.txt", i); n != want {
			t.Fatalf("file %d is %q, want %q", i, n, want)
		}
	}
	if l := tf.list("/big/?limit=7&lastFileName=f0500.txt"); len(l.Files) != 7 || l.Files[0].Name != "f0501.txt" || !l.ShouldDisplayLoadMore {
		t.Errorf("limit=7 page = %+v", l)
	}
	if l := tf.list("/big/?limit=5000"); len(l.Files) != filer.MaxListLimit || l.ShouldDisplayLoadMore {
		t.Errorf("limit=5000 gave %d files, more %v; want all %d", len(l.Files), l.ShouldDisplayLoadMore, filer.MaxListLimit)
	}
	for _, bad := range []string{"0", "-1", "x"} {
		mustStatus(t, "limit="+bad, tf.get("/big/?pretty=y&limit="+bad, nil), http.StatusBadRequest)
	}

	// The HTML page of the same listing, with its "Load more" link.
	r = tf.get("/big/", map[string]string{"Accept": "text/html,application/xhtml+xml"})
	mustStatus(t, "HTML listing", r, http.StatusOK)
	page := string(r.body)
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(page, `<a href="/big/f0000.txt">f0000.txt</a>`) ||
		!strings.Contains(page, `f0099.txt`) || strings.Contains(page, "f0100.txt") ||
		!strings.Contains(page, `href="/big/?lastFileName=f0099.txt&amp;limit=100">Load more</a>`) {
		t.Errorf("HTML listing:\n%s", page)
	}
	r = tf.get("/big/?lastFileName=f0899.txt", map[string]string{"Accept": "text/html"})
	if strings.Contains(string(r.body), "Load more") || !strings.Contains(string(r.body), "f0999.txt") {
		t.Errorf("last HTML page:\n%s", r.body)
	}
}

// TestListingMixed lists files and subdirectories together, and escapes
// odd names in the HTML page.
func TestListingMixed(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{})
	for _, p := range []string{"/m/b.txt", "/m/a/x", "/m/c/y", "/m/d.txt"} {
		mustStatus(t, "PUT "+p, tf.put(p, []byte("x")), http.StatusCreated)
	}
	odd := "<i>a b?#&.txt"
	mustStatus(t, "POST odd name", tf.postFiles("/m/", filePart{name: odd, data: []byte("odd")}), http.StatusCreated)
	l := tf.list("/m/?limit=3")
	if fmt.Sprint(l.Subdirectories) != "[a]" || len(l.Files) != 2 || l.Files[0].Name != odd || l.Files[1].Name != "b.txt" ||
		l.LastFileName != "b.txt" || !l.ShouldDisplayLoadMore {
		t.Errorf("first page = %+v", l)
	}
	l = tf.list("/m/?limit=3&lastFileName=b.txt")
	if fmt.Sprint(l.Subdirectories) != "[c]" || len(l.Files) != 1 || l.Files[0].Name != "d.txt" || l.ShouldDisplayLoadMore {
		t.Errorf("second page = %+v", l)
	}
	if r := tf.get("/m/"+url.PathEscape(odd), nil); r.status != http.StatusOK || string(r.body) != "odd" {
		t.Errorf("GET odd name = %v", r)
	}
	r := tf.get("/m/", nil)
	page := string(r.body)
	if strings.Contains(page, "<i>") || !strings.Contains(page, `href="/m/%3Ci%3Ea%20b%3F%23&amp;.txt"`) ||
		!strings.Contains(page, `href="/m/a/">a/</a>`) || !strings.Contains(page, `href="/">../</a>`) {
		t.Errorf("HTML listing:\n%s", page)
	}
}
