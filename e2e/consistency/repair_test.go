package consistency

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

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
	a, err := testcluster.Assign(e.master.Addr(), "count=5")
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
		if err := testcluster.Upload(a.URL, fid, "f.txt", data); err != nil {
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
		r, err := testcluster.ReadDirect(v2.Addr(), files[1].Fid)
		return err == nil && r.Status == http.StatusOK
	}) {
		t.Fatal("the restarted replica did not serve again")
	}
	r, err := testcluster.ReadDirect(v2.Addr(), victim.Fid)
	if err != nil || r.Status != http.StatusOK || string(r.Body) != string(victim.Data) {
		t.Fatalf("read of the damaged %s from %s: %v %v, want %q", victim.Fid, v2.Name, r, err, victim.Data)
	}
	for range 3 {
		if r, err := testcluster.ReadDirect(v2.Addr(), victim.Fid); err != nil || string(r.Body) != string(victim.Data) {
			t.Fatalf("read again: %v %v", r, err)
		}
	}
	// The damaged needle is repaired by the read, or already by the
	// rejoin sync of the restarted server (a damaged live needle is
	// pulled from the peer).
	if log := v2.Log(); !strings.Contains(log, "read repair") && !strings.Contains(log, "pulled 1,") {
		t.Errorf("%s logged neither a read repair nor a sync that pulled the needle", v2.Name)
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

// TestRepairedReplicaRejoinsAfterKill damages a needle of one replica
// (replication 001; 8 bytes flipped inside its data with the server
// stopped), lets a read repair it (the good copy is appended, the damaged
// record stays in the .dat, dead), then kills that server with -9 and
// starts it again: its rejoin sync must step over the dead damaged record
// and the replica become healthy again in bounded time, serving every file
// and taking new writes.
func TestRepairedReplicaRejoinsAfterKill(t *testing.T) {
	e := newEnv(t, "001", 2, nil)
	v2 := e.vols[1]
	a, err := testcluster.Assign(e.master.Addr(), "count=5")
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
		data := []byte(fmt.Sprintf("file %d of one volume, long enough to flip eight bytes in the middle of it", i))
		if err := testcluster.Upload(a.URL, fid, "f.txt", data); err != nil {
			t.Fatal(err)
		}
		files = append(files, stored{fid, data})
	}
	victim := files[1]
	v2.Stop()
	base := volume.FileBase(v2.Dir, "", first.Volume)
	off := lastRecordOffset(t, base+".idx", first.Key+1)
	dat, err := os.OpenFile(base+".dat", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	pos := off + needle.HeaderSize + 4 + 8
	var b [8]byte
	if _, err := dat.ReadAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] ^= 0xa5
	}
	if _, err := dat.WriteAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
	dat.Close()
	t.Logf("flipped 8 bytes at %d of %s.dat (needle %s at %d)", pos, base, victim.Fid, off)

	v2.Start()
	if !testcluster.Eventually(testcluster.Settle, func() bool {
		r, err := testcluster.ReadDirect(v2.Addr(), files[0].Fid)
		return err == nil && r.Status == http.StatusOK
	}) {
		t.Fatal("the restarted replica did not serve again")
	}
	if r, err := testcluster.ReadDirect(v2.Addr(), victim.Fid); err != nil || r.Status != http.StatusOK || string(r.Body) != string(victim.Data) {
		t.Fatalf("read repair of %s on %s: %v %v", victim.Fid, v2.Name, r, err)
	}
	if !testcluster.Eventually(testcluster.Settle, func() bool { return e.allHealthy([]needle.VolumeID{first.Volume}, 2) }) {
		t.Fatal("the replica is not healthy after the read repair")
	}

	v2.Kill()
	v2.Start()
	start := time.Now()
	if !testcluster.Eventually(30*time.Second, func() bool {
		var st volumeStatus
		if err := v2.GetJSON("/status", &st); err != nil {
			return false
		}
		for _, v := range st.Volumes {
			if v.Id == first.Volume && v.Syncing {
				return false
			}
		}
		return e.allHealthy([]needle.VolumeID{first.Volume}, 2) && slices.Contains(e.readLocations(first.Volume), v2.Addr())
	}) {
		t.Fatalf("volume %d on %s still syncing after 30 s: %v\n%s", first.Volume, v2.Name, e.replicas(first.Volume), tailLines(v2.Log(), 15))
	}
	t.Logf("healthy again %v after the restart", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(v2.Log(), "stepped over records no longer live") {
		t.Errorf("%s did not log stepping over the dead damaged record", v2.Name)
	}
	for _, f := range files {
		if r, err := testcluster.ReadDirect(v2.Addr(), f.Fid); err != nil || r.Status != http.StatusOK || string(r.Body) != string(f.Data) {
			t.Errorf("read %s from %s: %v %v", f.Fid, v2.Name, r, err)
		}
	}
	// The volume takes writes again, on both replicas.
	fid := needle.FileID{Volume: first.Volume, Key: first.Key + 10, Cookie: first.Cookie}.String()
	data := []byte("written after the rejoin")
	if err := testcluster.Upload(a.URL, fid, "f.txt", data); err != nil {
		t.Fatalf("write after the rejoin: %v", err)
	}
	for _, p := range e.vols {
		if r, err := testcluster.ReadDirect(p.Addr(), fid); err != nil || r.Status != http.StatusOK || string(r.Body) != string(data) {
			t.Errorf("read %s from %s: %v %v", fid, p.Name, r, err)
		}
	}
	v2.Stop()
	if err := volume.Check(v2.Dir); err != nil {
		t.Errorf("volume.Check: %v", err)
	}
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
