package filer_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/client/clienttest"
	"github.com/weedfs/weed/filer"
)

// newFiler returns a Filer over a bolt store and a fake cluster.
func newFiler(t testing.TB, opts filer.Options) (*filer.Filer, *clienttest.Cluster) {
	t.Helper()
	return newFilerOver(t, opts, nil)
}

// newFilerOver is newFiler with the bolt store seen through wrap, when not
// nil.
func newFilerOver(t testing.TB, opts filer.Options, wrap func(filer.Store) filer.Store) (*filer.Filer, *clienttest.Cluster) {
	t.Helper()
	cluster := startCluster(t, clienttest.Options{})
	c, err := client.New(cluster.MasterAddr())
	if err != nil {
		t.Fatal(err)
	}
	bolt, err := filer.OpenBoltStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bolt.Close() })
	var store filer.Store = bolt
	if wrap != nil {
		store = wrap(bolt)
	}
	f, err := filer.NewFiler(store, c, opts)
	if err != nil {
		t.Fatalf("NewFiler: %v", err)
	}
	return f, cluster
}

func TestNewFilerChecksOptions(t *testing.T) {
	c, err := client.New("127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	store, err := filer.OpenBoltStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, opts := range []filer.Options{
		{MaxMB: -1}, {MaxMB: filer.MaxMaxMB + 1}, {DefaultReplication: "0000"}, {DefaultReplication: "300"}, {Collection: "a b"},
	} {
		if _, err := filer.NewFiler(store, c, opts); !errors.Is(err, filer.ErrBadParam) {
			t.Errorf("NewFiler(%+v) = %v, want ErrBadParam", opts, err)
		}
	}
	if _, err := filer.NewFiler(nil, c, filer.Options{}); err == nil {
		t.Errorf("NewFiler without a store succeeded")
	}
}

func TestResolveParams(t *testing.T) {
	f, _ := newFiler(t, filer.Options{DefaultReplication: "001", Collection: "def", MaxMB: 4})
	got, err := f.ResolveParams(filer.WriteParams{})
	if err != nil || got != (filer.WriteParams{Replication: "001", Collection: "def", MaxMB: 4}) {
		t.Errorf("defaults = %+v, %v", got, err)
	}
	got, err = f.ResolveParams(filer.WriteParams{Replication: "200", Collection: "c-1_x", TTL: "3d", MaxMB: 2})
	if err != nil || got != (filer.WriteParams{Replication: "200", Collection: "c-1_x", TTL: "3d", MaxMB: 2}) {
		t.Errorf("overrides = %+v, %v", got, err)
	}
	for _, p := range []filer.WriteParams{
		{Replication: "01"}, {Replication: "0a0"}, {Replication: "256"}, {Collection: "../x"},
		{Collection: strings.Repeat("c", 129)}, {TTL: "1x"}, {TTL: "999d"}, {MaxMB: 5}, {MaxMB: -1},
	} {
		if _, err := f.ResolveParams(p); !errors.Is(err, filer.ErrBadParam) {
			t.Errorf("ResolveParams(%+v) = %v, want ErrBadParam", p, err)
		}
	}
}

func TestFilerOperations(t *testing.T) {
	f, cluster := newFiler(t, filer.Options{})
	ctx := context.Background()
	e, err := f.WriteFile(ctx, strings.NewReader("data"), filer.NewFile{Path: "/d/e/file.txt", Mime: "text/plain"})
	if err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	got, err := f.Find(ctx, "/d/e/file.txt")
	if err != nil || got.Size != 4 || got.Mime != "text/plain" || got.Fid() != e.Fid() || got.Mtime.IsZero() {
		t.Fatalf("Find = %+v, %v", got, err)
	}
	if _, err := f.Find(ctx, "/d/nothing"); !errors.Is(err, filer.ErrNotFound) {
		t.Errorf("Find missing = %v", err)
	}
	for _, tc := range []struct {
		path string
		want error
	}{
		{"/d/e", filer.ErrIsDirectory},
		{"/", filer.ErrIsDirectory},
		{"/d/e/file.txt/under", filer.ErrNotDirectory},
		{"/d/e/new.txt", nil},
		{"/d/e/file.txt", nil},
		{"/new/dirs/file", nil},
	} {
		if err := f.CheckWritable(ctx, tc.path); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("CheckWritable(%s) = %v, want %v", tc.path, err, tc.want)
		}
	}
	if _, err := f.WriteFile(ctx, strings.NewReader("x"), filer.NewFile{Path: "/d/e/file.txt/under"}); !errors.Is(err, filer.ErrNotDirectory) {
		t.Errorf("write under a file = %v", err)
	}
	if _, err := f.WriteFile(ctx, strings.NewReader("x"), filer.NewFile{Path: "/d/e"}); !errors.Is(err, filer.ErrIsDirectory) {
		t.Errorf("write over a directory = %v", err)
	}
	if n := cluster.FileCount(); n != 1 {
		t.Errorf("refused writes left %d needles, want 1", n)
	}
	if _, err := f.List(ctx, "/d/e/file.txt", "", 0); !errors.Is(err, filer.ErrNotDirectory) {
		t.Errorf("List of a file = %v", err)
	}
	if _, err := f.List(ctx, "/nope", "", 0); !errors.Is(err, filer.ErrNotFound) {
		t.Errorf("List of a missing dir = %v", err)
	}
	if err := f.Delete(ctx, "/d", false); !errors.Is(err, filer.ErrNotEmpty) {
		t.Errorf("Delete non-empty = %v", err)
	}
	if err := f.Delete(ctx, "/d/e/file.txt", false); err != nil {
		t.Errorf("Delete file = %v", err)
	}
	if err := f.Delete(ctx, "/d/e", false); err != nil {
		t.Errorf("Delete empty dir = %v", err)
	}
	if err := f.Delete(ctx, "/d/e", false); !errors.Is(err, filer.ErrNotFound) {
		t.Errorf("Delete missing = %v", err)
	}
	if n := cluster.FileCount(); n != 0 {
		t.Errorf("%d needles left after deletes", n)
	}

	// A needle already gone is not an error; a volume server that cannot
	// be reached is, after the entry is gone.
	e, err = f.WriteFile(ctx, strings.NewReader("x"), filer.NewFile{Path: "/gone"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Client().Delete(ctx, e.Fid()); err != nil {
		t.Fatal(err)
	}
	if err := f.Delete(ctx, "/gone", false); err != nil {
		t.Errorf("Delete with its needle already gone = %v", err)
	}
	if _, err := f.WriteFile(ctx, strings.NewReader("x"), filer.NewFile{Path: "/stuck"}); err != nil {
		t.Fatal(err)
	}
	cluster.StopVolumeServer(0)
	if err := f.Delete(ctx, "/stuck", false); err == nil || errors.Is(err, filer.ErrNotFound) {
		t.Errorf("Delete with the volume server down = %v, want an error", err)
	}
	if _, err := f.Find(ctx, "/stuck"); !errors.Is(err, filer.ErrNotFound) {
		t.Errorf("entry after a delete whose needle remains: %v", err)
	}
}
