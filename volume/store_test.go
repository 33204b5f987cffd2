package volume

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume/volumetest"
)

func storeIDs(s *Store) []needle.VolumeID {
	var ids []needle.VolumeID
	for _, v := range s.Volumes() {
		ids = append(ids, v.ID())
	}
	return ids
}

func TestStore(t *testing.T) {
	forEachMap(t, func(t *testing.T, opts Options) {
		root := t.TempDir()
		d1, d2 := filepath.Join(root, "a"), filepath.Join(root, "b")
		s, err := NewStore([]string{d1, d2}, []int{2, 3}, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { s.Close() }()
		if s.MaxVolumeCount() != 5 {
			t.Errorf("MaxVolumeCount %d", s.MaxVolumeCount())
		}
		rp, _ := needle.ParsePlacement("001")
		ttl, _ := needle.ParseTTL("7d")
		for id := needle.VolumeID(1); id <= 5; id++ {
			coll := ""
			if id >= 4 {
				coll = "pics"
			}
			if err := s.AddVolume(id, coll, rp, ttl); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddVolume(6, "", rp, ttl); !errors.Is(err, ErrNoFreeSlot) {
			t.Errorf("sixth volume: %v", err)
		}
		if err := s.AddVolume(3, "", rp, ttl); !errors.Is(err, ErrVolumeExists) {
			t.Errorf("duplicate volume: %v", err)
		}
		for _, bad := range []string{"../x", "a/b", "x y"} {
			if err := s.AddVolume(7, bad, rp, ttl); !errors.Is(err, ErrBadCollection) {
				t.Errorf("collection %q: %v", bad, err)
			}
			if err := s.DeleteCollection(bad); !errors.Is(err, ErrBadCollection) {
				t.Errorf("delete collection %q: %v", bad, err)
			}
		}
		// Most free slots first: b (3), a (2), b, a, b.
		count := func(dir string) int {
			m, _ := filepath.Glob(filepath.Join(dir, "*.dat"))
			return len(m)
		}
		if count(d1) != 2 || count(d2) != 3 {
			t.Errorf("volumes per dir: %d, %d", count(d1), count(d2))
		}
		for _, p := range []string{FileBase(d2, "", 1), FileBase(d1, "", 2), FileBase(d2, "", 3), FileBase(d1, "pics", 4), FileBase(d2, "pics", 5)} {
			if _, err := os.Stat(p + ".dat"); err != nil {
				t.Error(err)
			}
		}
		for id := needle.VolumeID(1); id <= 5; id++ {
			mustWrite(t, s.Volume(id), volumetest.Needle(needle.Key(id)*100, 0, 50))
		}
		s.SetVolumeSizeLimit(1)
		if _, err := s.Volume(1).Write(volumetest.Needle(7, 0, 5)); !errors.Is(err, ErrReadOnly) {
			t.Errorf("write over the size limit: %v", err)
		}
		st := s.Status()
		if len(st) != 5 || st[0].ID != 1 || st[4].ID != 5 || !st[0].ReadOnly || st[3].Collection != "pics" || st[0].TTL != "7d" || st[0].ReplicaPlacement != rp {
			t.Errorf("status %+v", st)
		}
		s.SetVolumeSizeLimit(0)
		if s.MaxFileKey() != 500 {
			t.Errorf("MaxFileKey %d", s.MaxFileKey())
		}

		// Stray files are ignored; a broken volume is skipped, not fatal.
		os.WriteFile(filepath.Join(d1, "notes.dat"), []byte("x"), 0o644)
		os.WriteFile(filepath.Join(d1, "bad name_9.dat"), []byte("x"), 0o644)
		os.WriteFile(filepath.Join(d1, "8.dat"), []byte{9, 9}, 0o644)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s, err = NewStore([]string{d1, d2}, []int{2, 3}, opts); err != nil {
			t.Fatal(err)
		}
		if got := storeIDs(s); !slices.Equal(got, []needle.VolumeID{1, 2, 3, 4, 5}) {
			t.Fatalf("reloaded volumes %v", got)
		}
		for id := needle.VolumeID(1); id <= 5; id++ {
			v := s.Volume(id)
			expectNeedle(t, v, needle.Key(id)*100, volumetest.Payload(needle.Key(id)*100, 0, 50))
			if v.TTL() != ttl || v.Placement() != rp {
				t.Errorf("volume %d: ttl %v placement %v", id, v.TTL(), v.Placement())
			}
		}
		if s.Volume(8) != nil {
			t.Error("broken volume 8 loaded")
		}
		os.Remove(filepath.Join(d1, "8.dat"))
		os.Remove(filepath.Join(d1, "8.idx"))

		// DeleteCollection removes the collection's files only.
		if err := s.DeleteCollection("pics"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteCollection("nothing"); err != nil {
			t.Errorf("deleting an empty collection: %v", err)
		}
		if err := s.DeleteCollection(""); !errors.Is(err, ErrBadCollection) {
			t.Errorf("deleting the default collection: %v", err)
		}
		for _, dir := range []string{d1, d2} {
			if m, _ := filepath.Glob(filepath.Join(dir, "pics_*")); len(m) != 0 {
				t.Errorf("left after DeleteCollection: %v", m)
			}
		}
		if got := storeIDs(s); !slices.Equal(got, []needle.VolumeID{1, 2, 3}) {
			t.Errorf("after DeleteCollection: %v", got)
		}
		if err := s.DeleteVolume(2); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteVolume(2); !errors.Is(err, ErrVolumeNotFound) {
			t.Errorf("second delete: %v", err)
		}
		// The freed slots are usable again.
		if err := s.AddVolume(6, "docs", rp, ttl); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, s.Volume(6), volumetest.Needle(1, 0, 10))
		s.Close()
		mustCheck(t, d1)
		mustCheck(t, d2)
	})
}

// TestStoreMigration copies a volume's .dat/.idx pair into another store's
// directory: the new store serves it.
func TestStoreMigration(t *testing.T) {
	root := t.TempDir()
	src, dst := filepath.Join(root, "src"), filepath.Join(root, "dst")
	s, err := NewStore([]string{src}, []int{3}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddVolume(3, "c", needle.Placement{}, needle.TTL{}); err != nil {
		t.Fatal(err)
	}
	v := s.Volume(3)
	for k := needle.Key(1); k <= 20; k++ {
		mustWrite(t, v, volumetest.Needle(k, 0, volumetest.SizeOf(k)))
	}
	v.Delete(5, volumetest.CookieOf(5), 0)
	s.Close()

	copyFiles(t, src, dst, func(name string) bool { return filepath.Ext(name) != ".dat" && filepath.Ext(name) != ".idx" })
	for _, kind := range mapKinds {
		d, err := NewStore([]string{dst}, []int{1}, Options{MapKind: kind})
		if err != nil {
			t.Fatal(err)
		}
		v := d.Volume(3)
		if v == nil || v.Collection() != "c" {
			t.Fatalf("%s: migrated volume not served", kind)
		}
		for k := needle.Key(1); k <= 20; k++ {
			if k == 5 {
				expectGone(t, v, k)
			} else {
				expectNeedle(t, v, k, volumetest.Payload(k, 0, volumetest.SizeOf(k)))
			}
		}
		d.Close()
	}
	// Only the .dat copied: the index is rebuilt from it.
	only := filepath.Join(root, "only")
	copyFiles(t, src, only, func(name string) bool { return filepath.Ext(name) != ".dat" })
	d, err := NewStore([]string{only}, []int{1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	expectNeedle(t, d.Volume(3), 7, volumetest.Payload(7, 0, volumetest.SizeOf(7)))
	expectGone(t, d.Volume(3), 5)
	d.Close()
	mustCheck(t, dst)
	mustCheck(t, only)
}

func TestStoreErrors(t *testing.T) {
	if _, err := NewStore(nil, nil, Options{}); err == nil {
		t.Error("store without dirs")
	}
	if _, err := NewStore([]string{t.TempDir()}, []int{1, 2}, Options{}); err == nil {
		t.Error("mismatched max counts")
	}
	if _, err := NewStore([]string{t.TempDir()}, []int{-1}, Options{}); err == nil {
		t.Error("negative max")
	}
	if _, err := NewStore([]string{t.TempDir()}, []int{1}, Options{MapKind: "x"}); !errors.Is(err, ErrBadOptions) {
		t.Errorf("bad map kind: %v", err)
	}
	dir := t.TempDir()
	// The same id in two dirs: the first is served, the second skipped.
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.MkdirAll(a, 0o755)
	os.MkdirAll(b, 0o755)
	for _, d := range []string{a, b} {
		v, err := Create(d, "", 1, needle.Placement{}, needle.TTL{}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		v.Close()
	}
	s, err := NewStore([]string{a, b}, []int{1, 1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Volumes()) != 1 || filepath.Dir(s.Volume(1).base) != a {
		t.Errorf("duplicate volume handling: %v", storeIDs(s))
	}
	if err := s.AddVolume(2, "", needle.Placement{SameRack: 3, DiffRack: 9, DiffDataCenter: 9}, needle.TTL{}); err == nil {
		t.Error("AddVolume with an unencodable placement")
	}
}
