package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weedfs/weed/testcluster"
)

// TestPublicPort: a volume server started with weed-fs 0.70's -port.public
// serves reads of files on that port and nothing else (writes and deletes
// 405, /status 404), hands that port to clients as its publicUrl, and keeps
// every endpoint on its main port. A path that is not a fid is 404 on
// either port.
func TestPublicPort(t *testing.T) {
	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{})
	public := testcluster.FreePort(t)
	v := c.volume(testcluster.VolumeOptions{Masters: m.Addr(), Extra: []string{"-port.public=" + strconv.Itoa(public)}})
	c.WaitForNodesOf(m, v)
	publicAddr := "127.0.0.1:" + strconv.Itoa(public)

	data := []byte("read me on the public port")
	var res testcluster.SubmitResult
	if err := testcluster.Poll(20*time.Second, func() error {
		var err error
		res, err = testcluster.Submit(m.Addr(), "pub.txt", data, "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := testcluster.Poll(10*time.Second, func() error {
		l, err := testcluster.Lookup(m.Addr(), res.Fid)
		if err != nil {
			return err
		}
		if len(l.Locations) != 1 || l.Locations[0].PublicURL != publicAddr {
			return fmt.Errorf("lookup of %s = %+v, want publicUrl %s", res.Fid, l.Locations, publicAddr)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	pub := "http://" + publicAddr + "/"
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodGet, pub+res.Fid, nil, nil); r.Status != http.StatusOK || !bytes.Equal(r.Body, data) {
		t.Fatalf("GET on the public port: %s", r)
	}
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodHead, pub+res.Fid, nil, nil); r.Status != http.StatusOK {
		t.Fatalf("HEAD on the public port: %s", r)
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		r := testcluster.Do(t, testcluster.NoFollow, method, pub+res.Fid, strings.NewReader("overwrite"), nil)
		if r.Status != http.StatusMethodNotAllowed {
			t.Errorf("%s on the public port = %s, want 405", method, r)
		}
	}
	for _, path := range []string{"status", "admin/assign_volume?volume=9", "metrics"} {
		if r := testcluster.Do(t, testcluster.NoFollow, http.MethodGet, pub+path, nil, nil); r.Status != http.StatusNotFound {
			t.Errorf("GET /%s on the public port = %s, want 404", path, r)
		}
	}
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodGet, pub+res.Fid, nil, nil); !bytes.Equal(r.Body, data) {
		t.Fatalf("the refused writes changed the file: %s", r)
	}
	// The main port keeps everything.
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodGet, v.URL("/status"), nil, nil); r.Status != http.StatusOK {
		t.Errorf("GET /status on the main port: %s", r)
	}
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodGet, v.URL("/metrics"), nil, nil); r.Status != http.StatusNotFound {
		t.Errorf("GET /metrics on the main port = %s, want 404 (not a fid)", r)
	}
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodDelete, v.URL("/"+res.Fid), nil, nil); r.Status != http.StatusAccepted {
		t.Errorf("DELETE on the main port: %s", r)
	}
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodGet, pub+res.Fid, nil, nil); r.Status != http.StatusNotFound {
		t.Errorf("GET on the public port after the delete = %s, want 404", r)
	}
}

// TestFilerRedirectOnRead: weed-fs 0.70's -filer.redirectOnRead answers a
// file read with a 302 to the volume server holding it, and
// -filer.disableDirListing answers a directory GET with 405.
func TestFilerRedirectOnRead(t *testing.T) {
	c := newCluster(t)
	s := c.NewServer(testcluster.ServerOptions{Filer: true, Extra: []string{"-filer.redirectOnRead", "-filer.disableDirListing"}})
	s.StartNoWait()
	s.WaitReady()
	if err := testcluster.Poll(30*time.Second, func() error {
		r, err := testcluster.Send(testcluster.NoFollow, http.MethodGet, s.FilerURL("/missing"), nil, nil)
		if err == nil && r.Status != http.StatusNotFound {
			err = fmt.Errorf("GET /missing on the filer = %s", r)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	data := []byte("redirect me")
	if err := testcluster.Poll(20*time.Second, func() error {
		r, err := testcluster.Send(testcluster.NoFollow, http.MethodPut, s.FilerURL("/docs/a.txt"), bytes.NewReader(data), nil)
		if err == nil && r.Status/100 != 2 {
			err = fmt.Errorf("PUT /docs/a.txt = %s", r)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r := testcluster.Do(t, testcluster.NoFollow, http.MethodGet, s.FilerURL("/docs/a.txt"), nil, nil)
	loc := r.Header.Get("Location")
	volumeAddr := "http://127.0.0.1:" + strconv.Itoa(s.VolumePort) + "/"
	if r.Status != http.StatusFound || !strings.HasPrefix(loc, volumeAddr) {
		t.Fatalf("GET /docs/a.txt = %s Location %q, want 302 to %s<fid>", r, loc, volumeAddr)
	}
	if got := testcluster.Do(t, testcluster.NoFollow, http.MethodGet, loc, nil, nil); got.Status != http.StatusOK || !bytes.Equal(got.Body, data) {
		t.Fatalf("GET %s (the redirect) = %s", loc, got)
	}
	for _, dir := range []string{"/docs/", "/"} {
		if r := testcluster.Do(t, testcluster.NoFollow, http.MethodGet, s.FilerURL(dir), nil, nil); r.Status != http.StatusMethodNotAllowed {
			t.Errorf("GET %s with -filer.disableDirListing = %s, want 405", dir, r)
		}
	}
	s.Stop()
	if code := s.ExitCode(); code != 0 {
		t.Errorf("weed server exited %d", code)
	}
}

// TestBenchmarkReadSequentially: weed benchmark -readSequentially reads the
// fids of -list in list order, wrapping around; without it the reads are
// random. The master and volume server are one recording fake, so that the
// order of the reads can be seen.
func TestBenchmarkReadSequentially(t *testing.T) {
	var (
		mu    sync.Mutex
		reads []string
	)
	var fake *httptest.Server
	fake = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dir/lookup" {
			addr := strings.TrimPrefix(fake.URL, "http://")
			fmt.Fprintf(w, `{"volumeId":%q,"locations":[{"url":%q,"publicUrl":%q}]}`, r.FormValue("volumeId"), addr, addr)
			return
		}
		mu.Lock()
		reads = append(reads, strings.TrimPrefix(r.URL.Path, "/"))
		mu.Unlock()
		_, _ = io.WriteString(w, "x")
	}))
	defer fake.Close()
	c := newCluster(t)
	list := []string{"3,01637037d6", "4,0244556677", "3,03aabbccdd", "5,0411223344"}
	listFile := filepath.Join(c.Dir, "list.txt")
	if err := os.WriteFile(listFile, []byte(strings.Join(list, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := func(extra ...string) []string {
		mu.Lock()
		reads = nil
		mu.Unlock()
		args := append([]string{"benchmark", "-server=" + strings.TrimPrefix(fake.URL, "http://"),
			"-write=false", "-c=1", "-n=10", "-list=" + listFile}, extra...)
		if out, err := c.Run(ctx, "", args...); err != nil {
			t.Fatalf("weed %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), reads...)
	}
	var want []string
	for i := 0; i < 10; i++ {
		want = append(want, list[i%len(list)])
	}
	if got := run("-readSequentially"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("-readSequentially read %v, want %v", got, want)
	}
	// Random reads: 10 picks among 4 in exactly list order has odds 4^-10.
	if got := run(); strings.Join(got, " ") == strings.Join(want, " ") {
		t.Errorf("without -readSequentially the reads were in list order: %v", got)
	}
}

// TestIdleTimeoutAndMaxCpu: weed-fs 0.70's -idleTimeout and -maxCpu are
// taken by weed server; the cluster works, and a connection left silent
// past -idleTimeout is closed by the server.
func TestIdleTimeoutAndMaxCpu(t *testing.T) {
	c := newCluster(t)
	s := c.StartServer(testcluster.ServerOptions{Extra: []string{"-idleTimeout=1", "-maxCpu=1"}})
	data := []byte("idle")
	var res testcluster.SubmitResult
	if err := testcluster.Poll(20*time.Second, func() error {
		var err error
		res, err = testcluster.Submit(s.Addr(), "idle.txt", data, "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodGet, s.VolumeURL("/"+res.Fid), nil, nil); !bytes.Equal(r.Body, data) {
		t.Fatalf("read: %s", r)
	}
	for _, addr := range []string{s.Addr(), strings.TrimPrefix(s.VolumeURL(""), "http://")} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
		if took := time.Since(start); err != io.EOF || took > 8*time.Second {
			t.Errorf("%s: a silent connection read %v after %v, want EOF after about 1 s", addr, err, took)
		}
	}
}

// TestMaxZero: a volume server given -max=0 sizes its directory from its
// free space and the master's volume size limit, so the README tour's
// second assign (a new collection after the first submit took 7 volumes)
// finds room.
func TestMaxZero(t *testing.T) {
	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{VolumeSizeLimitMB: 64})
	v := c.volume(testcluster.VolumeOptions{Masters: m.Addr(), Extra: []string{"-max=0"}})
	c.WaitForNodesOf(m, v)
	if err := testcluster.Poll(20*time.Second, func() error {
		st, err := testcluster.ReadDirStatus(m.Addr())
		if err != nil {
			return err
		}
		if st.Topology.Max < 14 {
			return fmt.Errorf("master sees max %d volumes, want at least 14 from the free space", st.Topology.Max)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := testcluster.Submit(m.Addr(), "first.txt", []byte("first"), ""); err != nil {
		t.Fatal(err)
	}
	a, err := testcluster.Assign(m.Addr(), "count=3&replication=000&collection=picture")
	if err != nil {
		t.Fatalf("assign of a new collection after the first submit: %v", err)
	}
	if a.Count != 3 {
		t.Errorf("assign count = %d, want 3", a.Count)
	}
}

// TestNullserverHidden: weed help does not list nullserver, a benchmarking
// aid, which still runs.
func TestNullserverHidden(t *testing.T) {
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _ := c.Run(ctx, "", "help")
	if strings.Contains(out, "nullserver") || !strings.Contains(out, "benchmark") {
		t.Errorf("weed help lists nullserver (or not benchmark):\n%s", out)
	}
	if out, err := c.Run(ctx, "", "help", "nullserver"); err != nil || !strings.Contains(out, "Usage: weed nullserver") {
		t.Errorf("weed help nullserver: %v\n%s", err, out)
	}
}
