package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/testcluster"
)

// TestFixAndExport drives the offline volume tools on a volume a real
// volume server wrote: `weed export` writes the live files (and only those
// newer than -newer) into a tar; `weed fix` rebuilds a lost .idx from the
// .dat, after which the server serves the live files again and the deleted
// one stays deleted. Both work on collection volumes too.
func TestFixAndExport(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{DefaultReplication: "000"})
	v := c.volume(testcluster.VolumeOptions{Masters: m.Addr(), Max: 8})
	c.WaitForNodes(m, 1)

	files := map[string][]byte{
		"a.txt":   []byte("first file\n"),
		"b.bin":   bytes.Repeat([]byte{0, 1, 2, 250}, 3000),
		"doc.txt": []byte(strings.Repeat("compressible text ", 200)),
	}
	fids := map[string]string{}
	for name, data := range files {
		fids[name] = submit(t, m, "collection=tools", name, data).Fid
	}
	// Every file went to one collection volume? Submit may spread them over
	// the collection's volumes; the tools run per volume, so group them.
	byVolume := map[string][]string{}
	for name, fid := range fids {
		byVolume[volumeOf(fid)] = append(byVolume[volumeOf(fid)], name)
	}
	// Delete one file of the first volume.
	var vid string
	for id := range byVolume {
		if vid == "" || len(byVolume[id]) > len(byVolume[vid]) {
			vid = id
		}
	}
	deleted := byVolume[vid][0]
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodDelete, v.URL("/"+fids[deleted]), nil, nil); r.Status != http.StatusAccepted {
		t.Fatalf("delete %s: %s", deleted, r)
	}
	stop(t, v)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tarPath := filepath.Join(c.Dir, "export.tar")
	if out, err := c.Run(ctx, "", "export", "-dir="+v.Dir, "-collection=tools", "-volumeId="+vid, "-o="+tarPath); err != nil {
		t.Fatalf("weed export: %v\n%s", err, out)
	}
	got := readTar(t, tarPath)
	for _, name := range byVolume[vid] {
		data, ok := got[name]
		switch {
		case name == deleted && ok:
			t.Errorf("export has the deleted file %s", name)
		case name != deleted && !bytes.Equal(data, files[name]):
			t.Errorf("export of %s: %d bytes, want the %d uploaded", name, len(data), len(files[name]))
		}
	}
	if len(got) != len(byVolume[vid])-1 {
		t.Errorf("export has %d files, want %d", len(got), len(byVolume[vid])-1)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if out, err := c.Run(ctx, "", "export", "-dir="+v.Dir, "-collection=tools", "-volumeId="+vid, "-o="+tarPath, "-newer="+future); err != nil {
		t.Fatalf("weed export -newer: %v\n%s", err, out)
	}
	if got := readTar(t, tarPath); len(got) != 0 {
		t.Errorf("export -newer=%s has %d files, want none", future, len(got))
	}
	if out, err := c.Run(ctx, "", "export", "-dir="+v.Dir, "-volumeId=0"); err == nil {
		t.Errorf("weed export -volumeId=0 succeeded:\n%s", out)
	}

	// Lose the index, rebuild it, and serve from it.
	idx := filepath.Join(v.Dir, "tools_"+vid+".idx")
	if err := os.Remove(idx); err != nil {
		t.Fatal(err)
	}
	for _, bdb := range []string{"tools_" + vid + ".bdb"} {
		os.Remove(filepath.Join(v.Dir, bdb))
	}
	if out, err := c.Run(ctx, "", "fix", "-dir="+v.Dir, "-collection=tools", "-volumeId="+vid); err != nil {
		t.Fatalf("weed fix: %v\n%s", err, out)
	}
	if fi, err := os.Stat(idx); err != nil || fi.Size() == 0 {
		t.Fatalf("weed fix left no index: %v", err)
	}
	v.Start()
	for _, name := range byVolume[vid] {
		r := testcluster.Get(t, v.URL("/"+fids[name]))
		if name == deleted {
			if r.Status != http.StatusNotFound {
				t.Errorf("after fix, deleted %s: %s, want 404", name, r)
			}
			continue
		}
		if r.Status != http.StatusOK || !bytes.Equal(r.Body, files[name]) {
			t.Errorf("after fix, %s: status %d, %d bytes", name, r.Status, len(r.Body))
		}
	}
}

// readTar returns the regular files of a tar archive by name.
func readTar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = data
	}
}
