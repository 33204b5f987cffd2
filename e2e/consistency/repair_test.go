package consistency

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/testcluster"
	"github.com/weedfs/weed/volume"
)

// TestReadRepair flips one byte inside a needle's data in one replica's
// .dat (the server stopped, then restarted): a read of that file from
// that replica fails its checksum, fetches the needle from the other
// replica, serves the right bytes, and leaves the replica's index on a
// good record (volume.Check passes on its directory).
func TestReadRepair(t *testing.T) {
	e := newEnv(t, "001", 2, nil)
	v2 := e.vols[1]
	a, err := assign(e.master.Addr(), 5)
	if err != nil {
		t.Fatal(err)
	}
	first, err := needle.ParseFileID(a.Fid)
	if err != nil {
		t.Fatal(err)
	}
	var files []stored
	for i := range 5 {
		fid := needle.FileID{Volume: first.Volume, Key: first.Key + needle.Key(i), Cookie: first.Cookie}.String()
		data := []byte(fmt.Sprintf("file %d of one volume, long enough to flip a byte in the middle", i))
		if err := upload(a.URL, fid, data); err != nil {
			t.Fatal(err)
		}
		files = append(files, stored{fid, data})
	}
	victim := files[0]
	v2.Stop()
	base := volume.FileBase(v2.Dir, "", first.Volume)
	off := lastRecordOffset(t, base+".idx", first.Key)
	dat, err := os.OpenFile(base+".dat", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// header(16) dataSize(4), then the data: flip its fifth byte.
	pos := off + needle.HeaderSize + 4 + 4
	var b [1]byte
	if _, err := dat.ReadAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x20
	if _, err := dat.WriteAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
	dat.Close()
	t.Logf("flipped the byte at %d of %s.dat (needle %s at %d)", pos, base, victim.Fid, off)

	v2.Start()
	if !testcluster.Eventually(testcluster.Settle, func() bool {
		r, err := readDirect(v2.Addr(), files[1].Fid)
		return err == nil && r.Status == http.StatusOK
	}) {
		t.Fatal("the restarted replica did not serve again")
	}
	r, err := readDirect(v2.Addr(), victim.Fid)
	if err != nil || r.Status != http.StatusOK || string(r.Body) != string(victim.Data) {
		t.Fatalf("read of the damaged %s from %s: %v %v, want %q", victim.Fid, v2.Name, r, err, victim.Data)
	}
	for range 3 {
		if r, err := readDirect(v2.Addr(), victim.Fid); err != nil || string(r.Body) != string(victim.Data) {
			t.Fatalf("read again: %v %v", r, err)
		}
	}
	if !strings.Contains(v2.Log(), "read repair") {
		t.Errorf("%s did not log a read repair", v2.Name)
	}
	v2.Stop()
	if off2 := lastRecordOffset(t, base+".idx", first.Key); off2 == off {
		t.Errorf("the index still names the damaged record at %d", off)
	}
	if err := volume.Check(v2.Dir); err != nil {
		t.Errorf("volume.Check after the repair: %v", err)
	}
}

// lastRecordOffset returns the .dat offset of the last .idx entry of key.
func lastRecordOffset(t *testing.T, idxPath string, key needle.Key) int64 {
	t.Helper()
	f, err := os.Open(idxPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	off := int64(-1)
	err = needle.WalkIdx(f, func(e needle.IdxEntry) error {
		if e.Key == key && !e.IsDelete() {
			off = needle.OffsetBytes(e.Offset)
		}
		return nil
	})
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if off < 0 {
		t.Fatalf("no .idx entry for key %x in %s", uint64(key), idxPath)
	}
	return off
}
