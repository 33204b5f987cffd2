package master

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/internal/httpx/httpxtest"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// benchMaster returns a leading master whose topology holds two nodes with
// seven writable volumes of collection "benchmark", replication 000.
func benchMaster(b *testing.B) *Server {
	b.Helper()
	lead := &fakeLead{leader: true, since: time.Now().Add(-time.Hour), self: "127.0.0.1:9333", addr: "127.0.0.1:9333"}
	s, err := NewServer(Options{IP: "127.0.0.1", Port: 9333}, Deps{Sequencer: &fakeSeq{}, Leadership: lead})
	if err != nil {
		b.Fatal(err)
	}
	for i, port := range []int{8081, 8082} {
		hb := &wire.Heartbeat{Version: wire.HeartbeatVersion, IP: "127.0.0.1", Port: port, MaxVolumeCount: 30}
		for v := i + 1; v <= 7; v += 2 {
			hb.Volumes = append(hb.Volumes, wire.VolumeInfo{
				ID: needle.VolumeID(v), Collection: "benchmark", Version: needle.Version3,
				ReplicaPlacement: needle.Placement{},
			})
		}
		if _, err := s.topo.ProcessHeartbeat(hb, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkAssign measures GET /dir/assign?collection=benchmark&replication=000
// (what `weed benchmark` sends) through the master's handler, in process:
// routing, the white list (empty), parameter parsing, the writable-volume
// pick, the key from the Sequencer (an in-memory fake here; the Raft lease
// is BenchmarkRaftNextFileKeys) and the JSON reply.
func BenchmarkAssign(b *testing.B) {
	s := benchMaster(b)
	h := s.Handler()
	u, err := url.Parse("http://127.0.0.1:9333/dir/assign?collection=benchmark&replication=000")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := httpxtest.NewDiscardWriter()
		for pb.Next() {
			r := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: http.Header{}, RemoteAddr: "127.0.0.1:40000"}
			w.Reset()
			h.ServeHTTP(w, r)
			if w.Status != http.StatusOK {
				b.Errorf("assign: status %d", w.Status)
				return
			}
		}
	})
}

// BenchmarkAssignPostForm is BenchmarkAssign as weed-fs's clients ask: a
// POST of the urlencoded form (net/http's PostForm).
func BenchmarkAssignPostForm(b *testing.B) {
	s := benchMaster(b)
	h := s.Handler()
	u, err := url.Parse("http://127.0.0.1:9333/dir/assign")
	if err != nil {
		b.Fatal(err)
	}
	const form = "collection=benchmark&count=1&replication=000"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := httpxtest.NewDiscardWriter()
		var body strings.Reader
		for pb.Next() {
			body.Reset(form)
			r := &http.Request{Method: http.MethodPost, URL: u, Host: u.Host, RemoteAddr: "127.0.0.1:40000",
				Header:        http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
				Body:          io.NopCloser(&body),
				ContentLength: int64(len(form)),
			}
			w.Reset()
			h.ServeHTTP(w, r)
			if w.Status != http.StatusOK {
				b.Errorf("assign: status %d", w.Status)
				return
			}
		}
	})
}
