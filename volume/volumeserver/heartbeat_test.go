package volumeserver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weedfs/weed/replication"
	"github.com/weedfs/weed/wire"
)

func TestHeartbeatReportsVolumes(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()}, func(o *ServerOptions) {
		o.DataCenter, o.Rack, o.PublicURL = "dc1", "rack2", "files.example.com:80"
	})
	ts.addVolume(t, 3, "001")
	ts.addVolume(t, 1, "")
	uploadFile(t, ts.url, "1,2a637037d6", "a.txt", "text/plain", []byte("x"))
	if err := ts.hb.beat(t.Context()); err != nil {
		t.Fatal(err)
	}
	beats := m.heartbeats()
	if len(beats) != 1 {
		t.Fatalf("master got %d heartbeats", len(beats))
	}
	hb := beats[0]
	if hb.Version != wire.HeartbeatVersion || hb.IP != "127.0.0.1" || hb.URL() != ts.addr ||
		hb.PublicURL != "files.example.com:80" || hb.DataCenter != "dc1" || hb.Rack != "rack2" ||
		hb.MaxVolumeCount != 7 || hb.MaxFileKey != 0x2a {
		t.Errorf("heartbeat = %+v", hb)
	}
	if len(hb.Volumes) != 2 || hb.Volumes[0].ID != 1 || hb.Volumes[1].ID != 3 ||
		hb.Volumes[0].FileCount != 1 || hb.Volumes[1].ReplicaPlacement.SameRack != 1 {
		t.Errorf("heartbeat volumes = %+v", hb.Volumes)
	}
}

func TestHeartbeatFollowsLeader(t *testing.T) {
	leader := newFakeMaster(t)
	follower := newFakeMaster(t)
	follower.setReply(wire.HeartbeatReply{Version: wire.HeartbeatVersion, IsLeader: false, Leader: leader.addr()})
	ts := startServer(t, []string{follower.addr()})
	if err := ts.hb.beat(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(follower.heartbeats()) != 1 || len(leader.heartbeats()) != 1 {
		t.Fatalf("follower got %d beats, leader %d", len(follower.heartbeats()), len(leader.heartbeats()))
	}
	if ts.hb.master() != leader.addr() {
		t.Fatalf("next beat goes to %s, want the leader %s", ts.hb.master(), leader.addr())
	}
	if err := ts.hb.beat(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(follower.heartbeats()) != 1 || len(leader.heartbeats()) != 2 {
		t.Fatalf("after moving: follower got %d beats, leader %d", len(follower.heartbeats()), len(leader.heartbeats()))
	}

	// A follower that knows no leader: the beat fails, the next goes elsewhere.
	lost := newFakeMaster(t)
	lost.setReply(wire.HeartbeatReply{Version: wire.HeartbeatVersion})
	ts2 := startServer(t, []string{lost.addr(), leader.addr()})
	if err := ts2.hb.beat(t.Context()); err == nil {
		t.Fatal("a beat answered by a leaderless follower succeeded")
	}
	if ts2.hb.master() != leader.addr() {
		t.Fatalf("after a leaderless answer the next beat goes to %s", ts2.hb.master())
	}
}

func TestHeartbeatRotatesOnFailure(t *testing.T) {
	good := newFakeMaster(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	// A master answering 500.
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"raft is sad"}`, http.StatusInternalServerError)
	}))
	defer broken.Close()
	brokenAddr := strings.TrimPrefix(broken.URL, "http://")
	ts := startServer(t, []string{dead, brokenAddr, good.addr()})
	ctx := t.Context()
	// The dead master is left within the beat; the broken one answers, with
	// an error that ends the beat.
	if err := ts.hb.beat(ctx); err == nil || !strings.Contains(err.Error(), "raft is sad") {
		t.Fatalf("beat to a dead, then a broken master = %v", err)
	}
	if ts.hb.master() != good.addr() {
		t.Fatalf("after %s and %s failed the next beat goes to %s", dead, brokenAddr, ts.hb.master())
	}
	if err := ts.hb.beat(ctx); err != nil {
		t.Fatalf("beat to the good master: %v", err)
	}
	if len(good.heartbeats()) != 1 {
		t.Fatalf("good master got %d beats", len(good.heartbeats()))
	}
	// The last known leader, gone, is left for the next in the list.
	if ts.hb.rotate(good.addr()); ts.hb.master() != dead {
		t.Fatalf("rotation after the last master = %s, want %s", ts.hb.master(), dead)
	}
}

func TestHeartbeatAppliesVolumeSizeLimit(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 1, "")
	m.setReply(wire.HeartbeatReply{Version: wire.HeartbeatVersion, IsLeader: true, Leader: m.addr(), VolumeSizeLimit: 8})
	if err := ts.hb.beat(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := do(t, http.MethodPost, ts.url+"/1,01637037d6", strings.NewReader("too late"), nil)
	if r.status != http.StatusConflict {
		t.Fatalf("write past the size limit = %d %s", r.status, r.body)
	}
	// A wrong protocol version is refused.
	m.setReply(wire.HeartbeatReply{Version: 2, IsLeader: true})
	if err := ts.hb.beat(t.Context()); err == nil {
		t.Fatal("a version 2 reply was accepted")
	}
}

// TestHeartbeatOnVolumeChange runs the heartbeat loop with a long pulse: the
// master still hears of a volume created or deleted through /admin at once.
func TestHeartbeatOnVolumeChange(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ts.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	wait := func(what string, ok func(wire.Heartbeat) bool) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case hb := <-m.beatCh:
				if ok(hb) {
					return
				}
			case <-timeout:
				t.Fatalf("no heartbeat %s", what)
			}
		}
	}
	wait("at start", func(hb wire.Heartbeat) bool { return len(hb.Volumes) == 0 })
	if r := do(t, http.MethodPost, ts.url+"/admin/assign_volume?volume=5&replication=000", nil, nil); r.status != http.StatusOK {
		t.Fatalf("assign_volume = %d %s", r.status, r.body)
	}
	wait("with volume 5", func(hb wire.Heartbeat) bool { return len(hb.Volumes) == 1 && hb.Volumes[0].ID == 5 })
	if r := do(t, http.MethodPost, ts.url+"/admin/delete_volume?volume=5", nil, nil); r.status != http.StatusOK {
		t.Fatalf("delete_volume = %d %s", r.status, r.body)
	}
	wait("without volume 5", func(hb wire.Heartbeat) bool { return len(hb.Volumes) == 0 })
}

// TestHeartbeatAdoptsAddressTheMasterSees starts a server without an IP (the
// walk-through's `weed volume -port=8081 ...`): it beats with an empty ip,
// refuses to pick replicas until the leader names its address, then takes
// that address as its identity and leaves itself out of the replica set.
func TestHeartbeatAdoptsAddressTheMasterSees(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()}, func(o *ServerOptions) { o.IP = "" })
	ts.addVolume(t, 3, "001")
	m.setLocations(3, ts.addr, "127.0.0.1:1")

	if self, known := ts.knownSelf(); known || !strings.HasPrefix(self, ":") {
		t.Fatalf("before any heartbeat: self %q known %v", self, known)
	}
	if _, err := ts.lookupOthers(t.Context(), 3); !errors.Is(err, replication.ErrIdentityUnknown) {
		t.Fatalf("replicas before the address is known: %v, want errIdentityUnknown", err)
	}

	// A master that does not name the address (an older one) changes nothing.
	if err := ts.hb.beat(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, known := ts.knownSelf(); known {
		t.Fatal("identity known after a reply without ip")
	}

	m.setReply(wire.HeartbeatReply{Version: wire.HeartbeatVersion, IsLeader: true, Leader: m.addr(), IP: "127.0.0.1"})
	if err := ts.hb.beat(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, hb := range m.heartbeats() {
		if hb.IP != "" || hb.PublicURL != "" {
			t.Errorf("heartbeat of a server without -ip names ip %q publicUrl %q", hb.IP, hb.PublicURL)
		}
	}
	if self, known := ts.knownSelf(); !known || self != ts.addr {
		t.Fatalf("after the reply: self %q known %v, want %s", self, known, ts.addr)
	}
	others, err := ts.lookupOthers(t.Context(), 3)
	if err != nil || len(others) != 1 || others[0] != "127.0.0.1:1" {
		t.Fatalf("replicas = %q, %v; want only 127.0.0.1:1", others, err)
	}
}

// TestHeartbeatKeepsConfiguredIP: a server given an IP ignores the address
// the master saw.
func TestHeartbeatKeepsConfiguredIP(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	m.setReply(wire.HeartbeatReply{Version: wire.HeartbeatVersion, IsLeader: true, Leader: m.addr(), IP: "10.9.9.9"})
	if err := ts.hb.beat(t.Context()); err != nil {
		t.Fatal(err)
	}
	if self, known := ts.knownSelf(); !known || self != ts.addr {
		t.Fatalf("self %q known %v, want %s", self, known, ts.addr)
	}
}

// TestHeartbeatOnSpaceChange: an upload that fails for lack of disk space
// answers 507 and makes the server beat at once (the pulse here is an
// hour) with the volume read-only and its directory low on space; when a
// space check (each second) finds room again, another beat reports it
// writable.
func TestHeartbeatOnSpaceChange(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 1, "")
	disk := &fakeDisk{free: 500 << 20, total: 1 << 30}
	ts.store.SetStatfs(disk.statfs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ts.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	wait := func(what string, ok func(wire.Heartbeat) bool) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case hb := <-m.beatCh:
				if ok(hb) {
					return
				}
			case <-timeout:
				t.Fatalf("no heartbeat %s", what)
			}
		}
	}
	writable := func(hb wire.Heartbeat) bool {
		return len(hb.Volumes) == 1 && !hb.Volumes[0].ReadOnly &&
			len(hb.Disks) == 1 && !hb.Disks[0].LowSpace && hb.Disks[0].Total > 0 && hb.Disks[0].Free > 0
	}
	wait("at start", writable)

	disk.set(4096)
	stop := injectAppendError(t, &os.PathError{Op: "write", Path: "1.dat", Err: syscall.ENOSPC})
	body, ct := multipartBody(t, "file", "a.txt", "text/plain", []byte("hello"), nil)
	r := do(t, http.MethodPost, ts.url+"/1,2a637037d6", body, map[string]string{"Content-Type": ct})
	stop()
	if r.status != http.StatusInsufficientStorage || !strings.Contains(string(r.body), "no space left") {
		t.Fatalf("upload to a full disk = %d %s, want 507 no space left", r.status, r.body)
	}
	wait("with the volume read-only", func(hb wire.Heartbeat) bool {
		return len(hb.Volumes) == 1 && hb.Volumes[0].ReadOnly && len(hb.Disks) == 1 && hb.Disks[0].LowSpace
	})
	disk.set(100 << 20)
	wait("with the volume writable again", writable)
	uploadFile(t, ts.url, "1,2a637037d6", "a.txt", "text/plain", []byte("hello"))
}

// hungMaster returns the address of a master that accepts connections
// (the kernel completes the handshake) and never answers, as one stopped
// with SIGSTOP does.
func hungMaster(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// TestHeartbeatLeavesAPausedMaster: a beat whose master does not answer
// moves on to the next master within the same beat, after a short wait.
func TestHeartbeatLeavesAPausedMaster(t *testing.T) {
	good := newFakeMaster(t)
	ts := startServer(t, []string{hungMaster(t), good.addr()})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := ts.hb.beat(ctx); err != nil {
		t.Fatalf("beat with the first master paused: %v", err)
	}
	if took := time.Since(start); took > maxHeartbeatTimeout+time.Second {
		t.Errorf("beat took %v with the first master paused", took)
	}
	if len(good.heartbeats()) != 1 || ts.hb.master() != good.addr() {
		t.Fatalf("the answering master got %d beats; next beat goes to %s", len(good.heartbeats()), ts.hb.master())
	}
}

// TestMasterCallsLeaveAPausedMaster: a fan-out view lookup whose first
// master (the heartbeats' one) does not answer is answered by the next
// after masterLookupTimeout, and the heartbeats move off the silent one.
func TestMasterCallsLeaveAPausedMaster(t *testing.T) {
	good := newFakeMaster(t)
	ts := startServer(t, []string{hungMaster(t), good.addr()})
	good.setLocations(5, ts.addr, "127.0.0.1:1")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	locs, err := ts.repl.View(ctx, 5)
	if err != nil || len(locs) != 2 {
		t.Fatalf("view of volume 5 with the first master paused: %v %v", locs, err)
	}
	if took := time.Since(start); took > masterLookupTimeout+time.Second {
		t.Errorf("view lookup took %v with the first master paused", took)
	}
	if ts.hb.master() != good.addr() {
		t.Errorf("heartbeats still go to the silent master %s", ts.hb.master())
	}
}

// TestForwardedAnswerMovesHeartbeats: an answer a follower forwarded names
// the leader (wire.LeaderHeader); the heartbeats move there at once.
func TestForwardedAnswerMovesHeartbeats(t *testing.T) {
	leader := newFakeMaster(t)
	follower := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(wire.LeaderHeader, leader.addr())
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"volumeId not found."}`))
	}))
	defer follower.Close()
	ts := startServer(t, []string{strings.TrimPrefix(follower.URL, "http://")})
	if _, err := ts.repl.View(t.Context(), 5); err != nil {
		t.Fatal(err)
	}
	if ts.hb.master() != leader.addr() {
		t.Fatalf("after an answer naming leader %s the heartbeats go to %s", leader.addr(), ts.hb.master())
	}
}

// TestLeaderHintAbandonsAWaitingBeat: a beat waiting on a paused master is
// abandoned when a leader hint names another, and sent there.
func TestLeaderHintAbandonsAWaitingBeat(t *testing.T) {
	good := newFakeMaster(t)
	ts := startServer(t, []string{hungMaster(t)})
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- ts.hb.beat(t.Context()) }()
	time.Sleep(200 * time.Millisecond)
	ts.hb.leaderHint(good.addr())
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("beat after the hint: %v", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("beat took %v: it waited on the paused master", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("beat still waits on the paused master")
	}
	if len(good.heartbeats()) != 1 {
		t.Fatalf("the hinted leader got %d beats", len(good.heartbeats()))
	}
}
