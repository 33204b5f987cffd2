package raftnode

import (
	"bytes"
	"io"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/weedfs/weed/needle"
)

// fsmAt applies cmd to f as log entry idx and returns the result.
func fsmAt(f *FSM, idx uint64, cmd []byte) any {
	return f.Apply(&raft.Log{Index: idx, Data: cmd})
}

func mark(vid needle.VolumeID, nodes ...string) []byte {
	return encodeStaleCmd(cmdStaleMark, staleMarkCmd{Volume: vid, Nodes: nodes})
}

func wildcard(vid needle.VolumeID, reached ...string) []byte {
	return encodeStaleCmd(cmdStaleMark, staleMarkCmd{Volume: vid, Wildcard: true, Reached: reached})
}

func synced(vid needle.VolumeID, node string, ticket uint64, from ...string) []byte {
	return encodeStaleCmd(cmdStaleSynced, staleSyncedCmd{Volume: vid, Node: node, Ticket: ticket, From: from})
}

func TestStaleMarks(t *testing.T) {
	type step struct {
		idx  uint64
		cmd  []byte
		want any // result of the command, when not nil
	}
	type check struct {
		node  string
		stale bool
	}
	tests := []struct {
		name   string
		steps  []step
		checks []check
	}{
		{
			name:   "an explicit mark",
			steps:  []step{{10, mark(1, "b"), uint64(10)}},
			checks: []check{{"a", false}, {"b", true}},
		},
		{
			name:   "a sync from a replica that is not stale clears it",
			steps:  []step{{10, mark(1, "b"), nil}, {11, synced(1, "b", 10, "a"), false}},
			checks: []check{{"b", false}},
		},
		{
			name:   "a sync that started before the mark does not",
			steps:  []step{{10, mark(1, "b"), nil}, {11, synced(1, "b", 9, "a"), true}},
			checks: []check{{"b", true}},
		},
		{
			name:   "a sync with no source does not",
			steps:  []step{{10, mark(1, "b"), nil}, {11, synced(1, "b", 10), true}},
			checks: []check{{"b", true}},
		},
		{
			name:   "a sync from a stale replica does not",
			steps:  []step{{10, mark(1, "b", "c"), nil}, {11, synced(1, "b", 10, "c"), true}},
			checks: []check{{"b", true}, {"c", true}},
		},
		{
			name:   "a sync from a replica cleared after the ticket does not",
			steps:  []step{{10, mark(1, "b", "c"), nil}, {11, synced(1, "c", 10, "a"), false}, {12, synced(1, "b", 10, "c"), true}},
			checks: []check{{"b", true}, {"c", false}},
		},
		{
			name:   "a sync from a replica cleared before the ticket does",
			steps:  []step{{10, mark(1, "b", "c"), nil}, {11, synced(1, "c", 10, "a"), false}, {12, synced(1, "b", 11, "c"), false}},
			checks: []check{{"b", false}},
		},
		{
			name:   "a wildcard marks every replica the operation did not reach",
			steps:  []step{{10, wildcard(1, "a"), nil}},
			checks: []check{{"a", false}, {"b", true}, {"never-seen", true}},
		},
		{
			name:   "a newer wildcard marks a replica reached by the older one",
			steps:  []step{{10, wildcard(1, "a", "b"), nil}, {12, wildcard(1, "a"), nil}},
			checks: []check{{"a", false}, {"b", true}},
		},
		{
			name:   "a sync clears a wildcard for its replica only",
			steps:  []step{{10, wildcard(1, "a"), nil}, {11, synced(1, "b", 10, "a"), false}},
			checks: []check{{"b", false}, {"c", true}},
		},
		{
			name:   "other volumes are not affected",
			steps:  []step{{10, mark(2, "b"), nil}, {11, wildcard(3, "a"), nil}},
			checks: []check{{"b", false}},
		},
		{
			name: "forget drops a replica's marks",
			steps: []step{{10, mark(1, "b"), nil},
				{11, encodeStaleCmd(cmdStaleForget, staleForgetCmd{Volume: 1, Node: "b"}), nil}},
			checks: []check{{"b", false}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFSM()
			for _, s := range tc.steps {
				got := fsmAt(f, s.idx, s.cmd)
				if s.want != nil && got != s.want {
					t.Fatalf("entry %d returned %v, want %v", s.idx, got, s.want)
				}
			}
			for _, c := range tc.checks {
				if got := f.IsStale(1, c.node); got != c.stale {
					t.Errorf("IsStale(1, %s) = %v, want %v", c.node, got, c.stale)
				}
			}
			// A snapshot carries the marks.
			snap, err := f.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			g := NewFSM()
			if err := g.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, snap)))); err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.checks {
				if got := g.IsStale(1, c.node); got != c.stale {
					t.Errorf("after a snapshot: IsStale(1, %s) = %v, want %v", c.node, got, c.stale)
				}
			}
		})
	}
}

func TestMarkCovered(t *testing.T) {
	f := NewFSM()
	fsmAt(f, 10, mark(1, "b"))
	fsmAt(f, 11, wildcard(2, "a"))
	tests := []struct {
		name     string
		vid      needle.VolumeID
		nodes    []string
		wildcard bool
		reached  []string
		floor    uint64
		want     bool
	}{
		{"same node, no ticket since", 1, []string{"b"}, false, nil, 5, true},
		{"same node, a ticket since", 1, []string{"b"}, false, nil, 10, false},
		{"another node", 1, []string{"c"}, false, nil, 5, false},
		{"same wildcard", 2, nil, true, []string{"a"}, 5, true},
		{"wildcard reaching more", 2, nil, true, []string{"a", "c"}, 5, true},
		{"wildcard no longer reaching a", 2, nil, true, []string{"c"}, 5, false},
		{"wildcard after a ticket", 2, nil, true, []string{"a"}, 11, false},
		{"unknown volume", 3, []string{"b"}, false, nil, 0, false},
	}
	for _, tc := range tests {
		if got := f.markCovered(tc.vid, tc.nodes, tc.wildcard, tc.reached, tc.floor); got != tc.want {
			t.Errorf("%s: markCovered = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSnapshotWithMarksRejectsNonCanonical(t *testing.T) {
	f := NewFSM()
	fsmAt(f, 3, mark(1, "b"))
	snap, _ := f.Snapshot()
	good := snapshotBytes(t, snap)
	if good[0] != snapshotVersion2 {
		t.Fatalf("snapshot with marks has version %d, want 2", good[0])
	}
	for _, bad := range [][]byte{
		append(append([]byte{}, good[:snapshotV1Size]...), []byte("{}")...),
		append(append([]byte{}, good[:snapshotV1Size]...), []byte(`{"1":null}`)...),
		append(append([]byte{}, good...), ' '),
	} {
		if err := NewFSM().Restore(io.NopCloser(bytes.NewReader(bad))); err == nil {
			t.Errorf("Restore(%q) accepted", bad[snapshotV1Size:])
		}
	}
}
