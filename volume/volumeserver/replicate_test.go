package volumeserver

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/replication"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/wire"
)

// TestReplication writes through one of two replicas and reads from the
// other: identical bytes and Etag, byte-identical .dat files; a delete
// through either reaches both.
func TestReplication(t *testing.T) {
	m := newFakeMaster(t)
	a := startServer(t, []string{m.addr()})
	b := startServer(t, []string{m.addr()})
	a.addVolume(t, 6, "001")
	b.addVolume(t, 6, "001")
	m.setLocations(6, a.addr, b.addr)

	text := []byte(strings.Repeat("replicated text\n", 100))
	up := uploadFile(t, a.url, "6,01fc4a422c", "hello.txt", "text/plain", text)
	up2 := uploadFile(t, b.url, "6,02fc4a422c", "other.bin", "application/x-other", []byte{1, 2, 3})
	for _, s := range []*testServer{a, b} {
		r := do(t, http.MethodGet, s.url+"/6,01fc4a422c", nil, nil)
		if r.status != 200 || !bytes.Equal(r.body, text) || r.header.Get("Etag") != up.header.Get("Etag") {
			t.Errorf("%s: %d, %d bytes, Etag %q (upload said %q)", s.addr, r.status, len(r.body), r.header.Get("Etag"), up.header.Get("Etag"))
		}
		r = do(t, http.MethodGet, s.url+"/6,02fc4a422c", nil, nil)
		if r.status != 200 || string(r.body) != "\x01\x02\x03" || r.header.Get("Etag") != up2.header.Get("Etag") {
			t.Errorf("%s: second file %d %q", s.addr, r.status, r.body)
		}
	}
	na, errA := a.stored(t, 6, 1, 0xfc4a422c)
	nb, errB := b.stored(t, 6, 1, 0xfc4a422c)
	if errA != nil || errB != nil || na.AppendAtNs != nb.AppendAtNs || na.AppendAtNs == 0 || !nb.IsGzipped() {
		t.Errorf("replica needles: %v %v, timestamps %d %d, gzip %v", errA, errB, na.AppendAtNs, nb.AppendAtNs, nb.IsGzipped())
	}
	datA, err := os.ReadFile(volume.FileBase(a.dir, "", 6) + ".dat")
	if err != nil {
		t.Fatal(err)
	}
	datB, err := os.ReadFile(volume.FileBase(b.dir, "", 6) + ".dat")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(datA, datB) {
		t.Errorf("replica .dat files differ: %d and %d bytes", len(datA), len(datB))
	}

	r := do(t, http.MethodDelete, a.url+"/6,01fc4a422c", nil, nil)
	if r.status != http.StatusAccepted || jsonNumber(t, r.json(t), "size") != len(na.Data) {
		t.Fatalf("delete = %d %s", r.status, r.body)
	}
	r = do(t, http.MethodDelete, b.url+"/6,02fc4a422c", nil, nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("delete through b = %d %s", r.status, r.body)
	}
	for _, s := range []*testServer{a, b} {
		assertEmpty404(t, do(t, http.MethodGet, s.url+"/6,01fc4a422c", nil, nil), "GET after delete on "+s.addr)
		assertEmpty404(t, do(t, http.MethodGet, s.url+"/6,02fc4a422c", nil, nil), "GET after delete on "+s.addr)
	}
	datA, _ = os.ReadFile(volume.FileBase(a.dir, "", 6) + ".dat")
	datB, _ = os.ReadFile(volume.FileBase(b.dir, "", 6) + ".dat")
	if !bytes.Equal(datA, datB) {
		t.Errorf("replica .dat files differ after deletes: %d and %d bytes", len(datA), len(datB))
	}
}

// refusingReplica answers every replicated write with 500 and counts the
// deletes it gets.
type refusingReplica struct {
	srv     *httptest.Server
	mu      sync.Mutex
	writes  int
	deletes int
}

func newRefusingReplica(t *testing.T) *refusingReplica {
	rr := &refusingReplica{}
	rr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		rr.mu.Lock()
		defer rr.mu.Unlock()
		switch r.Method {
		case http.MethodPost:
			rr.writes++
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"error":"disk on fire"}`)
		case http.MethodDelete:
			rr.deletes++
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"size":0}`)
		}
	}))
	t.Cleanup(rr.srv.Close)
	return rr
}

func (rr *refusingReplica) addr() string { return strings.TrimPrefix(rr.srv.URL, "http://") }

// TestReplicationFailureLeavesNothing: with three copies, one replica
// refuses; the client gets a JSON 500 and neither the receiving server nor
// the good replica serves the needle.
func TestReplicationFailureLeavesNothing(t *testing.T) {
	m := newFakeMaster(t)
	a := startServer(t, []string{m.addr()})
	b := startServer(t, []string{m.addr()})
	bad := newRefusingReplica(t)
	a.addVolume(t, 4, "002")
	b.addVolume(t, 4, "002")
	m.setLocations(4, a.addr, b.addr, bad.addr())

	body, ct := multipartBody(t, "file", "doomed.txt", "text/plain", []byte("never readable"), nil)
	r := do(t, http.MethodPost, a.url+"/4,01aabbccdd", body, map[string]string{"Content-Type": ct})
	if r.status != http.StatusInternalServerError || !strings.Contains(r.json(t)["error"].(string), "disk on fire") {
		t.Fatalf("write with a refusing replica = %d %s", r.status, r.body)
	}
	for _, s := range []*testServer{a, b} {
		assertEmpty404(t, do(t, http.MethodGet, s.url+"/4,01aabbccdd", nil, nil), "GET on "+s.addr)
	}
	bad.mu.Lock()
	writes, deletes := bad.writes, bad.deletes
	bad.mu.Unlock()
	if writes == 0 || deletes == 0 {
		t.Errorf("refusing replica saw %d writes and %d deletes", writes, deletes)
	}
}

// TestReplicationTooFewLocations: the master knows fewer locations than the
// placement needs copies; the write fails and nothing is stored.
func TestReplicationTooFewLocations(t *testing.T) {
	m := newFakeMaster(t)
	a := startServer(t, []string{m.addr()})
	a.addVolume(t, 2, "010")
	m.setLocations(2, a.addr)
	r := do(t, http.MethodPost, a.url+"/2,01aabbccdd", strings.NewReader("lonely"), nil)
	if r.status != http.StatusInternalServerError || !strings.Contains(r.json(t)["error"].(string), "needs 2 copies") {
		t.Fatalf("write = %d %s", r.status, r.body)
	}
	if _, err := a.stored(t, 2, 1, 0xaabbccdd); !replication.IsMissing(err) {
		t.Errorf("the write was stored: %v", err)
	}
	m.mu.Lock()
	lookups := m.lookups
	m.mu.Unlock()
	if lookups < 2 {
		t.Errorf("the master was asked %d times; a short answer must be asked again", lookups)
	}
	// The master has never heard of the volume: same answer.
	a.addVolume(t, 3, "001")
	r = do(t, http.MethodPost, a.url+"/3,01aabbccdd", strings.NewReader("lonely"), nil)
	if r.status != http.StatusInternalServerError {
		t.Fatalf("write to an unknown replicated volume = %d %s", r.status, r.body)
	}
}

// TestReplicaSetChange: the cached replica set is stale (it names a server
// that no longer holds the volume); the write looks the volume up again and
// succeeds on the current set.
func TestReplicaSetChange(t *testing.T) {
	m := newFakeMaster(t)
	a := startServer(t, []string{m.addr()})
	b := startServer(t, []string{m.addr()})
	c := startServer(t, []string{m.addr()})
	a.addVolume(t, 5, "001")
	c.addVolume(t, 5, "001")
	m.setLocations(5, a.addr, b.addr) // b does not hold volume 5: stale
	if _, err := a.client.Lookup(t.Context(), 5); err != nil {
		t.Fatal(err)
	}
	m.setLocations(5, a.addr, c.addr)
	uploadFile(t, a.url, "5,01aabbccdd", "moved.txt", "text/plain", []byte("follows the master"))
	r := do(t, http.MethodGet, c.url+"/5,01aabbccdd", nil, nil)
	if r.status != 200 || string(r.body) != "follows the master" {
		t.Fatalf("read on the new replica = %d %q", r.status, r.body)
	}
}

func TestReplicatedWriteValidation(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 1, "001")
	n := needle.Needle{Cookie: 0x12345678, Key: 9, Data: []byte("payload"), Name: []byte("p.txt"), AppendAtNs: 1234567890}
	rec, err := n.AppendRecord(nil, needle.Version3)
	if err != nil {
		t.Fatal(err)
	}
	fid := fidOf(1, 9, 0x12345678)
	hdr := map[string]string{"Content-Type": wire.NeedleContentType}
	corrupt := bytes.Clone(rec)
	corrupt[needle.HeaderSize+5] ^= 0xff
	cases := []struct {
		name, path string
		body       []byte
		header     map[string]string
		status     int
	}{
		{"wrong type", "/" + fid + "?type=replicate", rec, map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType},
		{"wrong key", "/" + fidOf(1, 8, 0x12345678) + "?type=replicate", rec, hdr, http.StatusBadRequest},
		{"wrong cookie", "/" + fidOf(1, 9, 0x12345679) + "?type=replicate", rec, hdr, http.StatusBadRequest},
		{"bad crc", "/" + fid + "?type=replicate", corrupt, hdr, http.StatusBadRequest},
		{"truncated", "/" + fid + "?type=replicate", rec[:len(rec)-12], hdr, http.StatusBadRequest},
		{"trailing bytes", "/" + fid + "?type=replicate", append(bytes.Clone(rec), 0, 0, 0, 0, 0, 0, 0, 0), hdr, http.StatusBadRequest},
		{"tombstone", "/" + fid + "?type=replicate", tombstoneRecord(t, 9, 0x12345678), hdr, http.StatusBadRequest},
		{"volume not here", "/" + fidOf(2, 9, 0x12345678) + "?type=replicate", rec, hdr, http.StatusNotFound},
	}
	for _, c := range cases {
		r := do(t, http.MethodPost, ts.url+c.path, bytes.NewReader(c.body), c.header)
		if r.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.status)
		}
	}
	if _, err := ts.stored(t, 1, 9, 0x12345678); !replication.IsMissing(err) {
		t.Fatalf("a refused record was stored: %v", err)
	}
	// The good record is stored unchanged (timestamp included) and is not
	// fanned out: the master has no locations, yet it succeeds.
	r := do(t, http.MethodPost, ts.url+"/"+fid+"?type=replicate", bytes.NewReader(rec), hdr)
	if r.status != http.StatusCreated || string(r.body) != `{"name":"p.txt","size":7}`+"\n" {
		t.Fatalf("replicated write = %d %s", r.status, r.body)
	}
	got, err := ts.stored(t, 1, 9, 0x12345678)
	if err != nil || got.AppendAtNs != 1234567890 || string(got.Data) != "payload" {
		t.Fatalf("stored replica: ts %d data %q, %v", got.AppendAtNs, got.Data, err)
	}
	// A replicated delete applies its timestamp and does not fan out either.
	r = do(t, http.MethodDelete, ts.url+"/"+fid+"?type=replicate&ts=1234567999", nil, nil)
	if r.status != http.StatusAccepted || string(r.body) != `{"size":7}`+"\n" {
		t.Fatalf("replicated delete = %d %s", r.status, r.body)
	}
	assertEmpty404(t, do(t, http.MethodGet, ts.url+"/"+fid, nil, nil), "GET after the replicated delete")
}

func tombstoneRecord(t *testing.T, key needle.Key, cookie needle.Cookie) []byte {
	t.Helper()
	n := needle.Tombstone(key, cookie, 42)
	rec, err := n.AppendRecord(nil, needle.Version3)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}
