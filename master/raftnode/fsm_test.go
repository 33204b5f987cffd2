package raftnode

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/weedfs/weed/needle"
)

func applyAll(f *FSM, cmds ...[]byte) {
	for i, c := range cmds {
		f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: c})
	}
}

func TestFSMApply(t *testing.T) {
	tests := []struct {
		name    string
		cmds    [][]byte
		wantVID needle.VolumeID
		wantKey uint64
	}{
		{"empty", nil, 0, 0},
		{"one volume id", [][]byte{encodeMaxVolumeID(7)}, 7, 0},
		{"one lease", [][]byte{encodeFileKeyLease(10000)}, 0, 10000},
		{"both, interleaved", [][]byte{encodeMaxVolumeID(1), encodeFileKeyLease(10000), encodeMaxVolumeID(2), encodeFileKeyLease(20000)}, 2, 20000},
		{"lower values are no-ops", [][]byte{encodeMaxVolumeID(9), encodeMaxVolumeID(3), encodeFileKeyLease(50), encodeFileKeyLease(49)}, 9, 50},
		{"idempotent", [][]byte{encodeMaxVolumeID(4), encodeMaxVolumeID(4), encodeFileKeyLease(8), encodeFileKeyLease(8)}, 4, 8},
		{"extremes", [][]byte{encodeMaxVolumeID(1<<32 - 1), encodeFileKeyLease(1<<64 - 1)}, 1<<32 - 1, 1<<64 - 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFSM()
			applyAll(f, tc.cmds...)
			if got := f.MaxVolumeID(); got != tc.wantVID {
				t.Errorf("MaxVolumeID = %d, want %d", got, tc.wantVID)
			}
			if got := f.FileKeyMark(); got != tc.wantKey {
				t.Errorf("FileKeyMark = %d, want %d", got, tc.wantKey)
			}
			// Replaying the whole log again changes nothing: state only goes up.
			applyAll(f, tc.cmds...)
			if f.MaxVolumeID() != tc.wantVID || f.FileKeyMark() != tc.wantKey {
				t.Errorf("replay changed state to %d/%d", f.MaxVolumeID(), f.FileKeyMark())
			}
		})
	}
}

func TestFSMApplyPanicsOnBadCommand(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"unknown type", []byte{0x7f, 1, 2, 3, 4}},
		{"type zero", []byte{0}},
		{"short volume id body", []byte{byte(cmdMaxVolumeID), 1, 2}},
		{"long lease body", append(encodeFileKeyLease(5), 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFSM()
			defer func() {
				if recover() == nil {
					t.Fatalf("Apply(%x) did not panic", tc.data)
				}
				if f.MaxVolumeID() != 0 || f.FileKeyMark() != 0 {
					t.Errorf("state changed before panic: %d/%d", f.MaxVolumeID(), f.FileKeyMark())
				}
			}()
			f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: tc.data})
		})
	}
}

// snapshotBytes persists f's snapshot into an in-memory snapshot store and
// returns what was written.
func snapshotBytes(t *testing.T, s raft.FSMSnapshot) []byte {
	t.Helper()
	store := raft.NewInmemSnapshotStore()
	sink, err := store.Create(raft.SnapshotVersionMax, 1, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Persist(sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	s.Release()
	_, rc, err := store.Open(sink.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFSMSnapshotRestore(t *testing.T) {
	f := NewFSM()
	applyAll(f, encodeMaxVolumeID(42), encodeFileKeyLease(123456789))
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Later commands must not leak into the snapshot already taken.
	applyAll(f, encodeMaxVolumeID(43), encodeFileKeyLease(223456789))
	b := snapshotBytes(t, snap)
	if len(b) != snapshotV1Size || b[0] != snapshotVersion1 {
		t.Fatalf("snapshot = %x, want version 1 of %d bytes", b, snapshotV1Size)
	}

	g := NewFSM()
	applyAll(g, encodeMaxVolumeID(1000), encodeFileKeyLease(1<<40)) // restore replaces, not merges
	if err := g.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if g.MaxVolumeID() != 42 || g.FileKeyMark() != 123456789 {
		t.Fatalf("restored %d/%d, want 42/123456789", g.MaxVolumeID(), g.FileKeyMark())
	}
	again, err := g.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if b2 := snapshotBytes(t, again); !bytes.Equal(b, b2) {
		t.Fatalf("round trip changed snapshot: %x then %x", b, b2)
	}
}

func TestFSMRestoreRejects(t *testing.T) {
	good := (&fsmSnapshot{maxVolumeID: 3, fileKeyMark: 4}).encode()
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"unknown version", append([]byte{9}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(append([]byte{}, good...), 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFSM()
			applyAll(f, encodeMaxVolumeID(5))
			err := f.Restore(io.NopCloser(bytes.NewReader(tc.data)))
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("Restore(%x) = %v, want ErrBadSnapshot", tc.data, err)
			}
			if f.MaxVolumeID() != 5 {
				t.Errorf("failed restore changed state to %d", f.MaxVolumeID())
			}
		})
	}
}

func FuzzFSMRestore(f *testing.F) {
	f.Add((&fsmSnapshot{maxVolumeID: 3, fileKeyMark: 4}).encode())
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		m := NewFSM()
		if err := m.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			return
		}
		s := &fsmSnapshot{maxVolumeID: m.MaxVolumeID(), fileKeyMark: m.FileKeyMark(), stale: m.stale}
		if !bytes.Equal(s.encode(), data) {
			t.Fatalf("accepted %x but re-encodes as %x", data, s.encode())
		}
	})
}
