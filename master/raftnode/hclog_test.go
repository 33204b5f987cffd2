package raftnode

import (
	"testing"
	"time"
)

func TestFailedPeer(t *testing.T) {
	tests := []struct{ line, want string }{
		{`[ERROR] raft: failed to heartbeat to: peer=127.0.0.1:9334 backoff time=10ms error="dial tcp 127.0.0.1:9334: connect: connection refused"`, "127.0.0.1:9334"},
		{`[ERROR] raft: failed to appendEntries to: peer="{Voter 127.0.0.1:9334 127.0.0.1:9334}" error="EOF"`, "127.0.0.1:9334"},
		{`[WARN]  raft: failed to contact: server-id=127.0.0.1:9335 time=2.5s`, "127.0.0.1:9335"},
		{`[WARN]  raft: failed to contact quorum of nodes, stepping down`, ""},
		{`[ERROR] raft: failed to take snapshot: error="x"`, ""},
		{`[INFO]  raft: pipelining replication: peer="{Voter 127.0.0.1:9334 127.0.0.1:9334}"`, ""},
	}
	for _, tt := range tests {
		if got := failedPeer(tt.line); got != tt.want {
			t.Errorf("failedPeer(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
	if got := recoveredPeer(tests[5].line); got != "127.0.0.1:9334" {
		t.Errorf("recoveredPeer = %q", got)
	}
}

// TestPeerDownLoggedOncePerStateChange: a peer's failures every 0.6 s are
// news once; after it is back (or quiet for peerQuiet), again.
func TestPeerDownLoggedOncePerStateChange(t *testing.T) {
	now := time.Unix(1000, 0)
	g := newGlogWriter()
	g.now = func() time.Time { return now }
	steps := []struct {
		advance  time.Duration
		event    string // "fail" or "back"
		peer     string
		wantNews bool
	}{
		{0, "fail", "a", true},
		{600 * time.Millisecond, "fail", "a", false},
		{600 * time.Millisecond, "fail", "a", false},
		{0, "fail", "b", true},
		{0, "back", "a", true},
		{600 * time.Millisecond, "fail", "a", true},
		{0, "back", "c", false},
		{peerQuiet, "fail", "b", true},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		var news bool
		if s.event == "fail" {
			news = g.failure(s.peer)
		} else {
			news = g.recovered(s.peer)
		}
		if news != s.wantNews {
			t.Errorf("step %d (%s %s): news %v, want %v", i, s.event, s.peer, news, s.wantNews)
		}
	}
}
