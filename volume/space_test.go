package volume

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume/volumetest"
)

func TestParseMinFreeSpace(t *testing.T) {
	tests := []struct {
		in      string
		want    MinFreeSpace
		wantErr bool
	}{
		{in: "", want: MinFreeSpace{}},
		{in: "0", want: MinFreeSpace{}},
		{in: "1", want: MinFreeSpace{Percent: 1}},
		{in: " 5% ", want: MinFreeSpace{Percent: 5}},
		{in: "0.5", want: MinFreeSpace{Percent: 0.5}},
		{in: "100", want: MinFreeSpace{Percent: 100}},
		{in: "100%", want: MinFreeSpace{Percent: 100}},
		{in: "101", want: MinFreeSpace{Bytes: 101}},
		{in: "50B", want: MinFreeSpace{Bytes: 50}},
		{in: "10GiB", want: MinFreeSpace{Bytes: 10 << 30}},
		{in: "10gib", want: MinFreeSpace{Bytes: 10 << 30}},
		{in: "10GB", want: MinFreeSpace{Bytes: 10e9}},
		{in: "500MB", want: MinFreeSpace{Bytes: 500e6}},
		{in: "1.5MiB", want: MinFreeSpace{Bytes: 3 << 19}},
		{in: "64KiB", want: MinFreeSpace{Bytes: 64 << 10}},
		{in: "2 T", want: MinFreeSpace{Bytes: 2e12}},
		{in: "101%", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "%", wantErr: true},
		{in: "10XB", wantErr: true},
		{in: "1.2.3", wantErr: true},
		{in: "1e3", wantErr: true},
		{in: "99999999999999999999999PiB", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseMinFreeSpace(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrBadMinFreeSpace) {
				t.Errorf("ParseMinFreeSpace(%q) = %+v, %v; want ErrBadMinFreeSpace", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseMinFreeSpace(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		// String reads back as the same value.
		if back, err := ParseMinFreeSpace(got.String()); err != nil || back != got {
			t.Errorf("ParseMinFreeSpace(%q) = %+v, %v; want %+v", got.String(), back, err, got)
		}
	}
}

func TestMinFreeSpaceThreshold(t *testing.T) {
	tests := []struct {
		m     MinFreeSpace
		total uint64
		want  uint64
	}{
		{MinFreeSpace{}, 1 << 30, 0},
		{MinFreeSpace{Percent: 1}, 1000, 10},
		{MinFreeSpace{Percent: 1}, 1001, 11}, // rounded up
		{MinFreeSpace{Percent: 100}, 1 << 20, 1 << 20},
		{MinFreeSpace{Bytes: 4096}, 1 << 30, 4096},
	}
	for _, tt := range tests {
		if got := tt.m.threshold(tt.total); got != tt.want {
			t.Errorf("%+v.threshold(%d) = %d, want %d", tt.m, tt.total, got, tt.want)
		}
	}
}

// FuzzParseMinFreeSpace: any input parses or fails with
// ErrBadMinFreeSpace, never panics, and a parsed value's String reads back
// as the same value.
func FuzzParseMinFreeSpace(f *testing.F) {
	for _, s := range []string{"", "1", "5%", "101", "10GiB", "1.5 mb", "100%", "x", "1e9", "...", "99999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMinFreeSpace(s)
		if err != nil {
			if !errors.Is(err, ErrBadMinFreeSpace) {
				t.Fatalf("ParseMinFreeSpace(%q): %v does not wrap ErrBadMinFreeSpace", s, err)
			}
			return
		}
		if m.Percent < 0 || m.Percent > 100 || (m.Percent > 0 && m.Bytes > 0) {
			t.Fatalf("ParseMinFreeSpace(%q) = %+v", s, m)
		}
		if err := m.check(); err != nil {
			t.Fatalf("ParseMinFreeSpace(%q) = %+v, which Options refuse: %v", s, m, err)
		}
		back, err := ParseMinFreeSpace(m.String())
		if err != nil || back != m {
			t.Fatalf("ParseMinFreeSpace(%q) = %+v; its String %q reads back as %+v, %v", s, m, m.String(), back, err)
		}
	})
}

// fakeDisk is a file system whose free space a test sets.
type fakeDisk struct {
	mu          sync.Mutex
	free, total uint64
}

func (d *fakeDisk) set(free uint64) {
	d.mu.Lock()
	d.free = free
	d.mu.Unlock()
}

func (d *fakeDisk) statfs(string) (uint64, uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.free, d.total, nil
}

// spaceStore opens a store of one directory on a fake disk of 1 GiB with
// 500 MiB free, holding volume 1; changes counts the OnSpaceChange calls.
func spaceStore(t *testing.T, min MinFreeSpace) (s *Store, disk *fakeDisk, changes *atomic.Int32) {
	t.Helper()
	s, err := NewStore([]string{filepath.Join(t.TempDir(), "d")}, []int{3}, Options{MinFreeSpace: min})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	disk = &fakeDisk{free: 500 << 20, total: 1 << 30}
	s.statfs = disk.statfs
	changes = new(atomic.Int32)
	s.OnSpaceChange(func() { changes.Add(1) })
	s.CheckSpace()
	if err := s.AddVolume(1, "", needle.Placement{}, needle.TTL{}); err != nil {
		t.Fatal(err)
	}
	return s, disk, changes
}

// injectAppendError makes every .dat append fail with err until the test
// ends or the returned function is called.
func injectAppendError(t *testing.T, err error) (stop func()) {
	fn := func() error { return err }
	appendFault.Store(&fn)
	stop = func() { appendFault.Store(nil) }
	t.Cleanup(stop)
	return stop
}

// TestStoreOutOfSpaceTurnsDirReadOnly: an append that fails with ENOSPC
// makes every volume of its directory read-only at once (reported in
// Info, so in the next heartbeat, which OnSpaceChange asks for), refuses
// new volumes there, keeps taking deletes, and clears by itself once the
// disk has space again; an operator's read-only mark stays.
func TestStoreOutOfSpaceTurnsDirReadOnly(t *testing.T) {
	s, disk, changes := spaceStore(t, MinFreeSpace{})
	if err := s.AddVolume(2, "", needle.Placement{}, needle.TTL{}); err != nil {
		t.Fatal(err)
	}
	v1, v2 := s.Volume(1), s.Volume(2)
	mustWrite(t, v1, volumetest.Needle(1, 0, 100))
	mustWrite(t, v2, volumetest.Needle(2, 0, 100))
	v2.SetReadOnly(true) // the operator's mark, which space must not clear

	stop := injectAppendError(t, &os.PathError{Op: "write", Path: "1.dat", Err: syscall.ENOSPC})
	_, err := v1.Write(volumetest.Needle(3, 0, 100))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v, want ENOSPC", err)
	}
	stop()
	if n := changes.Load(); n != 1 {
		t.Errorf("%d space change notifications after ENOSPC, want 1", n)
	}
	for _, v := range []*Volume{v1, v2} {
		if !v.ReadOnly() || !v.Info().ReadOnly {
			t.Errorf("volume %d: ReadOnly %v, Info %v after ENOSPC; want read-only", v.ID(), v.ReadOnly(), v.Info().ReadOnly)
		}
	}
	// Further writes are refused without touching the disk.
	if _, err := v1.Write(volumetest.Needle(4, 0, 100)); !errors.Is(err, ErrReadOnly) || !errors.Is(err, ErrNoSpace) {
		t.Errorf("write while out of space: %v, want ErrReadOnly and ErrNoSpace", err)
	}
	if _, err := v1.Delete(1, volumetest.CookieOf(1), 0); err != nil {
		t.Errorf("delete while out of space: %v", err)
	}
	if err := s.AddVolume(3, "", needle.Placement{}, needle.TTL{}); !errors.Is(err, ErrNoFreeSlot) {
		t.Errorf("new volume in a full dir: %v, want ErrNoFreeSlot", err)
	}
	if n := s.MaxVolumeCount(); n != 2 {
		t.Errorf("MaxVolumeCount %d while out of space, want the 2 held", n)
	}

	// A little space back is not enough (no flapping) ...
	disk.set(100 << 10)
	infos := s.CheckSpace()
	if len(infos) != 1 || !infos[0].LowSpace || infos[0].Free != 100<<10 || infos[0].Total != 1<<30 {
		t.Errorf("CheckSpace %+v, want low with 100 KiB of 1 GiB free", infos)
	}
	if !v1.ReadOnly() {
		t.Error("volume 1 writable again with 100 KiB free")
	}
	// ... enough is.
	disk.set(400 << 20)
	if infos := s.CheckSpace(); infos[0].LowSpace {
		t.Errorf("CheckSpace %+v with 400 MiB free, want not low", infos)
	}
	if n := changes.Load(); n != 2 {
		t.Errorf("%d space change notifications, want 2", n)
	}
	if v1.ReadOnly() {
		t.Error("volume 1 still read-only after space returned")
	}
	if !v2.ReadOnly() {
		t.Error("volume 2 lost the operator's read-only mark")
	}
	mustWrite(t, v1, volumetest.Needle(5, 0, 100))
	if err := s.AddVolume(3, "", needle.Placement{}, needle.TTL{}); err != nil {
		t.Errorf("new volume after space returned: %v", err)
	}
	if n := s.MaxVolumeCount(); n != 3 {
		t.Errorf("MaxVolumeCount %d, want 3", n)
	}
	// Every acknowledged needle is there; the failed and refused ones are
	// not.
	expectNeedle(t, v1, 5, volumetest.Payload(5, 0, 100))
	expectNeedle(t, v2, 2, volumetest.Payload(2, 0, 100))
	for _, k := range []needle.Key{1, 3, 4} {
		expectGone(t, v1, k)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, filepath.Dir(v1.base+".dat"))
}

// TestStoreMinFreeSpace: a directory whose free space is below
// MinFreeSpace (a percentage or a size) takes no new needles and no new
// volume, and takes them again when it is above.
func TestStoreMinFreeSpace(t *testing.T) {
	tests := []struct {
		name    string
		min     MinFreeSpace
		free    uint64
		wantLow bool
	}{
		{"no threshold, almost full", MinFreeSpace{}, 1, false},
		{"1% of 1 GiB, 20 MiB free", MinFreeSpace{Percent: 1}, 20 << 20, false},
		{"1% of 1 GiB, 10 MiB free", MinFreeSpace{Percent: 1}, 10 << 20, true},
		{"10% of 1 GiB, 100 MiB free", MinFreeSpace{Percent: 10}, 100 << 20, true},
		{"64 MiB, 64 MiB free", MinFreeSpace{Bytes: 64 << 20}, 64 << 20, false},
		{"64 MiB, 63 MiB free", MinFreeSpace{Bytes: 64 << 20}, 63 << 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, disk, changes := spaceStore(t, tt.min)
			v := s.Volume(1)
			disk.set(tt.free)
			infos := s.CheckSpace()
			if infos[0].LowSpace != tt.wantLow || v.ReadOnly() != tt.wantLow || v.Info().ReadOnly != tt.wantLow {
				t.Fatalf("free %d: disk %+v, volume read-only %v; want low %v", tt.free, infos[0], v.ReadOnly(), tt.wantLow)
			}
			_, err := v.Write(volumetest.Needle(1, 0, 10))
			if tt.wantLow != errors.Is(err, ErrNoSpace) {
				t.Errorf("write: %v, want refused %v", err, tt.wantLow)
			}
			err = s.AddVolume(2, "", needle.Placement{}, needle.TTL{})
			if tt.wantLow != errors.Is(err, ErrNoFreeSlot) {
				t.Errorf("add volume: %v, want refused %v", err, tt.wantLow)
			}
			if !tt.wantLow {
				return
			}
			if n := changes.Load(); n != 1 {
				t.Errorf("%d space change notifications, want 1", n)
			}
			disk.set(500 << 20)
			s.CheckSpace()
			if v.ReadOnly() {
				t.Error("still read-only with 500 MiB free")
			}
			mustWrite(t, v, volumetest.Needle(2, 0, 10))
		})
	}
}
