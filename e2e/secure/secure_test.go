// Package secure holds the end-to-end tests of -secure.secret with real
// processes: a master, two volume servers (replication 001) and a filer
// sharing a secret. Writes and deletes need the master's token (curl-style
// requests without one get 401), reads do not; /submit, weed upload, weed
// benchmark and the filer work unchanged; a volume server with another
// secret cannot join (its heartbeats are refused); weed server shares one
// flag among its parts; state-changing admin requests need an admin token,
// which the servers' own calls carry (admin_test.go); -ip.bind keeps a
// daemon on one address (bind_test.go).
package secure

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/internal/security"
	"github.com/weedfs/weed/testcluster"
	"github.com/weedfs/weed/volume"
)

const secret = "e2e-s3cret"

// assignment is a master's /dir/assign answer with its token.
type assignment struct {
	testcluster.AssignResult
	auth string // the Authorization header: "BEARER <jwt>"
}

// assign asks master for a fid (testcluster.Assign) and checks the reply:
// exactly the SPEC fields, and a token for the fid in the Authorization
// header.
func assign(t *testing.T, master *testcluster.Process, query string) assignment {
	t.Helper()
	res, err := testcluster.Assign(master.Addr(), query)
	var raw map[string]json.RawMessage
	if err != nil || json.Unmarshal(res.Reply.Body, &raw) != nil || len(raw) != 4 {
		t.Fatalf("assign: %s %v, want 200 with exactly fid, url, publicUrl, count", res.Reply, err)
	}
	a := assignment{AssignResult: res, auth: res.Reply.Header.Get("Authorization")}
	if !strings.HasPrefix(a.auth, "BEARER ") {
		t.Fatalf("assign answered Authorization %q, want BEARER <jwt>", a.auth)
	}
	c, err := security.Parse([]byte(secret), strings.TrimPrefix(a.auth, "BEARER "), time.Now())
	if err != nil || c.Fid != a.Fid {
		t.Fatalf("assign token for %s: claims %+v, %v", a.Fid, c, err)
	}
	return a
}

// liveNeedles sums, over vols, the needles written and not deleted.
func liveNeedles(t *testing.T, vols ...*testcluster.Process) uint64 {
	t.Helper()
	var sum uint64
	for _, v := range vols {
		var st struct {
			Volumes []struct{ FileCount, DeleteCount uint64 }
		}
		if err := v.GetJSON("/status", &st); err != nil {
			t.Fatal(err)
		}
		for _, vol := range st.Volumes {
			sum += vol.FileCount - vol.DeleteCount
		}
	}
	return sum
}

// stopAndCheck stops volume servers (SIGTERM, clean exit) and checks their
// directories.
func stopAndCheck(t *testing.T, vols ...*testcluster.Process) {
	for _, v := range vols {
		v.Stop()
		if code := v.ExitCode(); code != 0 {
			t.Errorf("%s exited with %d", v.Name, code)
		}
		if err := volume.Check(v.Dir); err != nil {
			t.Errorf("volume.Check of %s: %v", v.Name, err)
		}
	}
}

func TestSecuredCluster(t *testing.T) {
	t.Parallel()
	c := testcluster.New(t)
	withSecret := []string{"-secure.secret=" + secret}
	m := c.StartMaster(testcluster.MasterOptions{DefaultReplication: "001", Extra: withSecret})
	v1 := c.NewVolume(testcluster.VolumeOptions{Masters: m.Addr(), Extra: withSecret})
	v2 := c.NewVolume(testcluster.VolumeOptions{Masters: m.Addr(), Extra: withSecret})
	vols := []*testcluster.Process{v1, v2}
	for _, v := range vols {
		v.StartNoWait()
	}
	for _, v := range vols {
		v.WaitReady()
	}
	c.WaitForNodes(m, 2)
	t.Cleanup(func() { stopAndCheck(t, vols...) })

	// curl -F file=@hello.txt http://<url>/<fid> without a token: 401.
	a := assign(t, m, "")
	data := []byte("hello, secured weed\n")
	testcluster.RequireJSONError(t, "upload without a token", testcluster.PostFile(t, "http://"+a.URL+"/"+a.Fid, "hello.txt", data, nil), http.StatusUnauthorized)
	for _, v := range vols {
		if r := testcluster.Get(t, v.URL("/"+a.Fid)); r.Status != http.StatusNotFound {
			t.Fatalf("refused upload readable on %s: %v", v.Name, r)
		}
	}
	// With the assign's token: 201, readable on both replicas without one.
	r := testcluster.PostFile(t, "http://"+a.URL+"/"+a.Fid, "hello.txt", data, map[string]string{"Authorization": "Bearer " + strings.TrimPrefix(a.auth, "BEARER ")})
	if r.Status != http.StatusCreated {
		t.Fatalf("upload with the token: %v", r)
	}
	for _, v := range vols {
		if r := testcluster.Get(t, v.URL("/"+a.Fid)); r.Status != http.StatusOK || !bytes.Equal(r.Body, data) {
			t.Fatalf("read on %s: %v", v.Name, r)
		}
	}

	// /submit signs its own upload.
	sr := testcluster.PostFile(t, m.URL("/submit"), "submitted.txt", []byte("through the master"), nil)
	var sub struct{ Fid string }
	if sr.Status != http.StatusCreated || json.Unmarshal(sr.Body, &sub) != nil {
		t.Fatalf("submit: %v", sr)
	}
	for _, v := range vols {
		if r := testcluster.Get(t, v.URL("/"+sub.Fid)); r.Status != http.StatusOK || string(r.Body) != "through the master" {
			t.Fatalf("submitted file on %s: %v", v.Name, r)
		}
	}

	// Delete without a token: 401, still there. With the token from
	// /dir/lookup?fileId=: 202, gone on both replicas.
	testcluster.RequireJSONError(t, "delete without a token", testcluster.Do(t, testcluster.NoFollow, http.MethodDelete, v1.URL("/"+a.Fid), nil, nil), http.StatusUnauthorized)
	if r := testcluster.Get(t, v2.URL("/"+a.Fid)); r.Status != http.StatusOK {
		t.Fatalf("refused delete deleted: %v", r)
	}
	lr := testcluster.Get(t, m.URL("/dir/lookup?fileId="+a.Fid))
	if lr.Status != http.StatusOK || !strings.HasPrefix(lr.Header.Get("Authorization"), "BEARER ") {
		t.Fatalf("lookup?fileId=: %v, Authorization %q", lr, lr.Header.Get("Authorization"))
	}
	dr := testcluster.Do(t, testcluster.NoFollow, http.MethodDelete, v1.URL("/"+a.Fid), nil, map[string]string{"Authorization": lr.Header.Get("Authorization")})
	if dr.Status != http.StatusAccepted {
		t.Fatalf("delete with the lookup's token: %v", dr)
	}
	for _, v := range vols {
		if r := testcluster.Get(t, v.URL("/"+a.Fid)); r.Status != http.StatusNotFound {
			t.Fatalf("deleted file on %s: %v", v.Name, r)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// weed upload: several files on one assign.
	work := t.TempDir()
	for _, name := range []string{"a.txt", "b.txt"} {
		if err := os.WriteFile(filepath.Join(work, name), []byte("uploaded "+name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.Run(ctx, work, "upload", "-master="+m.Addr(), "a.txt", "b.txt")
	if err != nil {
		t.Fatalf("weed upload: %v\n%s", err, out)
	}
	if i := strings.LastIndex(out, "\x1b[K"); i >= 0 {
		out = out[i+len("\x1b[K"):]
	}
	var files []struct{ FileName, Fid string }
	if line, _, _ := strings.Cut(out, "\n"); json.Unmarshal([]byte(line), &files) != nil || len(files) != 2 {
		t.Fatalf("weed upload printed %q", out)
	}
	for _, f := range files {
		for _, v := range vols {
			if r := testcluster.Get(t, v.URL("/"+f.Fid)); r.Status != http.StatusOK || string(r.Body) != "uploaded "+f.FileName {
				t.Fatalf("%s on %s: %v", f.FileName, v.Name, r)
			}
		}
	}

	// weed benchmark, deletes included: nothing fails.
	out, err = c.Run(ctx, work, "benchmark", "-server="+m.Addr(), "-n=2000", "-c=8", "-deletePercent=10",
		"-list="+filepath.Join(work, "list.txt"))
	if err != nil {
		t.Fatalf("weed benchmark: %v\n%s", err, out)
	}
	failed := regexp.MustCompile(`Failed requests:\s+(\d+)`).FindAllStringSubmatch(out, -1)
	if len(failed) != 2 {
		t.Fatalf("weed benchmark printed %d reports:\n%s", len(failed), out)
	}
	for _, f := range failed {
		if f[1] != "0" {
			t.Fatalf("weed benchmark had failures:\n%s", out)
		}
	}

	// The filer: a chunked file written, read, overwritten and deleted;
	// its needles come and go on both replicas.
	f := c.StartFiler(testcluster.FilerOptions{Master: m.Addr(), MaxMB: 1, Replication: "001", Extra: withSecret})
	before := liveNeedles(t, vols...)
	big := bytes.Repeat([]byte("secured chunk 0123456789\n"), (5<<20)/2/25)
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodPut, f.URL("/s/big.bin"), bytes.NewReader(big), nil); r.Status != http.StatusCreated {
		t.Fatalf("filer write: %v", r)
	}
	if got := liveNeedles(t, vols...) - before; got != 3*2 {
		t.Fatalf("filer write stored %d needles, want 3 chunks × 2 copies", got)
	}
	if r := testcluster.Get(t, f.URL("/s/big.bin")); r.Status != http.StatusOK || !bytes.Equal(r.Body, big) {
		t.Fatalf("filer read: %d, %d bytes", r.Status, len(r.Body))
	}
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodPut, f.URL("/s/big.bin"), strings.NewReader("small now"), nil); r.Status != http.StatusCreated {
		t.Fatalf("filer overwrite: %v", r)
	}
	if got := liveNeedles(t, vols...) - before; got != 1*2 {
		t.Fatalf("after the overwrite %d needles are live, want 1 × 2 copies", got)
	}
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodDelete, f.URL("/s/big.bin"), nil, nil); r.Status != http.StatusAccepted {
		t.Fatalf("filer delete: %v", r)
	}
	if got := liveNeedles(t, vols...); got != before {
		t.Fatalf("after the delete %d needles are live, want %d", got, before)
	}
	if r := testcluster.Get(t, f.URL("/s/big.bin")); r.Status != http.StatusNotFound {
		t.Fatalf("filer read after delete: %v", r)
	}

	// A delete that misses a replica (stopped) reaches it through the
	// rejoin sync once it is back: the servers sign their own admin calls.
	a = assign(t, m, "")
	bearer := map[string]string{"Authorization": a.auth}
	if r := testcluster.PostFile(t, "http://"+a.URL+"/"+a.Fid, "missed.txt", []byte("deleted while v2 is down"), bearer); r.Status != http.StatusCreated {
		t.Fatalf("upload: %v", r)
	}
	v2.Stop()
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodDelete, v1.URL("/"+a.Fid), nil, bearer); r.Status != http.StatusAccepted {
		t.Fatalf("delete with a replica down: %v", r)
	}
	v2.Start()
	if !testcluster.Eventually(45*time.Second, func() bool {
		return testcluster.Get(t, v2.URL("/"+a.Fid)).Status == http.StatusNotFound
	}) {
		t.Fatalf("the rejoined replica still answers %v for the deleted file", testcluster.Get(t, v2.URL("/"+a.Fid)))
	}
}

// TestReplicaWithAnotherSecret: a volume server whose secret differs from
// the master's cannot join the cluster: its heartbeats carry an admin token
// the master refuses (401, logged as a warning on the server), so no volume
// is ever placed on it; and it refuses the master's write tokens itself.
// (That a replica with another secret refuses replicated writes, so that
// such a write fails everywhere, is volume's TestSecureReplication.)
func TestReplicaWithAnotherSecret(t *testing.T) {
	t.Parallel()
	c := testcluster.New(t)
	m := c.StartMaster(testcluster.MasterOptions{DefaultReplication: "000", Extra: []string{"-secure.secret=" + secret}})
	good := c.StartVolume(testcluster.VolumeOptions{Masters: m.Addr(), Extra: []string{"-secure.secret=" + secret}})
	odd := c.StartVolume(testcluster.VolumeOptions{Masters: m.Addr(), Extra: []string{"-secure.secret=another"}})
	c.WaitForNodes(m, 1)
	t.Cleanup(func() { stopAndCheck(t, good, odd) })

	if !testcluster.Eventually(testcluster.Settle, func() bool {
		return strings.Contains(odd.Log(), "heartbeat to "+m.Addr()+": 401")
	}) {
		t.Fatalf("the server with another secret logged no refused heartbeat:\n%s", odd.Log())
	}
	var st testcluster.DirStatus
	if err := m.GetJSON("/dir/status", &st); err != nil || st.NodeCount() != 1 {
		t.Fatalf("the master lists %d nodes (%v), want only the one with its secret", st.NodeCount(), err)
	}
	a := assign(t, m, "")
	if a.URL != good.Addr() {
		t.Fatalf("assign placed %s on %s, want %s", a.Fid, a.URL, good.Addr())
	}
	auth := map[string]string{"Authorization": "Bearer " + strings.TrimPrefix(a.auth, "BEARER ")}
	if r := testcluster.PostFile(t, good.URL("/"+a.Fid), "kept.txt", []byte("kept"), auth); r.Status != http.StatusCreated {
		t.Fatalf("write to the server with the secret: %v", r)
	}
	// The odd server refuses the master's token itself.
	testcluster.RequireJSONError(t, "write to the server with another secret", testcluster.PostFile(t, odd.URL("/"+a.Fid), "doomed.txt", []byte("x"), auth), http.StatusUnauthorized)
}

// TestServerSharesTheSecret: `weed server -secure.secret` gives the secret
// to its master, volume server and filer.
func TestServerSharesTheSecret(t *testing.T) {
	t.Parallel()
	c := testcluster.New(t)
	s := c.StartServer(testcluster.ServerOptions{Filer: true, Extra: []string{"-secure.secret=" + secret}})
	a := assign(t, s.Process, "")
	testcluster.RequireJSONError(t, "upload without a token", testcluster.PostFile(t, s.VolumeURL("/"+a.Fid), "x.txt", []byte("x"), nil), http.StatusUnauthorized)
	if r := testcluster.PostFile(t, s.VolumeURL("/"+a.Fid), "x.txt", []byte("x"), map[string]string{"Authorization": a.auth}); r.Status != http.StatusCreated {
		t.Fatalf("upload with the token: %v", r)
	}
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodPut, s.FilerURL("/d/f.txt"), strings.NewReader("filed"), nil); r.Status != http.StatusCreated {
		t.Fatalf("filer write: %v", r)
	}
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodDelete, s.FilerURL("/d/f.txt"), nil, nil); r.Status != http.StatusAccepted {
		t.Fatalf("filer delete: %v", r)
	}
}
