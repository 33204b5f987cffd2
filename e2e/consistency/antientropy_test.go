package consistency

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/testcluster"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/wire"
)

// TestAntiEntropy makes two replicas (001, anti-entropy every 2 s) diverge
// silently while both run: a needle damaged on disk on one, a needle
// present only on the other (a replicated write sent to one replica). With
// no read of either, the periodic pass repairs the damaged needle from the
// good copy and copies the missing needle over.
func TestAntiEntropy(t *testing.T) {
	e := newEnv(t, "001", 2, nil, "-replication.antiEntropyInterval=2s")
	v2 := e.vols[1]
	a, err := testcluster.Assign(e.master.Addr(), "count=6")
	if err != nil {
		t.Fatal(err)
	}
	first, err := needle.ParseFileID(a.Fid)
	if err != nil {
		t.Fatal(err)
	}
	fidN := func(i int) needle.FileID {
		return needle.FileID{Volume: first.Volume, Key: first.Key + needle.Key(i), Cookie: first.Cookie}
	}
	var files []stored
	for i := range 5 {
		data := []byte(fmt.Sprintf("anti-entropy file %d with a few bytes to damage", i))
		if err := testcluster.Upload(a.URL, fidN(i).String(), "f.txt", data); err != nil {
			t.Fatal(err)
		}
		files = append(files, stored{fidN(i).String(), data})
	}

	// Damage a needle of v2's copy under the running server.
	base := volume.FileBase(v2.Dir, "", first.Volume)
	if !testcluster.Eventually(testcluster.Settle, func() bool {
		st, err := os.Stat(base + ".idx")
		return err == nil && st.Size() >= 5*needle.IdxEntrySize
	}) {
		t.Fatalf("%s.idx does not list the five needles", base)
	}
	off := lastRecordOffset(t, base+".idx", fidN(1).Key)
	f, err := os.OpenFile(base+".dat", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var c [1]byte
	pos := off + needle.HeaderSize + 4 + 3
	f.ReadAt(c[:], pos)
	c[0] ^= 0x10
	if _, err := f.WriteAt(c[:], pos); err != nil {
		t.Fatal(err)
	}
	f.Close()

	// A needle only one replica has.
	extra := fidN(5)
	n := needle.Needle{Cookie: extra.Cookie, Key: extra.Key, Data: []byte("only on one replica"), AppendAtNs: uint64(time.Now().UnixNano())}
	n.Checksum = needle.DataChecksum(n.Data)
	rec, err := n.AppendRecord(nil, needle.Version3)
	if err != nil {
		t.Fatal(err)
	}
	other := e.vols[0]
	resp, err := testcluster.NoFollow.Post("http://"+other.Addr()+"/"+extra.String()+"?type=replicate", wire.NeedleContentType, bytes.NewReader(rec))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("replicated write to one replica: %d", resp.StatusCode)
	}

	if !testcluster.Eventually(testcluster.Settle, func() bool {
		return strings.Contains(v2.Log(), "anti-entropy: volume "+first.Volume.String()+": needle")
	}) {
		t.Fatalf("%s did not repair the damaged needle", v2.Name)
	}
	if !testcluster.Eventually(testcluster.Settle, func() bool {
		r, err := testcluster.ReadDirect(v2.Addr(), extra.String())
		return err == nil && r.Status == http.StatusOK && string(r.Body) == "only on one replica"
	}) {
		t.Fatalf("the needle written to one replica did not reach the other")
	}
	for _, f := range files {
		if r, err := testcluster.ReadDirect(v2.Addr(), f.Fid); err != nil || r.Status != http.StatusOK || string(r.Body) != string(f.Data) {
			t.Errorf("%s on %s: %v %v", f.Fid, v2.Name, r, err)
		}
	}
	if strings.Contains(v2.Log(), "read repair:") {
		t.Errorf("a read repaired the needle, not anti-entropy")
	}
	v2.Stop()
	if err := volume.Check(v2.Dir); err != nil {
		t.Errorf("volume.Check after anti-entropy: %v", err)
	}
}
