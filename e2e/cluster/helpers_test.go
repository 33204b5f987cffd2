// Package cluster holds end-to-end tests of a weed cluster of real processes:
// one master and several volume servers, driven over HTTP the way curl and
// clients drive them, and through the weed CLI. The tests replay the
// walk-through (sections 三, 四.1, 六 and 八): submit, reads from every
// replica, redirects, delete, vacuum, collections, migration by copying
// volume files, every replication string, failed replica writes, weed
// upload/download, validation and clean shutdown. Every test ends by
// stopping its volume servers and checking their data directories with
// volume.Check.
package cluster

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/weedfs/weed/testcluster"
	"github.com/weedfs/weed/volume"
)

// cluster is a testcluster.Cluster that remembers its volume servers, so
// that the end of the test can stop them and check their directories.
type cluster struct {
	*testcluster.Cluster
	t    *testing.T
	vols []*testcluster.Process
}

// newCluster returns an empty cluster. When the test ends, every volume
// server is stopped with SIGTERM, must exit 0, and volume.Check must pass
// on its data directory.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{Cluster: testcluster.New(t), t: t}
	// Registered after testcluster's own clean-up, so it runs before the
	// processes are killed.
	t.Cleanup(c.stopAndCheck)
	return c
}

// master starts a master with -pulseSeconds=1 (testcluster's default).
func (c *cluster) master(o testcluster.MasterOptions) *testcluster.Process {
	c.t.Helper()
	return c.StartMaster(o)
}

// volume starts a volume server with the options' -ip=127.0.0.1.
func (c *cluster) volume(o testcluster.VolumeOptions) *testcluster.Process {
	c.t.Helper()
	p := c.NewVolume(o)
	c.vols = append(c.vols, p)
	p.Start()
	return p
}

// walkThroughVolume starts a volume server the way the walk-through does:
// `weed volume -port=8081 -dir=./v1 -mserver=localhost:9333 -dataCenter=dc1`,
// with no -ip; the master must register it as 127.0.0.1:port.
func (c *cluster) walkThroughVolume(o testcluster.VolumeOptions) *testcluster.Process {
	c.t.Helper()
	p := c.NewVolume(o)
	p.Args = slices.DeleteFunc(p.Args, func(a string) bool { return strings.HasPrefix(a, "-ip=") })
	c.vols = append(c.vols, p)
	p.Start()
	return p
}

// stopAndCheck stops every volume server (SIGTERM; a clean exit is 0) and
// runs volume.Check on each data directory.
func (c *cluster) stopAndCheck() {
	for _, p := range c.vols {
		running := p.Running()
		p.Resume() // a paused process cannot act on SIGTERM
		p.Stop()
		if running && p.ExitCode() != 0 {
			c.t.Errorf("%s exited with %d after SIGTERM", p.Name, p.ExitCode())
		}
	}
	for _, p := range c.vols {
		if err := volume.Check(p.Dir); err != nil {
			c.t.Errorf("volume.Check(%s) of %s: %v", p.Dir, p.Name, err)
		}
	}
}

// stop stops p with SIGTERM and requires a clean exit.
func stop(t *testing.T, p *testcluster.Process) {
	t.Helper()
	p.Stop()
	if code := p.ExitCode(); code != 0 {
		t.Fatalf("%s exited with %d after SIGTERM", p.Name, code)
	}
}

// submit is testcluster.Submit of name and data with query, which must
// succeed with 201 and exactly the fields fid, fileName, fileUrl, size.
func submit(t *testing.T, master *testcluster.Process, query, name string, data []byte) testcluster.SubmitResult {
	t.Helper()
	s, err := testcluster.Submit(master.Addr(), name, data, query)
	if err != nil {
		t.Fatal(err)
	}
	requireKeys(t, "submit reply", s.Reply.Body, "fid", "fileName", "fileUrl", "size")
	if s.FileName != name || s.FileURL != volumeHost(s.FileURL)+"/"+s.Fid || s.Size <= 0 {
		t.Fatalf("submit %s: %s", name, s.Reply)
	}
	return s
}

// volumeHost returns the "host:port" part of a fileUrl "host:port/fid".
func volumeHost(fileURL string) string {
	host, _, _ := strings.Cut(fileURL, "/")
	return host
}

// requireKeys fails unless body is a JSON object with exactly keys.
func requireKeys(t *testing.T, what string, body []byte, keys ...string) {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		t.Fatalf("%s: not a JSON object: %v: %s", what, err, body)
	}
	got := make([]string, 0, len(obj))
	for k := range obj {
		got = append(got, k)
	}
	sort.Strings(got)
	want := slices.Clone(keys)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: keys %q, want exactly %q: %s", what, got, want, body)
	}
}

// growthError is the exact body of a failed growth, as in the walk-through.
const growthError = `{"error":"Cannot grow volume group! Not enough data node found!"}`

// volumeFiles lists the .dat and .idx files of dir, sorted.
func volumeFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".dat") || strings.HasSuffix(n, ".idx") {
			names = append(names, n)
		}
	}
	return names
}

// volumeIDs returns the volume file bases ("3", "picture_7") that have both
// a .dat and an .idx in dir.
func volumeIDs(t *testing.T, dir string) []string {
	t.Helper()
	files := volumeFiles(t, dir)
	var ids []string
	for _, f := range files {
		if base, ok := strings.CutSuffix(f, ".dat"); ok && slices.Contains(files, base+".idx") {
			ids = append(ids, base)
		}
	}
	return ids
}

// fileSize returns the size of path, or -1 when it does not exist.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// sameFiles reports whether the files named base.dat and base.idx are
// byte-identical in dirs a and b.
func sameFiles(a, b, base string) bool {
	for _, ext := range []string{".dat", ".idx"} {
		x, err1 := os.ReadFile(filepath.Join(a, base+ext))
		y, err2 := os.ReadFile(filepath.Join(b, base+ext))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}

// copyFile copies src to dst (created or truncated).
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dirStatus fetches a master's /dir/status.
func dirStatus(t *testing.T, m *testcluster.Process) testcluster.DirStatus {
	t.Helper()
	var st testcluster.DirStatus
	if err := m.GetJSON("/dir/status", &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// placement is where one volume's copies are: "dc/rack/node" per copy.
type placement map[uint32][]string

// volumePlacement reads /vol/status and returns, for every volume of
// collection, the "dc/rack/node" of each copy.
func volumePlacement(t *testing.T, m *testcluster.Process, collection string) placement {
	t.Helper()
	var st testcluster.VolStatus
	if err := m.GetJSON("/vol/status", &st); err != nil {
		t.Fatal(err)
	}
	p := placement{}
	for dc, racks := range st.Volumes.DataCenters {
		for rack, nodes := range racks {
			for node, vols := range nodes {
				for _, v := range vols {
					if v.Collection == collection {
						p[uint32(v.ID)] = append(p[uint32(v.ID)], dc+"/"+rack+"/"+node)
					}
				}
			}
		}
	}
	for _, locs := range p {
		sort.Strings(locs)
	}
	return p
}

// lookup returns the sorted urls the master lists for a volume id or fid.
func lookup(t *testing.T, m *testcluster.Process, id string) []string {
	t.Helper()
	l, err := testcluster.Lookup(m.Addr(), id)
	if err != nil || l.Reply.Status != http.StatusOK {
		t.Fatalf("lookup %s: %s %v", id, l.Reply, err)
	}
	return l.URLs()
}

// volumeOf returns the volume id part of a fid.
func volumeOf(fid string) string {
	vid, _, _ := strings.Cut(fid, ",")
	return vid
}

// holders returns the processes whose data directory holds volume base
// ("6", "picture_7").
func holders(t *testing.T, base string, vols ...*testcluster.Process) []*testcluster.Process {
	t.Helper()
	var hs []*testcluster.Process
	for _, v := range vols {
		if slices.Contains(volumeIDs(t, v.Dir), base) {
			hs = append(hs, v)
		}
	}
	return hs
}

// addrs returns the addresses of ps, sorted.
func addrs(ps ...*testcluster.Process) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Addr()
	}
	sort.Strings(out)
	return out
}
