package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/client/clienttest"
)

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestUploadFilesSharesOneAssign(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	c := newClient(t, cl.MasterAddr())
	dir := t.TempDir()
	names := []string{"a.txt", "b.jpg", "c.bin"}
	var paths []string
	var total int64
	for i, n := range names {
		p := filepath.Join(dir, n)
		writeFile(t, p, []byte(strings.Repeat(n, i+1)))
		paths = append(paths, p)
		total += int64(len(n) * (i + 1))
	}
	var last client.Progress
	calls := 0
	out, err := c.UploadFiles(context.Background(), paths, client.UploadOptions{Collection: "docs", Progress: func(p client.Progress) {
		calls++
		last = p
	}})
	if err != nil {
		t.Fatal(err)
	}
	if n := cl.Requests("/dir/assign"); n != 1 {
		t.Fatalf("%d assigns for %d files, want 1", n, len(paths))
	}
	if len(out) != 3 {
		t.Fatalf("results %+v", out)
	}
	for i, uf := range out {
		want := out[0].Fid
		if i > 0 {
			want = out[0].Fid + "_" + string(rune('0'+i))
		}
		if uf.Fid != want || uf.FileName != names[i] || !strings.HasSuffix(uf.FileURL, "/"+uf.Fid) {
			t.Fatalf("file %d: %+v, want fid %s", i, uf, want)
		}
		f, ok := cl.File(uf.Fid)
		if !ok || string(f.Data) != strings.Repeat(names[i], i+1) || uf.Size != int64(len(f.Data)) {
			t.Fatalf("stored under %s: %+v", uf.Fid, f)
		}
	}
	if calls == 0 || last.FilesDone != 3 || last.Files != 3 || last.Bytes != total || last.TotalBytes != total {
		t.Fatalf("progress %+v after %d calls, total %d", last, calls, total)
	}
	js, err := json.Marshal(out[0])
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(js, &fields); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range fields {
		keys = append(keys, k)
	}
	if len(keys) != 4 || fields["fileName"] == nil || fields["fileUrl"] == nil || fields["fid"] == nil || fields["size"] == nil {
		t.Fatalf("JSON %s", js)
	}
}

func TestUploadDirIncludeAndMaxMB(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	c := newClient(t, cl.MasterAddr())
	dir := t.TempDir()
	big := randomBytes(2<<20+123, 7)
	writeFile(t, filepath.Join(dir, "small.jpg"), []byte("jpeg"))
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("skip me"))
	writeFile(t, filepath.Join(dir, "sub", "big.jpg"), big)
	got, err := client.WalkFiles(dir, "*.jpg")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "small.jpg"), filepath.Join(dir, "sub", "big.jpg")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("WalkFiles = %v, want %v", got, want)
	}
	out, err := c.UploadDir(context.Background(), dir, "*.jpg", client.UploadOptions{MaxMB: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[1].FileName != "big.jpg" || out[1].Size != int64(len(big)) {
		t.Fatalf("uploaded %+v", out)
	}
	mf, ok := cl.File(out[1].Fid)
	if !ok || !mf.ChunkManifest {
		t.Fatalf("big.jpg is not a chunk manifest: %+v", mf)
	}
	m, err := client.ParseChunkManifest(mf.Data)
	if err != nil || len(m.Chunks) != 3 || m.Name != "big.jpg" || m.Mime != "image/jpeg" {
		t.Fatalf("manifest %+v, %v", m, err)
	}
	o, err := c.Get(context.Background(), out[1].Fid, client.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if data := readAll(t, o); !bytes.Equal(data, big) {
		t.Fatal("chunked file reads back different bytes")
	}
	if _, err := client.WalkFiles(dir, "[bad"); err == nil {
		t.Fatal("bad include pattern accepted")
	}
}

func TestUploadChunkedCleansUpOnFailure(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	c := newClient(t, cl.MasterAddr())
	chunks := 0
	_, err := c.UploadChunked(context.Background(), bytes.NewReader(randomBytes(5000, 1)), client.ChunkedUpload{
		Filename: "x.bin", ChunkSize: 1000,
		OnChunk: func(client.ChunkInfo) {
			chunks++
			if chunks == 2 {
				cl.FailAssign(406, "Cannot grow volume group! Not enough data node found!")
			}
		},
	})
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != 406 {
		t.Fatalf("err = %v", err)
	}
	if n := cl.FileCount(); n != 0 {
		t.Fatalf("%d chunks left behind", n)
	}
	if _, err := c.UploadChunked(context.Background(), bytes.NewReader(nil), client.ChunkedUpload{Filename: "x", ChunkSize: 0}); err == nil {
		t.Fatal("chunk size 0 accepted")
	}
}

func TestUploadChunkedEmptyReader(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	c := newClient(t, cl.MasterAddr())
	uf, err := c.UploadChunked(context.Background(), bytes.NewReader(nil), client.ChunkedUpload{Filename: "empty.txt", ChunkSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Get(context.Background(), uf.Fid, client.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if data := readAll(t, o); len(data) != 0 || uf.Size != 0 || o.Name != "empty.txt" {
		t.Fatalf("read %q, %+v", data, uf)
	}
}

func TestParseChunkManifest(t *testing.T) {
	tests := []struct {
		name, json string
		ok         bool
	}{
		{"sorted on return", `{"name":"a","mime":"","size":10,"chunks":[{"fid":"1,0201020304","offset":5,"size":5},{"fid":"1,0101020304","offset":0,"size":5}]}`, true},
		{"empty", `{"name":"a","mime":"","size":0,"chunks":[]}`, true},
		{"gap", `{"size":10,"chunks":[{"fid":"1,0101020304","offset":4,"size":2}]}`, true},
		{"overlap", `{"size":10,"chunks":[{"fid":"1,0101020304","offset":0,"size":6},{"fid":"1,0201020304","offset":5,"size":5}]}`, false},
		{"past size", `{"size":4,"chunks":[{"fid":"1,0101020304","offset":0,"size":5}]}`, false},
		{"negative chunk", `{"size":4,"chunks":[{"fid":"1,0101020304","offset":0,"size":-1}]}`, false},
		{"negative size", `{"size":-4,"chunks":[]}`, false},
		{"bad fid", `{"size":4,"chunks":[{"fid":"nope","offset":0,"size":4}]}`, false},
		{"not json", `{"size":`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := client.ParseChunkManifest([]byte(tt.json))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err == nil {
				for i := 1; i < len(m.Chunks); i++ {
					if m.Chunks[i].Offset < m.Chunks[i-1].Offset {
						t.Fatalf("chunks not sorted: %+v", m.Chunks)
					}
				}
			}
		})
	}
	js, _ := json.Marshal(client.ChunkManifest{Name: "n", Mime: "m", Size: 1, Chunks: []client.ChunkInfo{{Fid: "1,0101020304", Offset: 0, Size: 1}}})
	if string(js) != `{"name":"n","mime":"m","size":1,"chunks":[{"fid":"1,0101020304","offset":0,"size":1}]}` {
		t.Fatalf("manifest JSON %s", js)
	}
}

func FuzzParseChunkManifest(f *testing.F) {
	f.Add([]byte(`{"name":"a","mime":"","size":10,"chunks":[{"fid":"1,0101020304","offset":0,"size":10}]}`))
	f.Add([]byte(`{"size":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := client.ParseChunkManifest(data)
		if err != nil {
			return
		}
		var end int64
		for _, ch := range m.Chunks {
			if ch.Offset < end || ch.Size < 0 || ch.Offset+ch.Size > m.Size {
				t.Fatalf("accepted a bad manifest: %+v", m)
			}
			end = ch.Offset + ch.Size
		}
	})
}

func TestDownload(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	c := newClient(t, cl.MasterAddr())
	ctx := context.Background()
	dir := t.TempDir()
	fid := put(t, c, "photo.jpg", []byte("jpeg bytes"))
	path, err := c.Download(ctx, fid, dir)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "photo.jpg")); err != nil || string(data) != "jpeg bytes" || path != filepath.Join(dir, "photo.jpg") {
		t.Fatalf("downloaded to %s: %q, %v", path, data, err)
	}

	noName, err := cl.Put(clienttest.File{Data: []byte("anonymous")})
	if err != nil {
		t.Fatal(err)
	}
	path, err = c.Download(ctx, noName, dir)
	if err != nil || filepath.Base(path) != noName {
		t.Fatalf("nameless file saved as %s, %v", path, err)
	}

	for _, evil := range []string{"../escaped", "..", "sub/dir.txt", `..\win.txt`, "/etc/passwd", "nul\x00byte"} {
		fid, err := cl.Put(clienttest.File{Name: evil, Data: []byte("evil")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Download(ctx, fid, dir); !errors.Is(err, client.ErrUnsafeName) {
			t.Fatalf("name %q: err = %v, want ErrUnsafeName", evil, err)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escaped")); !os.IsNotExist(err) {
		t.Fatal("a file escaped the download directory")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("download dir holds %d entries, want 2 (no leftovers)", len(entries))
	}
	if _, err := c.Download(ctx, "9999,01637037d6", dir); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("missing fid: %v", err)
	}
}
