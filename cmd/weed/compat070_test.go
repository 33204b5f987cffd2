package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/testcluster"
)

// TestFlagsOfWeedFS070 runs every flag of weed-fs 0.70's help pages that
// weed once rejected (issue 19) through `weed <command> -flag=value`: a
// server must start and answer, a tool must parse and do its work. The
// Cassandra store, which cannot be honoured, must be refused in one line
// with exit code 2, not with a flag parse error.
func TestFlagsOfWeedFS070(t *testing.T) {
	if testing.Short() {
		t.Skip("starts weed processes")
	}
	c := testcluster.New(t)
	master := c.StartMaster(testcluster.MasterOptions{})
	free := func() string { return strconv.Itoa(testcluster.FreePort(t)) }

	// Servers: each flag alone, on a fresh process that must come up.
	for _, tc := range []struct {
		command string
		flag    string
		// ready is the path answering once up and its status (0: 200).
		ready  string
		status int
	}{
		{"master", "-ip.bind=0.0.0.0", "", 0},
		{"master", "-idleTimeout=10", "", 0},
		{"master", "-maxCpu=1", "", 0},
		{"volume", "-ip.bind=0.0.0.0", "", 0},
		{"volume", "-idleTimeout=10", "", 0},
		{"volume", "-maxCpu=1", "", 0},
		{"volume", "-port.public=" + free(), "", 0},
		{"volume", "-images.fix.orientation=true", "", 0},
		{"volume", "-index=leveldb", "", 0},
		{"volume", "-index=leveldbMedium", "", 0},
		{"volume", "-index=leveldbLarge", "", 0},
		{"volume", "-index=boltdb", "", 0},
		{"volume", "-index=btree", "", 0},
		{"filer", "-redirectOnRead", "", 0},
		{"filer", "-redirectOnRead=true", "", 0},
		{"filer", "-disableDirListing", "/", http.StatusMethodNotAllowed},
		{"filer", "-cassandra.keyspace=seaweed", "", 0},
		{"server", "-master.dir=DIR/m", "", 0},
		{"server", "-master.defaultReplicaPlacement=000", "", 0},
		{"server", "-filer.master=MASTER", "", 0},
		{"server", "-filer.redirectOnRead", "", 0},
		{"server", "-filer.disableDirListing", "", 0},
		{"server", "-volume.port.public=" + free(), "", 0},
		{"server", "-volume.images.fix.orientation=false", "", 0},
		{"server", "-garbageThreshold=0.4", "", 0},
		{"server", "-idleTimeout=10", "", 0},
		{"server", "-ip.bind=0.0.0.0", "", 0},
		{"server", "-maxCpu=1", "", 0},
		{"server", "-cpuprofile=DIR/cpu.prof", "", 0},
	} {
		t.Run(tc.command+tc.flag, func(t *testing.T) {
			c := testcluster.New(t) // its failures end this subtest only
			flag := strings.ReplaceAll(tc.flag, "DIR", t.TempDir())
			flag = strings.ReplaceAll(flag, "MASTER", master.Addr())
			var p *testcluster.Process
			switch tc.command {
			case "master":
				p = c.NewMaster(testcluster.MasterOptions{Extra: []string{flag}})
			case "volume":
				p = c.NewVolume(testcluster.VolumeOptions{Masters: master.Addr(), Extra: []string{flag}})
			case "filer":
				p = c.NewFiler(testcluster.FilerOptions{Master: master.Addr(), Extra: []string{flag}})
			case "server":
				s := c.NewServer(testcluster.ServerOptions{Filer: strings.Contains(flag, "filer."), Extra: []string{flag}})
				p = s.Process
				if s.FilerPort == 0 {
					s.Start()
					defer s.Stop()
					return
				}
				// The filer may not list /: wait for the master, then the
				// filer's answer to a missing file.
				s.StartNoWait()
				defer s.Stop()
				s.WaitReady()
				waitStatus(t, p, s.FilerURL("/no-such-file"), http.StatusNotFound)
				return
			}
			if tc.ready == "" {
				p.Start()
			} else {
				p.StartNoWait()
				waitStatus(t, p, p.URL(tc.ready), tc.status)
			}
			p.Stop()
		})
	}

	t.Run("filer-cassandra.server", func(t *testing.T) {
		c := testcluster.New(t)
		p := c.NewFiler(testcluster.FilerOptions{Master: master.Addr(), Extra: []string{"-cassandra.server=localhost:9042"}})
		p.StartNoWait()
		if !testcluster.Eventually(testcluster.StartTimeout, func() bool { return !p.Running() }) {
			t.Fatal("weed filer -cassandra.server kept running")
		}
		log := p.Log()
		if code := p.ExitCode(); code != 2 {
			t.Errorf("exit code %d, want 2\n%s", code, log)
		}
		if !strings.Contains(log, "weed filer: -cassandra.server:") || !strings.Contains(log, "-redis.server") ||
			strings.Contains(log, "Usage:") || strings.Contains(log, "flag provided but not defined") {
			t.Errorf("want one line refusing -cassandra.server and naming -redis.server, got:\n%s", log)
		}
	})

	// Tools against a running server: each must parse its flags and work.
	srv := c.StartServer(testcluster.ServerOptions{Extra: []string{"-volume.max=30"}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	file := filepath.Join(dir, "hello.txt")
	if err := os.WriteFile(file, []byte("hello, 0.70"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := testcluster.Submit(srv.Addr(), "seed.txt", []byte("seed"), "")
	if err != nil {
		t.Fatal(err)
	}
	vid, _, _ := strings.Cut(res.Fid, ",")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"upload -server", []string{"upload", "-server=" + srv.Addr(), file}},
		{"upload -secure.secret", []string{"upload", "-master=" + srv.Addr(), "-secure.secret=s3cret", file}},
		{"upload -debug", []string{"upload", "-master=" + srv.Addr(), "-debug", file}},
		{"download -debug", []string{"download", "-server=" + srv.Addr(), "-dir=" + dir, "-debug", res.Fid}},
		{"download -master", []string{"download", "-master=" + srv.Addr(), "-dir=" + dir, res.Fid}},
		{"benchmark -readSequentially", []string{"benchmark", "-server=" + srv.Addr(), "-n=8", "-c=2", "-list=" + filepath.Join(dir, "l1"), "-readSequentially"}},
		{"benchmark -secure.secret", []string{"benchmark", "-server=" + srv.Addr(), "-n=8", "-c=2", "-list=" + filepath.Join(dir, "l2"), "-secure.secret=s3cret"}},
		{"benchmark -maxCpu", []string{"benchmark", "-server=" + srv.Addr(), "-n=8", "-c=2", "-list=" + filepath.Join(dir, "l3"), "-maxCpu=1"}},
		{"benchmark -cpuprofile", []string{"benchmark", "-server=" + srv.Addr(), "-n=8", "-c=2", "-list=" + filepath.Join(dir, "l4"), "-cpuprofile=" + filepath.Join(dir, "b.prof")}},
		{"benchmark -debug", []string{"benchmark", "-server=" + srv.Addr(), "-n=8", "-c=2", "-list=" + filepath.Join(dir, "l5"), "-debug"}},
		{"benchmark -master", []string{"benchmark", "-master=" + srv.Addr(), "-n=8", "-c=2", "-list=" + filepath.Join(dir, "l6")}},
		{"export -fileNameFormat", []string{"export", "-dir=" + srv.Dir, "-volumeId=" + vid, "-o=" + filepath.Join(dir, "x.tar"), "-fileNameFormat={{.Mime}}/{{.Id}}:{{.Name}}"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out, err := c.Run(ctx, dir, tc.args...); err != nil {
				t.Fatalf("weed %s: %v\n%s", strings.Join(tc.args, " "), err, out)
			}
		})
	}
	if fi, err := os.Stat(filepath.Join(dir, "b.prof")); err != nil || fi.Size() == 0 {
		t.Errorf("benchmark -cpuprofile wrote no profile: %v", err)
	}
}

// waitStatus waits until url answers status while p runs.
func waitStatus(t *testing.T, p *testcluster.Process, url string, status int) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	last := 0
	ok := testcluster.Eventually(testcluster.StartTimeout, func() bool {
		if !p.Running() {
			return true
		}
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		last = resp.StatusCode
		return last == status
	})
	if !ok || !p.Running() {
		t.Fatalf("%s: %s answered %d, want %d (running %v):\n%s", p.Name, url, last, status, p.Running(), p.Log())
	}
}
