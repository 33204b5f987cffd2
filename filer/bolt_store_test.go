package filer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/weedfs/weed/filer"
	"github.com/weedfs/weed/filer/storetest"
)

func openBolt(t testing.TB, dir string) *filer.BoltStore {
	t.Helper()
	s, err := filer.OpenBoltStore(dir)
	if err != nil {
		t.Fatalf("OpenBoltStore(%s): %v", dir, err)
	}
	return s
}

func TestBoltStoreConformance(t *testing.T) {
	storetest.Test(t, func(t *testing.T) filer.Store {
		return openBolt(t, t.TempDir())
	})
}

func TestBoltStorePersists(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "filerdir") // created by OpenBoltStore
	s := openBolt(t, dir)
	big := &filer.Entry{
		FullPath: "/keep/big.bin",
		Mtime:    time.Unix(1700000000, 5),
		Size:     3 << 20,
		Chunks: []filer.Chunk{
			{Fid: "1,01aa", Offset: 0, Size: 1 << 20, ETag: "00000001"},
			{Fid: "2,02bb", Offset: 1 << 20, Size: 1 << 20, ETag: "00000002"},
			{Fid: "3,03cc", Offset: 2 << 20, Size: 1 << 20, ETag: "00000003"},
		},
	}
	for _, e := range []*filer.Entry{
		{FullPath: "/keep", IsDirectory: true},
		big,
		{FullPath: "/keep/gone.txt", Chunks: []filer.Chunk{{Fid: "4,04dd", Size: 1}}, Size: 1},
	} {
		if err := s.Insert(ctx, e); err != nil {
			t.Fatalf("Insert(%q): %v", e.FullPath, err)
		}
	}
	if err := s.Delete(ctx, "/keep/gone.txt"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, filer.BoltFileName)); err != nil {
		t.Fatalf("store file: %v", err)
	}

	s = openBolt(t, dir)
	defer s.Close()
	got, err := s.Find(ctx, "/keep/big.bin")
	if err != nil {
		t.Fatalf("Find after reopen: %v", err)
	}
	storetest.CheckEqual(t, got, big)
	if _, err := s.Find(ctx, "/keep/gone.txt"); !errors.Is(err, filer.ErrNotFound) {
		t.Fatalf("deleted entry after reopen: %v", err)
	}
	es, err := s.List(ctx, "/keep", "", 0)
	if err != nil || len(es) != 1 || es[0].FullPath != "/keep/big.bin" {
		t.Fatalf("List after reopen = %v, %v", es, err)
	}
	es, err = s.List(ctx, "/", "", 0)
	if err != nil || len(es) != 1 || !es[0].IsDirectory {
		t.Fatalf("List(/) after reopen = %v, %v", es, err)
	}
}

func TestBoltStoreRefusesSecondOpener(t *testing.T) {
	dir := t.TempDir()
	s := openBolt(t, dir)
	defer s.Close()
	// bbolt's flock is per open file description, so a second open in the
	// same process waits for the lock like another process would, and
	// gives up after its bounded timeout.
	if s2, err := filer.OpenBoltStore(dir); err == nil {
		s2.Close()
		t.Fatalf("a second OpenBoltStore of a held directory succeeded")
	}
}

func TestBoltStoreRefusesForeignFiles(t *testing.T) {
	t.Run("not bbolt", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, filer.BoltFileName), []byte("not a bolt file at all, just some text"), 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := filer.OpenBoltStore(dir); err == nil {
			s.Close()
			t.Fatalf("OpenBoltStore accepted a file that is not a bbolt database")
		}
	})
	t.Run("unknown layout", func(t *testing.T) {
		dir := t.TempDir()
		db, err := bolt.Open(filepath.Join(dir, filer.BoltFileName), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("meta"))
			if err != nil {
				return err
			}
			return b.Put([]byte("layout"), []byte("99"))
		})
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		if s, err := filer.OpenBoltStore(dir); err == nil {
			s.Close()
			t.Fatalf("OpenBoltStore accepted layout version 99")
		}
	})
}

// TestBoltStoreLargeDirectory pages through 100,000 entries. Each insert
// is a commit with an fsync, so the file is on tmpfs where there is one:
// the test is about paging, not the disk.
func TestBoltStoreLargeDirectory(t *testing.T) {
	dir := t.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "weed-bolt-"); err == nil {
			dir = d
			t.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	s := openBolt(t, dir)
	defer s.Close()
	storetest.TestLargeDirectory(t, s, 100000)
}
