package volume

import (
	"path/filepath"
	"testing"

	"github.com/weedfs/weed/needle"
)

// TestAutoMax: a directory given -max=0 takes no volume until the master
// names the size limit, then holds its volumes plus one per size limit of
// free space not promised to them, less one; it follows the free space.
func TestAutoMax(t *testing.T) {
	const limit = 100 << 20
	for _, tc := range []struct {
		name    string
		limit   uint64 // 0: the master has not named one
		free    uint64
		volumes int // empty volumes held (each promised the whole limit)
		want    int
	}{
		{"no limit yet", 0, 10 << 30, 0, 0},
		{"empty disk", limit, 0, 0, 0},
		{"less than two limits", limit, limit + 1, 0, 0},
		{"ten limits", limit, 10 * limit, 0, 9},
		{"ten and a half limits", limit, 10*limit + limit/2, 0, 9},
		{"two volumes promised two limits", limit, 10 * limit, 2, 2 + 7},
		{"volumes promised more than is free", limit, limit, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewStore([]string{filepath.Join(t.TempDir(), "d")}, []int{0}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			disk := &fakeDisk{free: 1 << 40, total: 1 << 41}
			s.statfs = disk.statfs
			s.SetVolumeSizeLimit(limit)
			s.CheckSpace()
			for i := 1; i <= tc.volumes; i++ {
				if err := s.AddVolume(needle.VolumeID(i), "", needle.Placement{}, needle.TTL{}); err != nil {
					t.Fatal(err)
				}
			}
			s.SetVolumeSizeLimit(tc.limit)
			disk.set(tc.free)
			s.CheckSpace()
			if got := s.MaxVolumeCount(); got != tc.want {
				t.Errorf("MaxVolumeCount() = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestAutoMaxFollowsSpace: the count grows as space frees up and the
// change is reported (OnSpaceChange), so the next heartbeat carries it.
func TestAutoMaxFollowsSpace(t *testing.T) {
	const limit = 100 << 20
	s, err := NewStore([]string{filepath.Join(t.TempDir(), "d")}, []int{0}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	disk := &fakeDisk{free: 3 * limit, total: 1 << 40}
	s.statfs = disk.statfs
	s.CheckSpace()
	changes := 0
	s.OnSpaceChange(func() { changes++ })
	s.SetVolumeSizeLimit(limit)
	if got := s.MaxVolumeCount(); got != 2 || changes != 1 {
		t.Fatalf("after the limit: MaxVolumeCount() = %d with %d change calls, want 2 and 1", got, changes)
	}
	disk.set(8 * limit)
	s.CheckSpace()
	if got := s.MaxVolumeCount(); got != 7 || changes != 2 {
		t.Fatalf("after space freed: MaxVolumeCount() = %d with %d change calls, want 7 and 2", got, changes)
	}
	s.CheckSpace()
	if changes != 2 {
		t.Fatalf("an unchanged disk called OnSpaceChange again (%d calls)", changes)
	}
}
