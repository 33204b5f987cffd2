package replication

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/volume/volumetest"
)

// Fixtures of the replica protocol's tests; those shared with the engine's
// tests are in volume/volumetest.

// base is the append time the sync tests start from.
const base = uint64(1_700_000_000) * 1e9

// sec returns base plus s seconds.
func sec(s float64) uint64 { return base + uint64(s*1e9) }

// writeAt writes the test needle of key k with append time ts.
func writeAt(t testing.TB, v *volume.Volume, k needle.Key, ts uint64) {
	t.Helper()
	n := volumetest.Needle(k, 0, volumetest.SizeOf(k))
	n.AppendAtNs = ts
	mustWrite(t, v, n)
}

// deleteAt deletes key k with tombstone time ts.
func deleteAt(t testing.TB, v *volume.Volume, k needle.Key, ts uint64) {
	t.Helper()
	if _, err := v.Delete(k, volumetest.CookieOf(k), ts); err != nil {
		t.Fatalf("delete %x: %v", uint64(k), err)
	}
}

// createVolIn creates volume 1 (replication 001) in a directory of its own.
func createVolIn(t testing.TB, dir string, opts volume.Options) *volume.Volume {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	checkAtCleanup(t, dir)
	v, err := volume.Create(dir, "", 1, needle.Placement{SameRack: 1}, needle.TTL{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func openVol(t testing.TB, dir string, opts volume.Options) *volume.Volume {
	t.Helper()
	checkAtCleanup(t, dir)
	v, err := volume.Open(dir, "", 1, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func mustWrite(t testing.TB, v *volume.Volume, n *needle.Needle) {
	t.Helper()
	size, err := v.Write(n)
	if err != nil {
		t.Fatalf("write %x: %v", uint64(n.Key), err)
	}
	if int(size) != len(n.Data) {
		t.Fatalf("write %x: size %d, want %d", uint64(n.Key), size, len(n.Data))
	}
}

// expectNeedle reads key k and compares its data with want.
func expectNeedle(t testing.TB, v *volume.Volume, k needle.Key, want []byte) {
	t.Helper()
	n, _, err := v.Read(k, volumetest.CookieOf(k), nil)
	if err != nil {
		t.Fatalf("read %x: %v", uint64(k), err)
	}
	if !bytes.Equal(n.Data, want) {
		t.Fatalf("read %x: %d bytes differ from the %d written", uint64(k), len(n.Data), len(want))
	}
}

// expectGone checks that key k reads as not found.
func expectGone(t testing.TB, v *volume.Volume, k needle.Key) {
	t.Helper()
	_, _, err := v.Read(k, volumetest.CookieOf(k), nil)
	if !errors.Is(err, needle.ErrNotFound) && !errors.Is(err, needle.ErrDeleted) {
		t.Fatalf("read %x: err %v, want not found", uint64(k), err)
	}
}

func mustCheck(t testing.TB, dir string) {
	t.Helper()
	if err := volume.Check(dir); err != nil {
		t.Fatalf("Check(%s): %v", dir, err)
	}
}

var (
	none = volume.RecordState{}
	live = func(ts uint64) volume.RecordState { return volume.RecordState{Present: true, AppendAtNs: ts} }
	tomb = func(ts uint64) volume.RecordState {
		return volume.RecordState{Present: true, Tombstone: true, AppendAtNs: ts}
	}
)

// checked holds, per test and directory, whether volume.Check still runs
// on the directory when the test ends.
var checked sync.Map // checkKey -> *atomic.Bool

type checkKey struct {
	t   testing.TB
	dir string
}

// checkAtCleanup registers volume.Check(dir) to run once the test ends,
// after every volume the fixtures opened in dir is closed. Every fixture
// that opens a volume calls it; it registers once per test and directory.
func checkAtCleanup(t testing.TB, dir string) {
	t.Helper()
	on := new(atomic.Bool)
	on.Store(true)
	if _, loaded := checked.LoadOrStore(checkKey{t, dir}, on); loaded {
		return
	}
	t.Cleanup(func() {
		checked.Delete(checkKey{t, dir})
		if !on.Load() || t.Failed() {
			return
		}
		if _, err := os.Stat(dir); err != nil {
			return
		}
		if err := volume.Check(dir); err != nil {
			t.Errorf("Check(%s) after the test: %v", dir, err)
		}
	})
}
