package filer

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/weedfs/weed/internal/redistest"
	"github.com/weedfs/weed/testcluster"
	"golang.org/x/sync/errgroup"
)

// TestListingPages creates 1,000 files in one directory, 8 at a time, and
// walks the listing in pages of 100 with lastFileName: every name comes
// exactly once, in order, and ShouldDisplayLoadMore is true until the last
// page. On Redis, two filers share the writes and a third walks the pages.
func TestListingPages(t *testing.T) {
	t.Run("bolt", func(t *testing.T) {
		cl := startCluster(t)
		f := cl.startFiler(testcluster.FilerOptions{})
		testListingPages(t, []*testcluster.Process{f}, f)
	})
	t.Run("redis", func(t *testing.T) {
		redis := redistest.Start(t)
		cl := startCluster(t)
		var fs []*testcluster.Process
		for i := 0; i < 3; i++ {
			fs = append(fs, cl.startFiler(testcluster.FilerOptions{RedisServer: redis}))
		}
		testListingPages(t, fs[:2], fs[2])
	})
}

// testListingPages writes the files through writers, in turn, and walks
// the pages through reader.
func testListingPages(t *testing.T, writers []*testcluster.Process, f *testcluster.Process) {

	const n, pageSize = 1000, 100
	// Names of varied shape and length, so that byte order is not the
	// creation order.
	names := make([]string, n)
	for i := range names {
		switch i % 4 {
		case 0:
			names[i] = fmt.Sprintf("file-%04d.txt", i)
		case 1:
			names[i] = fmt.Sprintf("File_%d", i)
		case 2:
			names[i] = fmt.Sprintf("%d.dat", n-i)
		default:
			names[i] = fmt.Sprintf("z%x-é", i*7919)
		}
	}
	start := time.Now()
	var g errgroup.Group
	g.SetLimit(8)
	for i, name := range names {
		g.Go(func() error {
			body := []byte(fmt.Sprintf("file %d\n", i))
			w := writers[i%len(writers)]
			r, err := testcluster.Send(testcluster.Plain, http.MethodPut, w.URL("/many/"+url.PathEscape(name)), bytes.NewReader(body), nil)
			if err != nil {
				return fmt.Errorf("PUT %s: %w", name, err)
			}
			if r.Status != http.StatusCreated {
				return fmt.Errorf("PUT %s: %v", name, r)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("created %d files in %v", n, time.Since(start).Round(time.Millisecond))
	// A subdirectory is listed among the files, in name order too.
	requireWritten(t, put(t, f.URL("/many/m-sub/inner.txt"), []byte("inner")), "inner.txt", 5)
	want := append(slices.Clone(names), "m-sub")
	sort.Strings(want)

	var got []string
	last := ""
	for page := 1; ; page++ {
		if page > len(want)/pageSize+2 {
			t.Fatalf("more than %d pages", page-1)
		}
		q := url.Values{"pretty": {"y"}, "limit": {fmt.Sprint(pageSize)}}
		if last != "" {
			q.Set("lastFileName", last)
		}
		l := list(t, f.URL("/many/?"+q.Encode()))
		var pageNames []string
		for _, fl := range l.Files {
			if fl.Fid == "" || fl.Size == 0 {
				t.Errorf("page %d: file %+v has no fid or size", page, fl)
			}
			pageNames = append(pageNames, fl.Name)
		}
		pageNames = append(pageNames, l.Subdirectories...)
		sort.Strings(pageNames)
		if len(pageNames) == 0 || len(pageNames) > pageSize {
			t.Fatalf("page %d holds %d entries", page, len(pageNames))
		}
		if l.LastFileName != pageNames[len(pageNames)-1] {
			t.Errorf("page %d: LastFileName %q, want its last name %q", page, l.LastFileName, pageNames[len(pageNames)-1])
		}
		got = append(got, pageNames...)
		more := len(got) < len(want)
		if l.ShouldDisplayLoadMore != more {
			t.Fatalf("page %d (%d names so far): ShouldDisplayLoadMore %v, want %v", page, len(got), l.ShouldDisplayLoadMore, more)
		}
		if !more {
			break
		}
		last = l.LastFileName
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("walking the pages gave %d names, want each of the %d names once, in order", len(got), len(want))
	}
	// A walk in pages of 100 over 1,001 children takes 11 pages; one of
	// limit=1000 and then the rest takes 2.
	l := list(t, f.URL("/many/?pretty=y&limit=1000"))
	if len(l.Files)+len(l.Subdirectories) != 1000 || !l.ShouldDisplayLoadMore {
		t.Errorf("limit=1000: %d entries, ShouldDisplayLoadMore %v", len(l.Files)+len(l.Subdirectories), l.ShouldDisplayLoadMore)
	}
	l = list(t, f.URL("/many/?pretty=y&limit=1000&lastFileName="+url.QueryEscape(l.LastFileName)))
	if len(l.Files)+len(l.Subdirectories) != 1 || l.ShouldDisplayLoadMore {
		t.Errorf("the page after 1000: %+v", l)
	}
}
