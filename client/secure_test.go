package client_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/client/clienttest"
)

func TestSecuredAssignAndUpload(t *testing.T) {
	cl := startCluster(t, clienttest.Options{Secret: "s3cret"})
	c := newClient(t, cl.MasterAddr())
	ctx := context.Background()
	a, err := c.Assign(ctx, client.AssignRequest{Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(a.JWT, ".") != 2 {
		t.Fatalf("assignment token %q", a.JWT)
	}
	// Without the token: 401.
	_, err = c.Upload(ctx, a.URL, a.Fid, client.UploadRequest{Body: strings.NewReader("x")})
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusUnauthorized {
		t.Fatalf("upload without a token: %v", err)
	}
	// With it: fid and fid_1.
	for i := 0; i < 2; i++ {
		if _, err := c.Upload(ctx, a.URL, a.FileID(i), client.UploadRequest{Body: strings.NewReader("x"), JWT: a.JWT}); err != nil {
			t.Fatalf("upload of %s with the token: %v", a.FileID(i), err)
		}
	}
	// Chunked uploads carry each chunk's token.
	up, err := c.UploadChunked(ctx, bytes.NewReader(bytes.Repeat([]byte("chunk"), 100)), client.ChunkedUpload{Filename: "big.bin", ChunkSize: 128})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cl.File(up.Fid); !ok {
		t.Fatalf("manifest %s not stored", up.Fid)
	}
	if n := cl.Refused(); n != 1 {
		t.Fatalf("%d refusals, want the one without a token", n)
	}
}

func TestSecuredDeleteFetchesToken(t *testing.T) {
	cl := startCluster(t, clienttest.Options{Secret: "s3cret"})
	writer := newClient(t, cl.MasterAddr())
	var fids []string
	for i := 0; i < 3; i++ {
		fids = append(fids, putSecured(t, writer, "f.txt"))
	}
	ctx := context.Background()

	// A client that never assigned learns of the security from a 401,
	// then asks for the token before each delete.
	c := newClient(t, cl.MasterAddr())
	if _, err := c.Delete(ctx, fids[0]); err != nil {
		t.Fatalf("first delete: %v", err)
	}
	if n := cl.Refused(); n != 1 {
		t.Fatalf("%d refusals after the first delete, want 1", n)
	}
	if _, err := c.Delete(ctx, fids[1]); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if n := cl.Refused(); n != 1 {
		t.Fatalf("%d refusals after the second delete, want still 1", n)
	}
	// The writer knows from its assigns: no refusal either.
	if _, err := writer.Delete(ctx, fids[2]); err != nil {
		t.Fatalf("writer's delete: %v", err)
	}
	if n := cl.Refused(); n != 1 {
		t.Fatalf("%d refusals after the writer's delete, want still 1", n)
	}
	for _, fid := range fids {
		if _, ok := cl.File(fid); ok {
			t.Fatalf("%s still stored", fid)
		}
	}
	if _, err := c.Delete(ctx, fids[0]); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("delete of a deleted file: %v", err)
	}
}

func TestSecuredDeleteWithSecret(t *testing.T) {
	cl := startCluster(t, clienttest.Options{Secret: "s3cret"})
	fid := putSecured(t, newClient(t, cl.MasterAddr()), "f.txt")
	c := newClient(t, cl.MasterAddr(), client.WithSecret("s3cret"))
	lookups := cl.Requests("/dir/lookup")
	if _, err := c.Delete(context.Background(), fid); err != nil {
		t.Fatal(err)
	}
	if n := cl.Refused(); n != 0 {
		t.Fatalf("%d refusals, want none", n)
	}
	if n := cl.Requests("/dir/lookup") - lookups; n != 1 {
		t.Fatalf("%d lookups, want only the volume's one", n)
	}
	// A wrong secret falls back on the master's token.
	fid = putSecured(t, newClient(t, cl.MasterAddr()), "g.txt")
	wrong := newClient(t, cl.MasterAddr(), client.WithSecret("wrong"))
	if _, err := wrong.Delete(context.Background(), fid); err != nil {
		t.Fatal(err)
	}
	if _, ok := cl.File(fid); ok {
		t.Fatal("not deleted")
	}
}

func TestSecuredUploadFilesReassignsAfterExpiry(t *testing.T) {
	cl := startCluster(t, clienttest.Options{Secret: "s3cret"})
	c := newClient(t, cl.MasterAddr())
	dir := t.TempDir()
	var paths []string
	for _, name := range []string{"a.txt", "b.txt", "c.txt"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("file "+name), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	cl.ExpireTokens(1)
	out, err := c.UploadFiles(context.Background(), paths, client.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || cl.Refused() != 1 {
		t.Fatalf("uploaded %+v with %d refusals", out, cl.Refused())
	}
	for i, uf := range out {
		f, ok := cl.File(uf.Fid)
		if !ok || string(f.Data) != "file "+filepath.Base(paths[i]) {
			t.Fatalf("%s: %+v", uf.Fid, f)
		}
	}
}

// putSecured assigns and uploads a small file with the assignment's token.
func putSecured(t *testing.T, c *client.Client, name string) string {
	t.Helper()
	ctx := context.Background()
	a, err := c.Assign(ctx, client.AssignRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upload(ctx, a.URL, a.Fid, client.UploadRequest{Filename: name, Body: strings.NewReader("data"), JWT: a.JWT}); err != nil {
		t.Fatal(err)
	}
	return a.Fid
}
