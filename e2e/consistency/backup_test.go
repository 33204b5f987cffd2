package consistency

import (
	"context"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/testcluster"
	"github.com/weedfs/weed/volume"
)

// TestBackup runs `weed backup` twice with writes, deletes and a vacuum of
// the source between the runs: the second run fetches only what changed
// and follows the compaction, and the backup directory, loaded by a fresh
// store and by a fresh volume server, serves exactly the source's live
// files.
func TestBackup(t *testing.T) {
	e := newEnv(t, "001", 2, nil)
	a, err := testcluster.Assign(e.master.Addr(), "count=40")
	if err != nil {
		t.Fatal(err)
	}
	first, err := needle.ParseFileID(a.Fid)
	if err != nil {
		t.Fatal(err)
	}
	vid := first.Volume
	rng := rand.New(rand.NewPCG(7, 7))
	live := map[string][]byte{}
	var deleted []string
	fidN := func(i int) string {
		return needle.FileID{Volume: vid, Key: first.Key + needle.Key(i), Cookie: first.Cookie}.String()
	}
	put := func(i int) {
		data := make([]byte, 200+rng.IntN(2000))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		if err := testcluster.Upload(a.URL, fidN(i), "f.txt", data); err != nil {
			t.Fatal(err)
		}
		live[fidN(i)] = data
	}
	del := func(i int) {
		if r, err := testcluster.Delete(a.URL, fidN(i)); err != nil || r.Status != http.StatusAccepted {
			t.Fatalf("delete %s: %v %v", fidN(i), r, err)
		}
		delete(live, fidN(i))
		deleted = append(deleted, fidN(i))
	}
	for i := range 15 {
		put(i)
	}
	dir := t.TempDir()
	backup := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := e.c.Run(ctx, "", "backup", "-server="+e.master.Addr(), "-dir="+dir, "-volumeId="+vid.String())
		if err != nil {
			t.Fatalf("weed backup: %v\n%s", err, out)
		}
		t.Logf("weed backup: %s", strings.TrimSpace(out))
		return out
	}
	if out := backup(); !strings.Contains(out, "copied") {
		t.Errorf("first backup did not copy the volume: %s", out)
	}

	for i := 15; i < 30; i++ {
		put(i)
	}
	for i := 0; i < 12; i += 2 {
		del(i)
	}
	rev := compactRevision(t, e.vols[0], vid)
	if r, err := testcluster.Send(testcluster.Follow, http.MethodGet, "http://"+e.master.Addr()+"/vol/vacuum?garbageThreshold=0.01", nil, nil); err != nil || r.Status != http.StatusOK {
		t.Fatalf("vacuum: %v %v", r, err)
	}
	if got := compactRevision(t, e.vols[0], vid); got == rev {
		t.Fatalf("volume %d was not compacted (revision %d)", vid, got)
	}
	put(30)
	del(15)
	out := backup()
	if strings.Contains(out, "copied") {
		t.Errorf("second backup copied the whole volume again: %s", out)
	}

	// A fresh store on the backup directory.
	store, err := volume.NewStore([]string{dir}, []int{8}, volume.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := store.Volume(vid)
	if v == nil {
		t.Fatalf("the backup directory holds no volume %d", vid)
	}
	for fid, data := range live {
		f, _ := needle.ParseFileID(fid)
		n, _, err := v.Read(f.Key, f.Cookie, nil)
		if err != nil || string(n.Data) != string(data) {
			t.Errorf("backup read of %s: %v (%d bytes, want %d)", fid, err, len(n.Data), len(data))
		}
	}
	for _, fid := range deleted {
		f, _ := needle.ParseFileID(fid)
		if _, _, err := v.Read(f.Key, f.Cookie, nil); err == nil {
			t.Errorf("the backup serves the deleted %s", fid)
		}
	}
	local, err := v.Digest()
	if err != nil {
		t.Fatal(err)
	}
	src, err := digest(a.URL, vid)
	if err != nil || src != local {
		t.Errorf("backup digest differs from the source's (%v)", err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := volume.Check(dir); err != nil {
		t.Errorf("volume.Check of the backup: %v", err)
	}

	// A volume server of its own (with its own master) serves the backup.
	m2 := e.c.StartMaster(testcluster.MasterOptions{})
	vs := e.c.StartVolume(testcluster.VolumeOptions{Masters: m2.Addr(), Dir: dir})
	for fid, data := range live {
		ok := testcluster.Eventually(testcluster.Settle, func() bool {
			r, err := testcluster.ReadDirect(vs.Addr(), fid)
			return err == nil && r.Status == http.StatusOK && string(r.Body) == string(data)
		})
		if !ok {
			r, err := testcluster.ReadDirect(vs.Addr(), fid)
			t.Fatalf("volume server on the backup: %s: %v %v", fid, r, err)
		}
	}
	for _, fid := range deleted {
		if r, err := testcluster.ReadDirect(vs.Addr(), fid); err != nil || r.Status != http.StatusNotFound {
			t.Errorf("volume server on the backup: deleted %s: %v %v", fid, r, err)
		}
	}
	t.Logf("backup of volume %d in %s: %d live files, %d deleted", vid, filepath.Base(dir), len(live), len(deleted))
}

// compactRevision returns a volume's compaction revision as a server
// reports it.
func compactRevision(t *testing.T, p *testcluster.Process, vid needle.VolumeID) uint16 {
	t.Helper()
	var st struct {
		Volumes []struct {
			Id              needle.VolumeID
			CompactRevision uint16
		}
	}
	if err := p.GetJSON("/status", &st); err != nil {
		t.Fatal(err)
	}
	for _, v := range st.Volumes {
		if v.Id == vid {
			return v.CompactRevision
		}
	}
	t.Fatalf("%s does not hold volume %s", p.Name, strconv.Itoa(int(vid)))
	return 0
}
