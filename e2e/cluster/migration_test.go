package cluster

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/weedfs/weed/testcluster"
)

// TestWalkThroughMigration001 replays section 八.2, the right way to retire a
// server under 001: stop volume3, copy its files over v1 (v1 stopped, then
// restarted) and over v2 likewise. Every file still reads through the master,
// which now redirects to v1 and v2 only, both in turn.
func TestWalkThroughMigration001(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{DefaultReplication: "001"})
	v1 := c.volume(testcluster.VolumeOptions{Masters: m.Addr(), DataCenter: "dc1"})
	v2 := c.volume(testcluster.VolumeOptions{Masters: m.Addr(), DataCenter: "dc1"})
	v3 := c.volume(testcluster.VolumeOptions{Masters: m.Addr(), DataCenter: "dc1"})
	c.WaitForNodesOf(m, v1, v2, v3)

	// $ curl -F filename=@hello1.txt "http://localhost:9333/submit" (three times)
	files := map[string][]byte{}
	var fids []string
	for i := 1; i <= 3; i++ {
		data := []byte(fmt.Sprintf("hello weed-fs%d!\n", i))
		s := submit(t, m, "", fmt.Sprintf("hello%d.txt", i), data)
		files[s.Fid] = data
		fids = append(fids, s.Fid)
	}
	all := volumeIDs(t, v1.Dir)
	all = append(all, volumeIDs(t, v2.Dir)...)
	all = append(all, volumeIDs(t, v3.Dir)...)
	slices.Sort(all)
	if len(all) != 12 || len(slices.Compact(slices.Clone(all))) != 6 {
		t.Fatalf("001 growth over three servers: %q, want 6 volumes twice each", all)
	}
	fromV3 := volumeIDs(t, v3.Dir)

	// – 停掉volume3
	stop(t, v3)
	// – 停掉volume1,将v3下的文件copy到v1下,启动volume1
	// – 停掉volume2,将v3下的文件copy到v2下,启动volume2
	for _, v := range []*testcluster.Process{v1, v2} {
		stop(t, v)
		for _, base := range fromV3 {
			for _, ext := range []string{".dat", ".idx"} {
				copyFile(t, filepath.Join(v3.Dir, base+ext), filepath.Join(v.Dir, base+ext))
			}
		}
		v.Start()
	}
	c.WaitForNodesOf(m, v1, v2)

	// Every volume is now on v1 and v2, and the master knows it.
	for _, vid := range slices.Compact(all) {
		var got []string
		if !testcluster.Eventually(testcluster.Settle, func() bool {
			got = lookup(t, m, vid)
			return slices.Equal(got, addrs(v1, v2))
		}) {
			t.Fatalf("lookup %s = %q after the migration, want %q", vid, got, addrs(v1, v2))
		}
	}
	for _, fid := range fids {
		if r := testcluster.GetFollow(t, m.URL("/"+fid)); r.Status != http.StatusOK || string(r.Body) != string(files[fid]) {
			t.Fatalf("curl -L %s through the master: %s", fid, r)
		}
		// $ curl "http://localhost:9333/6,03220f577e" → 8081, then 8082.
		seen := map[string]bool{}
		for i := 0; i < 4; i++ {
			r := testcluster.Get(t, m.URL("/"+fid))
			seen[r.Header.Get("Location")] = true
		}
		if len(seen) != 2 || !seen[v1.URL("/"+fid)] || !seen[v2.URL("/"+fid)] {
			t.Errorf("the master redirected %s to %v, want %s and %s", fid, seen, v1.Addr(), v2.Addr())
		}
		for _, v := range []*testcluster.Process{v1, v2} {
			if r := testcluster.Get(t, v.URL("/"+fid)); r.Status != http.StatusOK || string(r.Body) != string(files[fid]) {
				t.Errorf("GET %s from %s after the migration: %s", fid, v.Name, r)
			}
		}
	}
	// A migrated volume takes writes on both new holders again.
	s := submit(t, m, "", "after.txt", []byte("after the migration\n"))
	for _, v := range []*testcluster.Process{v1, v2} {
		if r := testcluster.Get(t, v.URL("/"+s.Fid)); r.Status != http.StatusOK {
			t.Errorf("GET %s from %s: %s", s.Fid, v.Name, r)
		}
	}
}

// TestWalkThroughMigration000 replays section 八.1: under 000 a volume moves
// by stopping its server, moving the .dat/.idx pair into another server's
// -dir and restarting that server; the master then routes to the new home.
func TestWalkThroughMigration000(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{DefaultReplication: "000"})
	vols := []*testcluster.Process{
		c.volume(testcluster.VolumeOptions{Masters: m.Addr(), DataCenter: "dc1"}),
		c.volume(testcluster.VolumeOptions{Masters: m.Addr(), DataCenter: "dc1"}),
		c.volume(testcluster.VolumeOptions{Masters: m.Addr(), DataCenter: "dc1"}),
	}
	c.WaitForNodesOf(m, vols...)

	data := []byte("hello weed-fs1!\n")
	s := submit(t, m, "", "hello1.txt", data)
	vid := volumeOf(s.Fid)
	hs := holders(t, vid, vols...)
	if len(hs) != 1 || volumeHost(s.FileURL) != hs[0].Addr() {
		t.Fatalf("000 volume %s is on %q, fileUrl %s", vid, addrs(hs...), s.FileURL)
	}
	from := hs[0]
	to := vols[0]
	if to == from {
		to = vols[1]
	}

	stop(t, from)
	stop(t, to)
	for _, ext := range []string{".dat", ".idx"} {
		if err := os.Rename(filepath.Join(from.Dir, vid+ext), filepath.Join(to.Dir, vid+ext)); err != nil {
			t.Fatal(err)
		}
	}
	to.Start()

	var got []string
	if !testcluster.Eventually(testcluster.Settle, func() bool {
		got = lookup(t, m, vid)
		return slices.Equal(got, []string{to.Addr()})
	}) {
		t.Fatalf("lookup %s = %q after the move, want [%s]", vid, got, to.Addr())
	}
	r := testcluster.Get(t, m.URL("/"+s.Fid))
	if r.Status != http.StatusMovedPermanently || r.Header.Get("Location") != to.URL("/"+s.Fid) {
		t.Fatalf("GET %s through the master: %s Location %q, want %s", s.Fid, r, r.Header.Get("Location"), to.URL("/"+s.Fid))
	}
	if r := testcluster.GetFollow(t, m.URL("/"+s.Fid)); r.Status != http.StatusOK || string(r.Body) != string(data) {
		t.Fatalf("curl -L %s through the master: %s", s.Fid, r)
	}
}
