package cluster

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/testcluster"
	"github.com/weedfs/weed/wire"
)

// writeFiller writes a file of n bytes at path (the disk space a test
// takes away and gives back).
func writeFiller(t *testing.T, path string, n int) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Repeat([]byte{'f'}, n), 0o644); err != nil {
		t.Fatalf("filler %s: %v", path, err)
	}
}

// nodeDisks is a data node of /dir/status with its disks.
type nodeDisks struct {
	URL     string
	Volumes int
	Free    int
	Max     int
	Disks   []wire.DiskInfo
}

// spaceStatus is the part of /dir/status these tests read: the data nodes
// with their disks, and every writable volume id.
type spaceStatus struct {
	nodes     map[string]nodeDisks
	writables []int
}

func readSpaceStatus(t *testing.T, m *testcluster.Process) spaceStatus {
	t.Helper()
	var st struct {
		Topology struct {
			DataCenters []struct {
				Racks []struct {
					DataNodes []struct {
						Url     string
						Volumes int
						Free    int
						Max     int
						Disks   []wire.DiskInfo
					}
				}
			}
			Layouts []struct {
				Writables []int `json:"writables"`
			} `json:"layouts"`
		}
	}
	if err := m.GetJSON("/dir/status", &st); err != nil {
		t.Fatal(err)
	}
	out := spaceStatus{nodes: map[string]nodeDisks{}}
	for _, dc := range st.Topology.DataCenters {
		for _, r := range dc.Racks {
			for _, n := range r.DataNodes {
				out.nodes[n.Url] = nodeDisks{URL: n.Url, Volumes: n.Volumes, Free: n.Free, Max: n.Max, Disks: n.Disks}
			}
		}
	}
	for _, l := range st.Topology.Layouts {
		out.writables = append(out.writables, l.Writables...)
	}
	return out
}

// waitSpace waits (bounded) until cond holds for the master's /dir/status
// and returns how long that took.
func waitSpace(t *testing.T, m *testcluster.Process, timeout time.Duration, what string, cond func(spaceStatus) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var last spaceStatus
	if !testcluster.Eventually(timeout, func() bool {
		last = readSpaceStatus(t, m)
		return cond(last)
	}) {
		t.Fatalf("master did not show %s within %v: nodes %+v, writables %v", what, timeout, last.nodes, last.writables)
	}
	return time.Since(start)
}

// volumesOn returns the ids of the volumes the master lists on node.
func volumesOn(t *testing.T, m *testcluster.Process, node string) []int {
	t.Helper()
	var st testcluster.VolStatus
	if err := m.GetJSON("/vol/status", &st); err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, racks := range st.Volumes.DataCenters {
		for _, nodes := range racks {
			for _, v := range nodes[node] {
				ids = append(ids, int(v.ID))
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// assignedNodes asks the master for n fids and returns the servers they
// were assigned to.
func assignedNodes(t *testing.T, m *testcluster.Process, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		var a struct {
			Fid   string `json:"fid"`
			URL   string `json:"url"`
			Error string `json:"error"`
		}
		if err := m.GetJSON("/dir/assign", &a); err != nil || a.Fid == "" {
			t.Fatalf("assign: %v %+v", err, a)
		}
		got[a.URL]++
	}
	return got
}

// TestFullDiskTurnsVolumesReadOnly fills a volume server's -dir, a real
// 20 MiB file system, until an upload fails with ENOSPC: the upload
// answers 507, the server tells the master at once (its pulse is 10 s;
// the master sees it within 3 s), the master stops listing the volume as
// writable and assigns every fid to the other server, /dir/status shows
// the disk's free and total bytes, and every acknowledged file stays
// readable. Freeing space (removing a filler file) makes the volume
// writable again. Then a vacuum whose compaction finds the disk full
// answers 507 naming the volume and the server, and succeeds once space
// is back.
func TestFullDiskTurnsVolumesReadOnly(t *testing.T) {
	disk := testcluster.MountTmpfs(t, 20)
	filler := filepath.Join(disk, "filler")
	writeFiller(t, filler, 6<<20)

	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{PulseSeconds: 5})
	full := c.volume(testcluster.VolumeOptions{Masters: m.Addr(), Dir: filepath.Join(disk, "vol"), Max: 1, PulseSeconds: 10,
		Extra: []string{"-minFreeSpace=0"}})
	roomy := c.volume(testcluster.VolumeOptions{Masters: m.Addr(), Max: 7, PulseSeconds: 10})
	c.WaitForNodesOf(m, full, roomy)
	if r := testcluster.Get(t, m.URL("/vol/grow?count=8")); r.Status != http.StatusOK {
		t.Fatalf("grow: %s", r)
	}
	var vid int
	waitSpace(t, m, 10*time.Second, "one volume on the small disk", func(st spaceStatus) bool {
		ids := volumesOn(t, m, full.Addr())
		if len(ids) == 1 {
			vid = ids[0]
		}
		return len(ids) == 1 && slices.Contains(st.writables, vid)
	})

	// Upload 512 KiB files to the volume on the small disk until it is full.
	acked := map[string][]byte{}
	var last testcluster.Reply
	for key := 1; key <= 60; key++ {
		fid := fmt.Sprintf("%d,%x%08x", vid, key, 0x1234abcd)
		data := bytes.Repeat([]byte{byte(key)}, 512<<10)
		r, err := testcluster.SendFile(full.URL("/"+fid), "f.bin", data, nil)
		if err != nil {
			t.Fatal(err)
		}
		last = r
		if r.Status != http.StatusCreated {
			break
		}
		acked[fid] = data
	}
	failedAt := time.Now()
	if last.Status != http.StatusInsufficientStorage || !strings.Contains(last.Text(), "no space left on device") {
		t.Fatalf("upload to a full disk after %d files: %s, want 507 no space left on device", len(acked), last)
	}
	if len(acked) < 10 {
		t.Fatalf("only %d files fitted on the small disk", len(acked))
	}

	took := waitSpace(t, m, 3*time.Second, fmt.Sprintf("volume %d read-only and its disk low", vid), func(st spaceStatus) bool {
		n := st.nodes[full.Addr()]
		return !slices.Contains(st.writables, vid) && len(n.Disks) == 1 && n.Disks[0].LowSpace
	})
	t.Logf("the master saw the full disk %v after the failed upload (%v after it began waiting)", time.Since(failedAt).Round(time.Millisecond), took.Round(time.Millisecond))
	st := readSpaceStatus(t, m)
	d := st.nodes[full.Addr()].Disks[0]
	if d.Dir != full.Dir || d.Total < 19<<20 || d.Total > 21<<20 || d.Free > 1<<20 {
		t.Errorf("disk of %s in /dir/status: %+v, want %s with ~20 MiB total and under 1 MiB free", full.Addr(), d, full.Dir)
	}
	if n := st.nodes[roomy.Addr()]; len(n.Disks) != 1 || n.Disks[0].LowSpace || n.Disks[0].Free == 0 || n.Disks[0].Total == 0 {
		t.Errorf("disk of %s in /dir/status: %+v", roomy.Addr(), n.Disks)
	}
	if got := assignedNodes(t, m, 40); got[full.Addr()] != 0 || got[roomy.Addr()] != 40 {
		t.Errorf("assigns while the disk is full: %v, want all 40 on %s", got, roomy.Addr())
	}
	// A write refused now says why.
	if r, err := testcluster.SendFile(full.URL(fmt.Sprintf("/%d,%x%08x", vid, 1000, 0x1234abcd)), "f.bin", []byte("x"), nil); err != nil ||
		r.Status != http.StatusInsufficientStorage {
		t.Errorf("upload while low on space: %v %s, want 507", err, r)
	}
	for fid, data := range acked {
		if r := testcluster.Get(t, full.URL("/"+fid)); r.Status != http.StatusOK || !bytes.Equal(r.Body, data) {
			t.Fatalf("read %s while the disk is full: %d, %d bytes", fid, r.Status, len(r.Body))
		}
	}

	// Space returns: the volume is writable again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitSpace(t, m, 5*time.Second, fmt.Sprintf("volume %d writable again", vid), func(st spaceStatus) bool {
		n := st.nodes[full.Addr()]
		return slices.Contains(st.writables, vid) && len(n.Disks) == 1 && !n.Disks[0].LowSpace && n.Disks[0].Free > 5<<20
	})
	fid := fmt.Sprintf("%d,%x%08x", vid, 1001, 0x1234abcd)
	if r := testcluster.PostFile(t, full.URL("/"+fid), "after.txt", []byte("space is back"), nil); r.Status != http.StatusCreated {
		t.Fatalf("upload after space returned: %s", r)
	}
	acked[fid] = []byte("space is back")

	// Delete two thirds of the files, then take the space a compaction
	// needs: the vacuum must say it failed for lack of space.
	deleted := 0
	for key := 1; key <= 60; key++ {
		fid := fmt.Sprintf("%d,%x%08x", vid, key, 0x1234abcd)
		if _, ok := acked[fid]; !ok || key%3 == 0 {
			continue
		}
		if r := testcluster.Do(t, http.DefaultClient, http.MethodDelete, full.URL("/"+fid), nil, nil); r.Status != http.StatusAccepted {
			t.Fatalf("delete %s: %s", fid, r)
		}
		delete(acked, fid)
		deleted++
	}
	free := readSpaceStatus(t, m).nodes[full.Addr()].Disks[0].Free
	writeFiller(t, filler, int(free)-(256<<10))
	r := testcluster.Get(t, m.URL("/vol/vacuum?garbageThreshold=0.3"))
	msg := testcluster.RequireJSONError(t, "vacuum on a full disk", r, http.StatusInsufficientStorage)
	for _, want := range []string{fmt.Sprintf("volume %d", vid), full.Addr(), "space"} {
		if !strings.Contains(msg, want) {
			t.Errorf("vacuum error %q does not name %q", msg, want)
		}
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if r := testcluster.Get(t, m.URL("/vol/vacuum?garbageThreshold=0.3")); r.Status != http.StatusOK {
		t.Fatalf("vacuum with space: %s", r)
	}
	for fid, data := range acked {
		if r := testcluster.Get(t, full.URL("/"+fid)); r.Status != http.StatusOK || !bytes.Equal(r.Body, data) {
			t.Fatalf("read %s after the vacuum: %d, %d bytes", fid, r.Status, len(r.Body))
		}
	}
	t.Logf("%d files stored before the disk filled, %d deleted, %d kept", len(acked)+deleted-1, deleted, len(acked))
}

// TestMinFreeSpaceStopsWritesBeforeTheDiskIsFull: a volume server started
// with -minFreeSpace=25% on a 20 MiB file system with 16 MiB taken by
// other files reports no free volume slot, so /vol/grow puts nothing
// there; once the space is freed it takes volumes, and when the free
// space drops below the threshold again its volumes turn read-only
// within seconds without any write failing for lack of space, and
// writable again when space returns.
func TestMinFreeSpaceStopsWritesBeforeTheDiskIsFull(t *testing.T) {
	disk := testcluster.MountTmpfs(t, 20)
	filler := filepath.Join(disk, "filler")
	writeFiller(t, filler, 16<<20)

	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{PulseSeconds: 5})
	low := c.volume(testcluster.VolumeOptions{Masters: m.Addr(), Dir: filepath.Join(disk, "vol"), Max: 3, PulseSeconds: 2,
		Extra: []string{"-minFreeSpace=25%"}})
	roomy := c.volume(testcluster.VolumeOptions{Masters: m.Addr(), Max: 4, PulseSeconds: 2})
	c.WaitForNodesOf(m, low, roomy)
	waitSpace(t, m, 5*time.Second, "the small disk low, with no free slot", func(st spaceStatus) bool {
		n := st.nodes[low.Addr()]
		return n.Max == 0 && n.Free == 0 && len(n.Disks) == 1 && n.Disks[0].LowSpace
	})
	if r := testcluster.Get(t, m.URL("/vol/grow?count=4")); r.Status != http.StatusOK {
		t.Fatalf("grow: %s", r)
	}
	if ids := volumesOn(t, m, low.Addr()); len(ids) != 0 {
		t.Fatalf("volumes %v grown on a server below -minFreeSpace", ids)
	}
	if ids, err := os.ReadDir(low.Dir); err != nil || len(ids) != 0 {
		t.Fatalf("files in %s: %v %v", low.Dir, ids, err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitSpace(t, m, 5*time.Second, "three free slots on the small disk", func(st spaceStatus) bool {
		n := st.nodes[low.Addr()]
		return n.Max == 3 && n.Free == 3 && len(n.Disks) == 1 && !n.Disks[0].LowSpace
	})
	if r := testcluster.Get(t, m.URL("/vol/grow?count=3")); r.Status != http.StatusOK {
		t.Fatalf("grow: %s", r)
	}
	ids := volumesOn(t, m, low.Addr())
	if len(ids) != 3 {
		t.Fatalf("volumes on the small disk after space returned: %v, want 3", ids)
	}
	fid := fmt.Sprintf("%d,%x%08x", ids[0], 7, 0x1234abcd)
	if r := testcluster.PostFile(t, low.URL("/"+fid), "a.txt", []byte("before"), nil); r.Status != http.StatusCreated {
		t.Fatalf("upload: %s", r)
	}

	writeFiller(t, filler, 16<<20)
	waitSpace(t, m, 5*time.Second, "the volumes on the small disk read-only", func(st spaceStatus) bool {
		for _, id := range ids {
			if slices.Contains(st.writables, id) {
				return false
			}
		}
		n := st.nodes[low.Addr()]
		return len(n.Disks) == 1 && n.Disks[0].LowSpace
	})
	fid2 := fmt.Sprintf("%d,%x%08x", ids[0], 8, 0x1234abcd)
	r, err := testcluster.SendFile(low.URL("/"+fid2), "b.txt", []byte("refused"), nil)
	if err != nil || r.Status != http.StatusInsufficientStorage || !strings.Contains(r.Text(), "not enough free disk space") {
		t.Fatalf("upload below -minFreeSpace: %v %s, want 507 not enough free disk space", err, r)
	}
	if got := assignedNodes(t, m, 20); got[low.Addr()] != 0 {
		t.Errorf("assigns below -minFreeSpace: %v, want none on %s", got, low.Addr())
	}
	if r := testcluster.Get(t, low.URL("/"+fid)); r.Status != http.StatusOK || string(r.Body) != "before" {
		t.Errorf("read below -minFreeSpace: %s", r)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitSpace(t, m, 5*time.Second, "the volumes on the small disk writable again", func(st spaceStatus) bool {
		for _, id := range ids {
			if !slices.Contains(st.writables, id) {
				return false
			}
		}
		return true
	})
	if r := testcluster.PostFile(t, low.URL("/"+fid2), "b.txt", []byte("taken"), nil); r.Status != http.StatusCreated {
		t.Fatalf("upload after space returned: %s", r)
	}
}
