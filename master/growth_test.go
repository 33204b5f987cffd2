package master

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/topology"
	"github.com/weedfs/weed/wire"
)

func TestConcurrentAssignsShareOneGrowth(t *testing.T) {
	m, vs := walkThroughCluster(t, Options{})
	// Hold the volume servers so that every assign arrives while the first
	// growth is still in progress.
	gate := make(chan struct{})
	for _, v := range vs {
		v.mu.Lock()
		v.gate = gate
		v.mu.Unlock()
	}
	const n = 20
	var wg sync.WaitGroup
	statuses := make([]int, n)
	bodies := make([][]byte, n)
	for i := range n {
		wg.Go(func() {
			resp, err := testHTTP.Get(m.base + "/dir/assign")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			statuses[i] = resp.StatusCode
			var a wire.Assignment
			if err := json.NewDecoder(resp.Body).Decode(&a); err == nil {
				bodies[i] = []byte(a.Fid)
			}
		})
	}
	eventually(t, 10*time.Second, "growth started", func() bool {
		return vs[2].calls(wire.AssignVolumePath, 0) > 0
	})
	close(gate)
	wg.Wait()

	seen := make(map[string]bool)
	for i := range n {
		if statuses[i] != http.StatusOK {
			t.Fatalf("assign %d: status %d", i, statuses[i])
		}
		if seen[string(bodies[i])] {
			t.Fatalf("fid %s handed out twice", bodies[i])
		}
		seen[string(bodies[i])] = true
	}
	total := 0
	for _, v := range vs {
		total += v.calls(wire.AssignVolumePath, 0)
	}
	if total != 12 {
		t.Fatalf("%d assign_volume calls, want 12 (one growth of 6 volumes × 2 copies)", total)
	}
	if got := vs[2].volumeIDs(); len(got) != 6 {
		t.Fatalf("dc2 holds %v, want 6 volumes", got)
	}
}

func TestNewLeaderWaitsForHeartbeatsBeforeGrowing(t *testing.T) {
	// A master that has just become leader of a cluster whose volume server
	// already holds a writable volume: an assign must wait for the
	// heartbeat instead of growing a second set of volumes.
	lead := &fakeLead{leader: true, since: time.Now()}
	m := startMaster(t, Options{PulseSeconds: 1, DefaultReplication: "000"}, lead)
	v := newFakeVolume(t, "dc1", "", 7)
	v.volumes[3] = wire.VolumeInfo{ID: 3, Version: needle.CurrentVersion}

	done := make(chan wire.Assignment, 1)
	go func() {
		resp, err := testHTTP.Get(m.base + "/dir/assign")
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		defer resp.Body.Close()
		var a wire.Assignment
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&a) != nil {
			t.Errorf("assign: status %d", resp.StatusCode)
		}
		done <- a
	}()
	v.heartbeatTo(m.addr)
	a := <-done
	if fid, err := needle.ParseFileID(a.Fid); err != nil || fid.Volume != 3 {
		t.Fatalf("assign %+v: want a fid in the reported volume 3", a)
	}
	if n := v.calls(wire.AssignVolumePath, 0); n != 0 {
		t.Fatalf("%d volumes grown, want none", n)
	}
	// The heartbeat raised the volume id mark: a growth now starts above 3.
	status, body := m.get("/vol/grow?count=1")
	if status != http.StatusOK || string(body) != `{"count":1}`+"\n" {
		t.Fatalf("grow: %d %s", status, body)
	}
	if got := v.volumeIDs(); len(got) != 2 || got[1] != 4 {
		t.Fatalf("volumes %v, want [3 4]", got)
	}
}

func TestVolGrow(t *testing.T) {
	m, vs := walkThroughCluster(t, Options{})
	var g GrowResult
	m.getJSON("/vol/grow?count=2&replication=000&collection=video", http.StatusOK, &g)
	if g.Count != 2 {
		t.Fatalf("grow count %d, want 2", g.Count)
	}
	// 010 needs a second rack in a data center, 200 a third data center.
	for _, q := range []string{"count=1&replication=010", "replication=200"} {
		var e struct{ Error string }
		m.getJSON("/vol/grow?"+q, http.StatusNotAcceptable, &e)
		if e.Error != topology.ErrNotEnoughDataNodes.Error() {
			t.Errorf("grow?%s: error %q", q, e.Error)
		}
	}
	total := 0
	for _, v := range vs {
		total += len(v.volumeIDs())
	}
	if total != 2 {
		t.Fatalf("%d volumes created, want 2", total)
	}
	// Without count, the default number for the replication. On a fresh
	// cluster: the volumes above may have taken dc2 slots that 100 needs.
	m, _ = walkThroughCluster(t, Options{})
	m.getJSON("/vol/grow?replication=100", http.StatusOK, &g)
	if g.Count != 6 {
		t.Fatalf("default grow count %d, want 6", g.Count)
	}
}

func TestGrowthSerializedPerLayout(t *testing.T) {
	g := newVolumeGrowth(topology.New(topology.Config{}), &fakeSeq{}, &fakeLead{leader: true}, nil, time.Second)
	a := growRequest{Placement: needle.Placement{SameRack: 1}}
	b := growRequest{Collection: "other"}
	unlockA, err := g.lock(t.Context(), a.layout())
	if err != nil {
		t.Fatal(err)
	}
	// Another layout is not blocked.
	unlockB, err := g.lock(t.Context(), b.layout())
	if err != nil {
		t.Fatal(err)
	}
	unlockB()
	// The same layout waits, and gives up with its context.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := g.lock(ctx, a.layout()); err == nil {
		t.Fatal("a second lock of one layout succeeded")
	}
	unlockA()
	unlock, err := g.lock(t.Context(), a.layout())
	if err != nil {
		t.Fatal(err)
	}
	unlock()
}
