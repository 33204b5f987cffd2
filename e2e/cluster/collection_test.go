package cluster

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/weedfs/weed/testcluster"
)

// withPrefix returns the names in names that start with prefix, sorted.
func withPrefix(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// TestWalkThroughCollections replays section 六: collection=picture gives
// picture_N files on both replicas; with every server at -max=7, a third
// collection cannot grow; restarted with -max=100 it can; /col/delete drops
// a collection's files everywhere.
func TestWalkThroughCollections(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{DefaultReplication: "100"})
	v1 := c.volume(testcluster.VolumeOptions{Masters: m.Addr(), DataCenter: "dc1"})
	v2 := c.volume(testcluster.VolumeOptions{Masters: m.Addr(), DataCenter: "dc1"})
	v3 := c.volume(testcluster.VolumeOptions{Masters: m.Addr(), DataCenter: "dc2"})
	vols := []*testcluster.Process{v1, v2, v3}
	c.WaitForNodesOf(m, vols...)

	// The default collection takes 6 of dc2's 7 slots, as in section 三.
	plain := submit(t, m, "", "hello.txt", hello)

	// $ curl -F file=@hello.txt "http://localhost:9333/submit?collection=picture"
	pic := submit(t, m, "collection=picture", "hello.txt", hello)
	base := "picture_" + volumeOf(pic.Fid)
	picHolders := holders(t, base, vols...)
	if len(picHolders) != 2 || picHolders[1] != v3 {
		t.Fatalf("%s is on %q, want one dc1 server and %s", base, addrs(picHolders...), v3.Addr())
	}
	// dc2 had one free slot: one picture volume only.
	if got := withPrefix(volumeFiles(t, v3.Dir), "picture_"); !slices.Equal(got, []string{base + ".dat", base + ".idx"}) {
		t.Fatalf("dc2 holds picture files %q, want %s.dat and %s.idx", got, base, base)
	}
	if !testcluster.Eventually(testcluster.Settle, func() bool { return sameFiles(picHolders[0].Dir, v3.Dir, base) }) {
		t.Errorf("%s differs between %s and %s", base, picHolders[0].Name, v3.Name)
	}
	for _, v := range picHolders {
		if r := testcluster.Get(t, v.URL("/"+pic.Fid)); r.Status != http.StatusOK || string(r.Body) != string(hello) {
			t.Fatalf("GET %s from %s: %s", pic.Fid, v.Name, r)
		}
	}

	// $ curl -F file=@hello.txt "http://localhost:9333/submit?collection=video"
	// {"error":"Cannot grow volume group! Not enough data node found!"}
	r := testcluster.PostFile(t, m.URL("/submit?collection=video"), "hello.txt", hello, nil)
	if r.Status < 400 || r.Text() != growthError {
		t.Fatalf("submit to video with dc2 full: %s, want %s", r, growthError)
	}
	for _, v := range vols {
		if got := withPrefix(volumeFiles(t, v.Dir), "video_"); len(got) != 0 {
			t.Fatalf("the failed growth left %q on %s", got, v.Name)
		}
	}

	// Restart every volume server with -max=100.
	for _, v := range vols {
		stop(t, v)
		for i, a := range v.Args {
			if strings.HasPrefix(a, "-max=") {
				v.Args[i] = "-max=100"
			}
		}
		v.Start()
	}
	if !testcluster.Eventually(testcluster.Settle, func() bool { return dirStatus(t, m).Topology.Max == 300 }) {
		t.Fatalf("the master did not see -max=100 on the three servers: %+v", dirStatus(t, m).Topology)
	}
	vid := submit(t, m, "collection=video", "hello.txt", hello)
	dc1Video := append(withPrefix(volumeFiles(t, v1.Dir), "video_"), withPrefix(volumeFiles(t, v2.Dir), "video_")...)
	slices.Sort(dc1Video)
	dc2Video := withPrefix(volumeFiles(t, v3.Dir), "video_")
	if len(dc2Video) != 12 || !slices.Equal(dc1Video, dc2Video) {
		t.Fatalf("video files: dc1 %q, dc2 %q; want the same 6 volumes in each data center", dc1Video, dc2Video)
	}
	if r := testcluster.GetFollow(t, m.URL("/"+vid.Fid)); r.Status != http.StatusOK || string(r.Body) != string(hello) {
		t.Fatalf("read %s through the master: %s", vid.Fid, r)
	}

	// /col/delete drops picture everywhere and nothing else.
	if r := testcluster.Get(t, m.URL("/col/delete?collection=picture")); r.Status != http.StatusOK {
		t.Fatalf("col/delete: %s", r)
	}
	for _, v := range vols {
		if !testcluster.Eventually(testcluster.Settle, func() bool { return len(withPrefix(volumeFiles(t, v.Dir), "picture_")) == 0 }) {
			t.Errorf("%s still holds %q after /col/delete", v.Name, withPrefix(volumeFiles(t, v.Dir), "picture_"))
		}
	}
	if got := withPrefix(volumeFiles(t, v3.Dir), "video_"); len(got) != 12 {
		t.Errorf("/col/delete?collection=picture touched video: %q", got)
	}
	for _, l := range dirStatus(t, m).Topology.Layouts {
		if l.Collection == "picture" {
			t.Errorf("the master still has a picture layout: %+v", l)
		}
	}
	if r := testcluster.GetFollow(t, m.URL("/"+pic.Fid)); r.Status != http.StatusNotFound {
		t.Errorf("read of a deleted collection's file: %s", r)
	}
	for _, f := range []testcluster.SubmitResult{plain, vid} {
		if r := testcluster.GetFollow(t, m.URL("/"+f.Fid)); r.Status != http.StatusOK || string(r.Body) != string(hello) {
			t.Errorf("read %s after deleting picture: %s", f.Fid, r)
		}
	}
}
