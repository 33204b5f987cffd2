package cluster

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/testcluster"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/volume/volumeserver"
)

// TestOpenFilesLimitAtStart: a volume server whose -dir holds 1,000
// volumes, started under `prlimit --nofile=256:256`, counts the file
// descriptors they need before loading any and exits non-zero at once with
// one line naming the limit, the need and `ulimit -n`; it never serves part
// of the disk. Started again under a limit that holds them, it loads all
// 1,000.
func TestOpenFilesLimitAtStart(t *testing.T) {
	if _, err := os.Stat("/usr/bin/prlimit"); err != nil {
		t.Skip("needs prlimit (util-linux)")
	}
	const volumes = 1000
	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{})
	dir := filepath.Join(c.Dir, "manyvolumes")
	makeEmptyVolumes(t, dir, volumes)

	v := c.NewVolume(testcluster.VolumeOptions{Masters: m.Addr(), Dir: dir, Max: volumes})
	c.vols = append(c.vols, v)
	v.Wrap = []string{"prlimit", "--nofile=256:256", "--"}
	start := time.Now()
	v.StartNoWait()
	if !testcluster.Eventually(20*time.Second, func() bool { return !v.Running() }) {
		t.Fatalf("volume server under a 256 file limit with %d volumes still runs after 20s:\n%s", volumes, v.Log())
	}
	if code := v.ExitCode(); code == 0 {
		t.Fatalf("volume server exited 0 under a 256 file limit:\n%s", v.Log())
	}
	var line string
	for _, l := range strings.Split(v.Log(), "\n") {
		if strings.Contains(l, "open files limit too low") {
			if line != "" {
				t.Errorf("the refusal is logged more than once:\n%s", v.Log())
			}
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no refusal line in the log:\n%s", v.Log())
	}
	for _, want := range []string{"the limit is 256", "ulimit -n", strconv.Itoa(volumes) + " volumes need"} {
		if !strings.Contains(line, want) {
			t.Errorf("refusal %q lacks %q", line, want)
		}
	}
	if strings.Contains(v.Log(), "skipping volume") || strings.Contains(v.Log(), "Start weed volume server") {
		t.Errorf("the server loaded or served part of the volumes before refusing:\n%s", v.Log())
	}
	t.Logf("refused in %v: %s", time.Since(start).Round(time.Millisecond), line)

	v.Wrap = []string{"prlimit", "--nofile=4096:4096", "--"}
	v.Start()
	var st volumeserver.StatusReply
	if err := v.GetJSON("/status", &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Volumes) != volumes {
		t.Fatalf("with a 4096 limit the server serves %d volumes, want %d", len(st.Volumes), volumes)
	}
}

// makeEmptyVolumes writes n empty volumes (ids 1..n) into dir: the first
// made by volume.Create, the others copies of its files.
func makeEmptyVolumes(t *testing.T, dir string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	vol, err := volume.Create(dir, "", 1, needle.Placement{}, needle.TTL{}, volume.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := vol.Close(); err != nil {
		t.Fatal(err)
	}
	dat, err := os.ReadFile(filepath.Join(dir, "1.dat"))
	if err != nil {
		t.Fatal(err)
	}
	for id := 2; id <= n; id++ {
		base := filepath.Join(dir, strconv.Itoa(id))
		if err := os.WriteFile(base+".dat", dat, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(base+".idx", nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
