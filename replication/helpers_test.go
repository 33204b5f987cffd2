package replication

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
)

// Fixtures copied from the engine's tests (package volume).

// base is the append time the sync tests start from.
const base = uint64(1_700_000_000) * 1e9

// sec returns base plus s seconds.
func sec(s float64) uint64 { return base + uint64(s*1e9) }

// writeAt writes the test needle of key k with append time ts.
func writeAt(t testing.TB, v *volume.Volume, k needle.Key, ts uint64) {
	t.Helper()
	n := makeNeedle(k, 0, sizeOf(k))
	n.AppendAtNs = ts
	mustWrite(t, v, n)
}

// deleteAt deletes key k with tombstone time ts.
func deleteAt(t testing.TB, v *volume.Volume, k needle.Key, ts uint64) {
	t.Helper()
	if _, err := v.Delete(k, cookieOf(k), ts); err != nil {
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

// damageRecord flips 8 bytes of the record of key k that the .idx in dir
// names last (at byte at of the record) in the closed volume in dir.
func damageRecord(t *testing.T, dir string, k needle.Key, at int64) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "1.idx"))
	if err != nil {
		t.Fatal(err)
	}
	var e needle.IdxEntry
	needle.WalkIdx(f, func(x needle.IdxEntry) error {
		if x.Key == k {
			e = x
		}
		return nil
	})
	f.Close()
	if e.Key != k {
		t.Fatalf("no .idx entry of key %x", uint64(k))
	}
	dat, err := os.OpenFile(filepath.Join(dir, "1.dat"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dat.Close()
	var b [8]byte
	pos := needle.OffsetBytes(e.Offset) + at
	if _, err := dat.ReadAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] ^= 0x5a
	}
	if _, err := dat.WriteAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
}

// cookieOf is the cookie the tests give key k.
func cookieOf(k needle.Key) needle.Cookie {
	return needle.Cookie(uint32(k)*2654435761 ^ 0x5bd1e995)
}

// payload returns size deterministic bytes for key k (generation gen lets
// an overwrite differ from the original).
func payload(k needle.Key, gen, size int) []byte {
	r := rand.New(rand.NewPCG(uint64(k), uint64(gen)))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// makeNeedle builds the test needle of key k: data from payload, a name and
// a mime type.
func makeNeedle(k needle.Key, gen, size int) *needle.Needle {
	return &needle.Needle{
		Key:          k,
		Cookie:       cookieOf(k),
		Data:         payload(k, gen, size),
		Name:         []byte(fmt.Sprintf("file-%d.bin", k)),
		Mime:         []byte("application/octet-stream"),
		LastModified: uint64(time.Now().Unix()),
	}
}

// sizeOf is the data size the tests use for key k.
func sizeOf(k needle.Key) int { return int(k*37%3000) + 1 }

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
	n, _, err := v.Read(k, cookieOf(k), nil)
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
	_, _, err := v.Read(k, cookieOf(k), nil)
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
