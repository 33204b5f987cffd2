package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weedfs/weed/testcluster"
	"github.com/weedfs/weed/wire"
)

// liveNeedles returns the live needles (files less deletes) of every
// volume on v.
func liveNeedles(t *testing.T, v *testcluster.Process) int64 {
	t.Helper()
	var st struct{ Volumes []wire.VolumeInfo }
	if err := v.GetJSON("/status", &st); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, vi := range st.Volumes {
		n += int64(vi.FileCount) - int64(vi.DeleteCount)
	}
	return n
}

// TestDeleteChunkedFile uploads a 10 MB file with `weed upload -maxMB=1`
// to a 001 cluster (a manifest and ten chunks, each on both servers),
// reads it back whole and by a range across a chunk boundary, deletes the
// manifest with DELETE /fid, and then finds no chunk readable on either
// server and the live needle counts back to what they were.
func TestDeleteChunkedFile(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{DefaultReplication: "001"})
	v1 := c.volume(testcluster.VolumeOptions{Masters: m.Addr()})
	v2 := c.volume(testcluster.VolumeOptions{Masters: m.Addr()})
	c.WaitForNodesOf(m, v1, v2)
	submit(t, m, "", "first.txt", []byte("a file that stays"))
	before := []int64{liveNeedles(t, v1), liveNeedles(t, v2)}

	work := t.TempDir()
	data := make([]byte, 10<<20)
	rng := rand.New(rand.NewPCG(19, 19))
	for i := range data {
		data[i] = byte(rng.UintN(256))
	}
	if err := os.WriteFile(filepath.Join(work, "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	files := runUpload(t, c, work, "-master="+m.Addr(), "-maxMB=1", "big.bin")
	if len(files) != 1 || files[0].Size != int64(len(data)) {
		t.Fatalf("weed upload: %+v", files)
	}
	fid := files[0].Fid
	url := "http://" + volumeHost(files[0].FileURL) + "/" + fid
	r := testcluster.Get(t, url+"?cm=false")
	var manifest struct {
		Chunks []struct{ Fid string }
	}
	testcluster.DecodeJSON(t, r, &manifest)
	if len(manifest.Chunks) != 10 {
		t.Fatalf("manifest of %d chunks: %s", len(manifest.Chunks), r)
	}
	for i, v := range []*testcluster.Process{v1, v2} {
		if got := liveNeedles(t, v); got != before[i]+11 {
			t.Fatalf("%s holds %d live needles after the upload, want %d", v.Name, got, before[i]+11)
		}
	}
	if r := testcluster.Get(t, url); r.Status != http.StatusOK || !bytes.Equal(r.Body, data) {
		t.Fatalf("read of the chunked file: %d, %d bytes", r.Status, len(r.Body))
	}
	from, to := 1<<20-100, 3<<20+99 // across two chunk boundaries
	r = testcluster.Do(t, testcluster.NoFollow, http.MethodGet, url, nil, map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", from, to)})
	if r.Status != http.StatusPartialContent || !bytes.Equal(r.Body, data[from:to+1]) {
		t.Fatalf("range across chunks: %d, %d bytes", r.Status, len(r.Body))
	}

	r = testcluster.Do(t, testcluster.NoFollow, http.MethodDelete, url, nil, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("DELETE of the manifest: %s", r)
	}
	for _, v := range []*testcluster.Process{v1, v2} {
		for _, ch := range append(manifest.Chunks, struct{ Fid string }{fid}) {
			if r := testcluster.Get(t, v.URL("/"+ch.Fid)); r.Status != http.StatusNotFound {
				t.Errorf("%s on %s after the delete: %d", ch.Fid, v.Name, r.Status)
			}
		}
	}
	for i, v := range []*testcluster.Process{v1, v2} {
		if got := liveNeedles(t, v); got != before[i] {
			t.Errorf("%s holds %d live needles after the delete, want %d as before", v.Name, got, before[i])
		}
	}
}

// TestReadModesAndResize starts a holder of a PNG and three servers that
// do not hold it, one per -readMode: proxy serves it (resized with
// ?width=&height=, a range of it), redirect answers 301, local 404.
func TestReadModesAndResize(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{DefaultReplication: "000"})
	holder := c.volume(testcluster.VolumeOptions{Masters: m.Addr()})
	c.WaitForNodesOf(m, holder)

	img := image.NewNRGBA(image.Rect(0, 0, 1280, 900))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	img.SetNRGBA(0, 0, color.NRGBA{A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	s := submit(t, m, "", "photo.png", buf.Bytes())
	// Servers that join later get no volume of their own to hold it.
	proxy := c.volume(testcluster.VolumeOptions{Masters: m.Addr(), Extra: []string{"-readMode=proxy"}})
	redirect := c.volume(testcluster.VolumeOptions{Masters: m.Addr(), Extra: []string{"-readMode=redirect"}})
	local := c.volume(testcluster.VolumeOptions{Masters: m.Addr(), Extra: []string{"-read.redirect=false"}})
	c.WaitForNodesOf(m, holder, proxy, redirect, local)

	for _, tc := range []struct {
		name, query  string
		wantW, wantH int
	}{
		{"whole", "", 1280, 900},
		{"square box", "?width=100&height=100", 100, 100},
		{"fit", "?width=100&height=100&mode=fit", 100, 70},
		{"width", "?width=320", 320, 225},
	} {
		for _, srv := range []*testcluster.Process{holder, proxy} {
			r := testcluster.Get(t, srv.URL("/"+s.Fid+tc.query))
			if r.Status != http.StatusOK {
				t.Fatalf("%s from %s: %s", tc.name, srv.Name, r)
			}
			cfg, f, err := image.DecodeConfig(bytes.NewReader(r.Body))
			if err != nil || f != "png" || cfg.Width != tc.wantW || cfg.Height != tc.wantH {
				t.Fatalf("%s from %s: %dx%d %s %v, want %dx%d", tc.name, srv.Name, cfg.Width, cfg.Height, f, err, tc.wantW, tc.wantH)
			}
			if r.Header.Get("Content-Length") != fmt.Sprint(len(r.Body)) {
				t.Fatalf("%s from %s: Content-Length %s for %d bytes", tc.name, srv.Name, r.Header.Get("Content-Length"), len(r.Body))
			}
		}
	}
	r := testcluster.Do(t, testcluster.NoFollow, http.MethodGet, proxy.URL("/"+s.Fid), nil, map[string]string{"Range": "bytes=1-3"})
	if r.Status != http.StatusPartialContent || string(r.Body) != "PNG" {
		t.Errorf("proxied range: %s", r)
	}
	r = testcluster.Get(t, redirect.URL("/"+s.Fid))
	if r.Status != http.StatusMovedPermanently || !strings.Contains(r.Header.Get("Location"), holder.Addr()) {
		t.Errorf("redirect mode: %s, Location %q", r, r.Header.Get("Location"))
	}
	if r := testcluster.Get(t, local.URL("/"+s.Fid)); r.Status != http.StatusNotFound {
		t.Errorf("local mode (-read.redirect=false): %s", r)
	}
	if r := testcluster.Get(t, proxy.URL("/metrics")); r.Status != http.StatusNotFound {
		t.Errorf("/metrics: %s", r)
	}
	var st struct{ Volumes []json.RawMessage }
	if err := proxy.GetJSON("/status", &st); err != nil || len(st.Volumes) != 0 {
		t.Fatalf("the proxy holds volumes %d (%v): the test reads nothing through it", len(st.Volumes), err)
	}
}
