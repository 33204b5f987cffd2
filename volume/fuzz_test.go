package volume

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume/volumetest"
)

// FuzzLoadVolume opens a valid volume whose .dat has arbitrary bytes
// appended, and optionally arbitrary .idx bytes in place of its index.
// Open must not panic; a read never returns bytes a record of that key did
// not hold; with the real index, every needle written before the garbage
// is served unless the garbage itself names its key.
func FuzzLoadVolume(f *testing.F) {
	base := f.TempDir()
	v, err := Create(base, "", 1, needle.Placement{}, needle.TTL{}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	const count = 8
	for k := needle.Key(1); k <= count; k++ {
		if _, err := v.Write(volumetest.Needle(k, 0, volumetest.SizeOf(k))); err != nil {
			f.Fatal(err)
		}
	}
	v.Delete(4, volumetest.CookieOf(4), 0)
	if err := v.Close(); err != nil {
		f.Fatal(err)
	}
	dat, _ := os.ReadFile(filepath.Join(base, "1.dat"))
	idx, _ := os.ReadFile(filepath.Join(base, "1.idx"))

	extra := volumetest.Needle(50, 0, 20)
	rec, _ := extra.AppendRecord(nil, needle.Version3)
	tomb := needle.Tombstone(2, volumetest.CookieOf(2), 1)
	trec, _ := tomb.AppendRecord(nil, needle.Version3)
	f.Add([]byte{}, []byte{}, false)
	f.Add(rec, []byte{}, false)
	f.Add(rec[:len(rec)-9], []byte{}, false)
	f.Add(trec, []byte{}, false)
	f.Add(append(append([]byte{}, rec...), 0xde, 0xad), []byte{}, false)
	f.Add(make([]byte, 64), []byte{}, false)
	// A damaged record, then an intact one (the load steps over the first).
	damaged := append([]byte{}, rec...)
	damaged[needle.HeaderSize+6] ^= 0xff
	f.Add(append(damaged, trec...), []byte{}, false)
	f.Add(append(append(make([]byte, 24), rec...), 0xde), []byte{}, false)
	f.Add([]byte{}, idx[:len(idx)-5], true)
	f.Add(rec, append(append([]byte{}, idx...), needle.IdxEntry{Key: 9, Offset: 1 << 30, Size: 5}.AppendTo(nil)...), true)
	f.Add([]byte{}, bytes.Repeat([]byte{0xff}, 48), true)

	f.Fuzz(func(t *testing.T, tail, idxBytes []byte, replaceIdx bool) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "1.dat"), append(append([]byte{}, dat...), tail...), 0o644)
		if replaceIdx {
			os.WriteFile(filepath.Join(dir, "1.idx"), idxBytes, 0o644)
		} else {
			os.WriteFile(filepath.Join(dir, "1.idx"), idx, 0o644)
		}
		v, err := Open(dir, "", 1, Options{})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer v.Close()
		named := func(k needle.Key) bool {
			var kb [8]byte
			binary.BigEndian.PutUint64(kb[:], uint64(k))
			return bytes.Contains(tail, kb[:]) || replaceIdx && bytes.Contains(idxBytes, kb[:])
		}
		for k := needle.Key(1); k <= count; k++ {
			n, _, err := v.Read(k, volumetest.CookieOf(k), nil)
			switch {
			case err == nil && !bytes.Equal(n.Data, volumetest.Payload(k, 0, volumetest.SizeOf(k))) && !named(k):
				t.Fatalf("needle %d served with other bytes", k)
			case err != nil && k != 4 && !replaceIdx && !named(k):
				t.Fatalf("needle %d lost: %v", k, err)
			}
		}
		// The recovered volume takes a write and passes Check.
		if _, err := v.Write(volumetest.Needle(100, 0, 10)); err != nil {
			t.Fatalf("write after recovery: %v", err)
		}
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
		if !replaceIdx {
			if err := Check(dir); err != nil {
				t.Fatalf("Check: %v", err)
			}
		}
	})
}
