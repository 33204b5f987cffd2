package cluster

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"syscall"
	"testing"

	"github.com/weedfs/weed/testcluster"
)

// fileSizeLimit is the RLIMIT_FSIZE of the refusing replica: its volume
// files cannot grow past it, as on a full disk.
const fileSizeLimit = 1 << 20

// startWithFileSizeLimit starts p with RLIMIT_FSIZE lowered to limit: the
// process inherits the limit, and appends that would grow a file past it
// fail with EFBIG (Go ignores SIGXFSZ). The test process's own limit is
// restored at once; callers must not run in parallel with tests that start
// processes.
func startWithFileSizeLimit(t *testing.T, p *testcluster.Process, limit uint64) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lowered := syscall.Rlimit{Cur: limit, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lowered); err != nil {
		t.Fatal(err)
	}
	p.StartNoWait()
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	p.WaitReady()
}

// TestFailedReplicaWriteLeavesNothingReadable: under 001, one of the two
// replicas cannot append (its files may not grow past 1 MiB). A large
// upload sent to the good replica fails on the other, so the client gets a
// JSON 500 and the good replica takes its copy back; sent to the refusing
// replica it fails there first. Either way the fid reads 404 on both
// replicas and through the master, small files keep working, and the
// volumes pass volume.Check. Not parallel: it lowers this process's
// RLIMIT_FSIZE for the moment it starts the refusing server.
func TestFailedReplicaWriteLeavesNothingReadable(t *testing.T) {
	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{DefaultReplication: "001"})
	good := c.volume(testcluster.VolumeOptions{Masters: m.Addr()})
	bad := c.NewVolume(testcluster.VolumeOptions{Masters: m.Addr()})
	c.vols = append(c.vols, bad)
	startWithFileSizeLimit(t, bad, fileSizeLimit)
	c.WaitForNodesOf(m, good, bad)

	small := submit(t, m, "", "small.txt", []byte("a small file fits\n"))
	big := make([]byte, 2*fileSizeLimit)
	rng := rand.New(rand.NewPCG(1, 2)) // incompressible: stored as is
	for i := range big {
		big[i] = byte(rng.Uint32())
	}

	for _, receiver := range []*testcluster.Process{good, bad} {
		var a struct {
			Fid string `json:"fid"`
		}
		r := testcluster.Get(t, m.URL("/dir/assign"))
		if testcluster.DecodeJSON(t, r, &a); r.Status != http.StatusOK || a.Fid == "" {
			t.Fatalf("assign: %s", r)
		}
		r = testcluster.PostFile(t, receiver.URL("/"+a.Fid), "big.bin", big, nil)
		msg := testcluster.RequireJSONError(t, "upload of 2 MiB through "+receiver.Name, r, http.StatusInternalServerError)
		t.Logf("upload through %s: %d %s", receiver.Name, r.Status, msg)
		for _, v := range []*testcluster.Process{good, bad} {
			if r := testcluster.Get(t, v.URL("/"+a.Fid)); r.Status != http.StatusNotFound || len(r.Body) != 0 {
				t.Errorf("after the failed write through %s, GET %s from %s: %s, want 404", receiver.Name, a.Fid, v.Name, r)
			}
		}
		if r := testcluster.GetFollow(t, m.URL("/"+a.Fid)); r.Status != http.StatusNotFound {
			t.Errorf("after the failed write through %s, curl -L %s through the master: %s", receiver.Name, a.Fid, r)
		}
	}

	// /submit reports the failure as a JSON error too.
	r := testcluster.PostFile(t, m.URL("/submit"), "big.bin", big, nil)
	if r.Status < 500 {
		t.Errorf("submit of 2 MiB: %s, want a 5xx", r)
	}
	testcluster.RequireJSONError(t, "submit of 2 MiB", r, r.Status)

	// The volumes keep working for files that fit, before and after a
	// restart of the refusing server (without the limit this time).
	after := submit(t, m, "", "after.txt", []byte("written after the failures\n"))
	stop(t, bad)
	bad.Start()
	c.WaitForNodesOf(m, good, bad)
	for _, f := range []testcluster.SubmitResult{small, after} {
		want := map[string]string{small.Fid: "a small file fits\n", after.Fid: "written after the failures\n"}[f.Fid]
		for _, v := range []*testcluster.Process{good, bad} {
			if r := testcluster.Get(t, v.URL("/"+f.Fid)); r.Status != http.StatusOK || !bytes.Equal(r.Body, []byte(want)) {
				t.Errorf("GET %s from %s: %s", f.Fid, v.Name, r)
			}
		}
	}
}
