package cluster

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/testcluster"
)

// uploaded is one element of weed upload's JSON array.
type uploaded struct {
	FileName string `json:"fileName"`
	FileURL  string `json:"fileUrl"`
	Fid      string `json:"fid"`
	Size     int64  `json:"size"`
}

// runUpload runs `weed upload args...` and decodes its JSON array, checking
// that every element has exactly fileName, fileUrl, fid and size.
func runUpload(t *testing.T, c *cluster, dir string, args ...string) []uploaded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := c.Run(ctx, dir, append([]string{"upload"}, args...)...)
	if err != nil {
		t.Fatalf("weed upload %q: %v\n%s", args, err, out)
	}
	// stdout holds one JSON line; stderr (merged here) holds the progress
	// line, cleared with "\r\x1b[K" before the JSON is printed.
	if i := strings.LastIndex(out, "\x1b[K"); i >= 0 {
		out = out[i+len("\x1b[K"):]
	}
	line, _, _ := strings.Cut(out, "\n")
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(line), &raw); err != nil {
		t.Fatalf("weed upload %q: %v in %q", args, err, line)
	}
	files := make([]uploaded, len(raw))
	for i, r := range raw {
		requireKeys(t, "weed upload element", r, "fileName", "fileUrl", "fid", "size")
		if err := json.Unmarshal(r, &files[i]); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// TestUploadAndDownload drives `weed upload` (several files on one assign:
// fid, fid_1, fid_2; a tree with -dir and -include) and `weed download`
// (files named after their stored names) against a 001 cluster.
func TestUploadAndDownload(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{DefaultReplication: "001"})
	v1 := c.volume(testcluster.VolumeOptions{Masters: m.Addr()})
	v2 := c.volume(testcluster.VolumeOptions{Masters: m.Addr()})
	c.WaitForNodesOf(m, v1, v2)

	work := t.TempDir()
	contents := map[string]string{
		"a.txt":  "first file\n",
		"b.json": `{"second":true}`,
		"c.bin":  "\x00\x01\x02third\xff",
	}
	names := []string{"a.txt", "b.json", "c.bin"}
	for name, data := range contents {
		if err := os.WriteFile(filepath.Join(work, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// $ weed upload -master=... a.txt b.json c.bin
	files := runUpload(t, c, work, append([]string{"-master=" + m.Addr()}, names...)...)
	if len(files) != 3 {
		t.Fatalf("weed upload of 3 files printed %d", len(files))
	}
	base := files[0].Fid
	for i, f := range files {
		wantFid := base
		if i > 0 {
			wantFid = base + "_" + string(rune('0'+i))
		}
		if f.FileName != names[i] || f.Fid != wantFid || f.FileURL != volumeHost(f.FileURL)+"/"+f.Fid || f.Size <= 0 {
			t.Errorf("uploaded[%d] = %+v, want %s stored as %s", i, f, names[i], wantFid)
		}
		for _, v := range []*testcluster.Process{v1, v2} {
			if r := testcluster.Get(t, v.URL("/"+f.Fid)); r.Status != http.StatusOK || string(r.Body) != contents[f.FileName] {
				t.Errorf("GET %s (%s) from %s: %s", f.Fid, f.FileName, v.Name, r)
			}
		}
	}

	// A tree: only the files matching -include, at any depth.
	tree := filepath.Join(work, "tree")
	for path, data := range map[string]string{
		"x.jpg":            "jpeg x",
		"sub/y.jpg":        "jpeg y",
		"sub/deeper/z.jpg": "jpeg z",
		"sub/notes.txt":    "not a picture",
	} {
		full := filepath.Join(tree, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	treeFiles := runUpload(t, c, work, "-master="+m.Addr(), "-dir="+tree, "-include=*.jpg")
	var got []string
	for _, f := range treeFiles {
		got = append(got, f.FileName)
		want := "jpeg " + strings.TrimSuffix(f.FileName, ".jpg")
		if r := testcluster.GetFollow(t, m.URL("/"+f.Fid)); r.Status != http.StatusOK || string(r.Body) != want {
			t.Errorf("read %s (%s) through the master: %s", f.Fid, f.FileName, r)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"x.jpg", "y.jpg", "z.jpg"}) {
		t.Errorf("weed upload -dir -include=*.jpg stored %q", got)
	}

	// $ weed download -server=... -dir=out fid fid_1 fid_2
	out := filepath.Join(work, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"download", "-server=" + m.Addr(), "-dir=" + out}
	for _, f := range files {
		args = append(args, f.Fid)
	}
	if msg, err := c.Run(ctx, work, args...); err != nil {
		t.Fatalf("weed download: %v\n%s", err, msg)
	}
	for name, data := range contents {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || string(b) != data {
			t.Errorf("downloaded %s: %q, %v; want %q", name, b, err, data)
		}
	}
	// An unknown fid is an error, not an empty file.
	msg, err := c.Run(ctx, work, "download", "-server="+m.Addr(), "-dir="+out, "9999,01637037d6")
	if err == nil {
		t.Errorf("weed download of an unknown fid succeeded:\n%s", msg)
	}
}
