package filer

import (
	"fmt"
	"net/http"
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/weedfs/weed/internal/redistest"
	"github.com/weedfs/weed/testcluster"
	"golang.org/x/sync/errgroup"
)

// TestTwoFilersShareRedis is the walk-through's filer cluster: two filers
// with -redis.server on one redis-server. A file written through A is read,
// listed and deleted through B, and the delete answers {} where weed-fs
// answered {"error":"Invalid fileId "}; A then finds it gone, and so are
// its needles.
func TestTwoFilersShareRedis(t *testing.T) {
	redis := redistest.Start(t)
	cl := startCluster(t)
	a := cl.startFiler(testcluster.FilerOptions{RedisServer: redis})
	b := cl.startFiler(testcluster.FilerOptions{RedisServer: redis})

	requireWritten(t, postFiles(t, a.URL("/foo/"), testcluster.FormFile{Name: "hello.txt", ContentType: "text/plain", Data: hello}), "hello.txt", len(hello))
	requireBytes(t, "GET through A", get(t, a.URL("/foo/hello.txt")), hello)
	requireBytes(t, "GET through B", get(t, b.URL("/foo/hello.txt")), hello)

	la, lb := list(t, a.URL("/foo/")), list(t, b.URL("/foo/"))
	hf, ok := lb.file("hello.txt")
	if !ok || hf.Fid == "" || !reflect.DeepEqual(la, lb) {
		t.Fatalf("listings differ or miss hello.txt:\nA %+v\nB %+v", la, lb)
	}
	if root := list(t, b.URL("/")); !reflect.DeepEqual(root.Subdirectories, []string{"foo"}) {
		t.Errorf("root listing through B: %+v, want Subdirectories [foo]", root)
	}
	holders := cl.holders(hf.Fid)
	if len(holders) != copies {
		t.Fatalf("needle %s is on %v, want %d replicas", hf.Fid, holders, copies)
	}

	// A write through B, nested, is seen through A as well.
	other := []byte("written through B\n")
	requireWritten(t, put(t, b.URL("/foo/bar/other.txt"), other), "other.txt", len(other))
	requireBytes(t, "GET through A of B's file", get(t, a.URL("/foo/bar/other.txt")), other)
	if l := list(t, a.URL("/foo/")); !reflect.DeepEqual(l.Subdirectories, []string{"bar"}) {
		t.Errorf("listing through A after B's write: %+v, want Subdirectories [bar]", l)
	}

	requireDeleted(t, del(t, b.URL("/foo/hello.txt")))
	if r := get(t, a.URL("/foo/hello.txt")); r.Status != http.StatusNotFound {
		t.Errorf("GET through A after B deleted: %v, want 404", r)
	}
	if l := list(t, a.URL("/foo/")); len(l.Files) != 0 {
		t.Errorf("listing through A after B deleted: %+v", l)
	}
	cl.requireGone(hf.Fid, holders)

	// And the other way round: delete through A what B wrote.
	requireDeleted(t, del(t, a.URL("/foo/bar/other.txt")))
	if r := get(t, b.URL("/foo/bar/other.txt")); r.Status != http.StatusNotFound {
		t.Errorf("GET through B after A deleted: %v, want 404", r)
	}
	if c := cl.counts(); c.Live != 0 {
		t.Errorf("volume servers hold %d live needles after both deletes, want 0", c.Live)
	}
}

// TestTwoFilersRaceOnOnePath has two filers on one Redis overwrite and
// delete one path at once, 8 requests at a time: each replaced or deleted
// version's needles are deleted exactly once, so when the path is finally
// deleted no needle is left on the volume servers (weed-fs leaked them).
func TestTwoFilersRaceOnOnePath(t *testing.T) {
	cl, filers := startFilersOnOneRedis(t)
	var g errgroup.Group
	g.SetLimit(8)
	for i := 0; i < 160; i++ {
		f := filers[i%len(filers)]
		g.Go(func() error {
			if i%10 == 9 {
				r, err := testcluster.Send(testcluster.Plain, http.MethodDelete, f.URL("/race/same.txt"), nil, nil)
				if err != nil || (r.Status != http.StatusAccepted && r.Status != http.StatusNotFound) {
					return fmt.Errorf("DELETE through %s: %v %v", f.Name, r, err)
				}
				return nil
			}
			r, err := testcluster.Send(testcluster.Plain, http.MethodPut, f.URL("/race/same.txt"), strings.NewReader(fmt.Sprintf("version %d\n", i)), nil)
			if err != nil || r.Status != http.StatusCreated {
				return fmt.Errorf("PUT through %s: %v %v", f.Name, r, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	// Both filers serve the same last version.
	ra, rb := get(t, filers[0].URL("/race/same.txt")), get(t, filers[1].URL("/race/same.txt"))
	if ra.Status != rb.Status || string(ra.Body) != string(rb.Body) {
		t.Fatalf("the filers disagree: %v and %v", ra, rb)
	}
	if ra.Status == http.StatusOK {
		if c := cl.counts(); c.Live != copies {
			t.Errorf("volume servers hold %d live needles for one file, want %d", c.Live, copies)
		}
		requireDeleted(t, del(t, filers[1].URL("/race/same.txt")))
	}
	if c := cl.counts(); c.Live != 0 {
		t.Errorf("volume servers hold %d live needles after every version was replaced or deleted, want 0", c.Live)
	}
}

// TestTwoFilersRaceWritesAndRecursiveDeletes has two filers on one Redis
// write files into four directories while recursive deletes of those
// directories run through the other filer, 8 requests at a time. Every
// file a GET finds is listed by its directory, and the directory by its
// parent, through both filers; a recursive delete of the whole tree then
// leaves no needle behind. (A file committed into a directory that a
// recursive delete was removing used to be left without its parent:
// unlisted, and out of reach of any later recursive delete.)
func TestTwoFilersRaceWritesAndRecursiveDeletes(t *testing.T) {
	const requests, dirs = 240, 4
	cl, filers := startFilersOnOneRedis(t)
	var g errgroup.Group
	g.SetLimit(8)
	for i := 0; i < requests; i++ {
		f := filers[i%len(filers)]
		dir := fmt.Sprintf("/tree/d%d", i%dirs)
		g.Go(func() error {
			if i%6 == 5 {
				r, err := testcluster.Send(testcluster.Plain, http.MethodDelete, f.URL(dir+"/?recursive=true"), nil, nil)
				if err != nil || (r.Status != http.StatusAccepted && r.Status != http.StatusNotFound) {
					return fmt.Errorf("DELETE %s through %s: %v %v", dir, f.Name, r, err)
				}
				return nil
			}
			p := fmt.Sprintf("%s/sub/f%d.txt", dir, i)
			r, err := testcluster.Send(testcluster.Plain, http.MethodPut, f.URL(p), strings.NewReader(p), nil)
			if err != nil || r.Status != http.StatusCreated {
				return fmt.Errorf("PUT %s through %s: %v %v", p, f.Name, r, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	found := 0
	for i := 0; i < requests; i++ {
		if i%6 == 5 {
			continue
		}
		dir := fmt.Sprintf("/tree/d%d", i%dirs)
		name := fmt.Sprintf("f%d.txt", i)
		if r := get(t, filers[0].URL(dir+"/sub/"+name)); r.Status == http.StatusNotFound {
			continue
		} else if r.Status != http.StatusOK {
			t.Fatalf("GET %s/sub/%s: %v", dir, name, r)
		}
		found++
		for _, f := range filers {
			if _, ok := list(t, f.URL(dir+"/sub/")).file(name); !ok {
				t.Errorf("%s/sub/%s is there, but %s's listing of %s/sub/ misses it", dir, name, f.Name, dir)
			}
			if !slices.Contains(list(t, f.URL(dir+"/")).Subdirectories, "sub") {
				t.Errorf("%s/sub/%s is there, but %s's listing of %s/ misses sub", dir, name, f.Name, dir)
			}
			if !slices.Contains(list(t, f.URL("/tree/")).Subdirectories, path.Base(dir)) {
				t.Errorf("%s/sub/%s is there, but %s's listing of /tree/ misses %s", dir, name, f.Name, dir)
			}
		}
	}
	t.Logf("%d of %d files survived the deletes", found, requests-requests/6)
	r := del(t, filers[1].URL("/tree/?recursive=true"))
	if r.Status != http.StatusAccepted && r.Status != http.StatusNotFound {
		t.Fatalf("DELETE /tree/?recursive=true: %v", r)
	}
	if c := cl.counts(); c.Live != 0 {
		t.Errorf("volume servers hold %d live needles after the tree was deleted, want 0 (files left without a parent)", c.Live)
	}
}

// startFilersOnOneRedis starts the cluster, a redis-server and two filers
// sharing it.
func startFilersOnOneRedis(t *testing.T) (*cluster, []*testcluster.Process) {
	t.Helper()
	redis := redistest.Start(t)
	cl := startCluster(t)
	return cl, []*testcluster.Process{
		cl.startFiler(testcluster.FilerOptions{RedisServer: redis}),
		cl.startFiler(testcluster.FilerOptions{RedisServer: redis}),
	}
}
