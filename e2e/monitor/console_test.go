package monitor

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/internal/metrics/metricstest"
	"github.com/weedfs/weed/testcluster"
)

// chromium runs headless Chromium on url with extra flags (--dump-dom,
// --screenshot=...) and returns its standard output.
func chromium(t *testing.T, url string, extra ...string) string {
	t.Helper()
	bin := metricstest.Tool(t, "chromium")
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, tailString(stderr.String(), 20))
	}
	return string(out)
}

// post sends a POST and fails the test unless it answers want.
func post(t *testing.T, url string, want int) {
	t.Helper()
	r, err := testcluster.Send(testcluster.NoFollow, http.MethodPost, url, nil, nil)
	if err != nil || r.Status != want {
		t.Fatalf("POST %s: %v %v, want %d", url, r, err, want)
	}
}

// TestConsoleInChromium loads the master's console of a three-node,
// two-data-center cluster in headless Chromium, with volumes writable,
// read-only (full) and under-replicated (a copy deleted): the DOM Chromium renders, after the script redrew it from
// /ui/cluster.json, names every node and every volume copy with its
// state. Screenshots at desktop and phone width are saved in the test's
// directory (WEED_CONSOLE_SCREENSHOT=path copies the desktop one there).
func TestConsoleInChromium(t *testing.T) {
	metricstest.Tool(t, "chromium")
	c := testcluster.New(t)
	m := c.StartMaster(testcluster.MasterOptions{VolumeSizeLimitMB: 1})
	nodes := []*testcluster.Process{
		c.StartVolume(testcluster.VolumeOptions{Masters: m.Addr(), DataCenter: "dc1", Rack: "rack1", Max: 8}),
		c.StartVolume(testcluster.VolumeOptions{Masters: m.Addr(), DataCenter: "dc1", Rack: "rack2", Max: 8}),
		c.StartVolume(testcluster.VolumeOptions{Masters: m.Addr(), DataCenter: "dc2", Rack: "rack1", Max: 8}),
	}
	if err := testcluster.Poll(bound, func() error {
		s, err := testcluster.ReadDirStatus(m.Addr())
		if err != nil || s.NodeCount() != 3 {
			return fmt.Errorf("nodes: %d %v", s.NodeCount(), err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Volumes 1-4: replication 100 (a copy in each data center); 5:
	// collection big, 000.
	post(t, m.URL("/vol/grow?count=4&replication=100"), http.StatusOK)
	post(t, m.URL("/vol/grow?count=1&replication=000&collection=big"), http.StatusOK)
	vols := volumeCopies(t, m.Addr())
	if len(vols) != 5 {
		t.Fatalf("volumes %v, want 5", vols)
	}
	// Fill volume 5 past the 1 MB limit: read-only.
	if _, err := testcluster.Submit(m.Addr(), "big.bin", make([]byte, 1200<<10), "collection=big"); err != nil {
		t.Fatal(err)
	}
	// Volume 2 loses its copy in dc2: under-replicated. (A stale mark
	// heals in milliseconds here, the replica syncing at once: the stale
	// and syncing cells are checked by master's TestConsole.)
	dc2 := nodes[2].Addr()
	post(t, "http://"+dc2+"/admin/delete_volume?volume=2", http.StatusOK)

	want := map[string]string{ // "volume@node" -> state
		"1@" + dc2: "writable", "3@" + dc2: "writable", "4@" + dc2: "writable",
	}
	for vid, holders := range vols {
		for _, n := range holders {
			switch {
			case vid == "2" && n != dc2:
				want[vid+"@"+n] = "under_replicated"
			case vid == "5":
				want[vid+"@"+n] = "readonly"
			case n != dc2:
				want[vid+"@"+n] = "writable"
			}
		}
	}
	cell := regexp.MustCompile(`data-node="([^"]+)"|data-volume="(\d+)" data-state="([a-z_]+)"`)
	check := func(dom string) error {
		got := map[string]string{}
		node := ""
		for _, m := range cell.FindAllStringSubmatch(dom, -1) {
			if m[1] != "" {
				node = m[1]
				continue
			}
			got[m[2]+"@"+node] = m[3]
		}
		for _, n := range nodes {
			if !strings.Contains(dom, `data-node="`+n.Addr()+`"`) {
				return fmt.Errorf("node %s not drawn", n.Addr())
			}
		}
		for k, st := range want {
			if got[k] != st {
				return fmt.Errorf("volume@node %s is %q, want %q (all: %v)", k, got[k], st, got)
			}
		}
		if len(got) != len(want) {
			return fmt.Errorf("cells %v, want %v", got, want)
		}
		return nil
	}
	// The page as the master renders it, until the heartbeats and the
	// stale refresh have shown every state.
	if err := testcluster.Poll(bound, func() error { return check(testcluster.Get(t, m.URL("/")).Text()) }); err != nil {
		t.Fatal(err)
	}
	// The page as Chromium renders it after the script redrew it (the
	// virtual time budget covers more than a pulse).
	dom := chromium(t, m.URL("/"), "--virtual-time-budget=4000", "--dump-dom")
	if err := check(dom); err != nil {
		t.Fatalf("Chromium's DOM: %v", err)
	}
	if !regexp.MustCompile(`data-redraws="[1-9]`).MatchString(dom) {
		t.Error("the script did not redraw the page from /ui/cluster.json")
	}
	for _, s := range []string{"data center dc1", "data center dc2", "rack rack2", ">big<"} {
		if !strings.Contains(dom, s) {
			t.Errorf("Chromium's DOM lacks %q", s)
		}
	}
	dir := t.TempDir()
	desktop, phone := filepath.Join(dir, "console.png"), filepath.Join(dir, "console-phone.png")
	chromium(t, m.URL("/"), "--virtual-time-budget=2000", "--hide-scrollbars", "--window-size=1280,900", "--screenshot="+desktop)
	chromium(t, m.URL("/"), "--virtual-time-budget=2000", "--hide-scrollbars", "--window-size=390,844", "--screenshot="+phone)
	for _, p := range []string{desktop, phone} {
		if fi, err := os.Stat(p); err != nil || fi.Size() < 10000 {
			t.Fatalf("screenshot %s: %v", p, err)
		}
	}
	if dst := os.Getenv("WEED_CONSOLE_SCREENSHOT"); dst != "" {
		for src, d := range map[string]string{desktop: dst, phone: strings.TrimSuffix(dst, ".png") + "-phone.png"} {
			b, err := os.ReadFile(src)
			if err == nil {
				err = os.WriteFile(d, b, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// volumeCopies returns, from /vol/status, the nodes holding each volume.
func volumeCopies(t *testing.T, master string) map[string][]string {
	t.Helper()
	var s testcluster.VolStatus
	if err := testcluster.Poll(bound, func() error {
		r, err := testcluster.Send(testcluster.NoFollow, http.MethodGet, "http://"+master+"/vol/status", nil, nil)
		if err != nil {
			return err
		}
		s = testcluster.VolStatus{}
		return decodeJSON(r.Body, &s)
	}); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, racks := range s.Volumes.DataCenters {
		for _, nodes := range racks {
			for node, vs := range nodes {
				for _, v := range vs {
					id := fmt.Sprint(v.ID)
					out[id] = append(out[id], node)
				}
			}
		}
	}
	return out
}
