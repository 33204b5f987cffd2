package raftnode

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/weedfs/weed/needle"
)

// commandType is the first byte of every Raft log entry the master writes;
// the rest of the entry is the command's encoded body.
type commandType byte

// The commands of the master's state machine. Values are stored in Raft logs
// on disk: never renumber them, only add new ones.
const (
	// cmdMaxVolumeID raises the highest volume id; body: uint32 big-endian.
	cmdMaxVolumeID commandType = 1
	// cmdFileKeyLease raises the file-key high-water mark; body: uint64
	// big-endian, the new mark (every key below it may have been issued).
	cmdFileKeyLease commandType = 2
	// cmdStaleMark records stale replicas of a volume; body: JSON
	// staleMarkCmd. Result: the mark's log index.
	cmdStaleMark commandType = 3
	// cmdStaleSynced reports a replica's sync; body: JSON staleSyncedCmd.
	// Result: whether the replica is still stale.
	cmdStaleSynced commandType = 4
	// cmdStaleForget drops a deleted replica's marks; body: JSON
	// staleForgetCmd.
	cmdStaleForget commandType = 5
)

// fsmApplyFuncs is the command table: one apply function per command type.
// A command missing from it makes Apply panic.
var fsmApplyFuncs = map[commandType]func(*FSM, []byte){
	cmdMaxVolumeID:  (*FSM).applyMaxVolumeID,
	cmdFileKeyLease: (*FSM).applyFileKeyLease,
}

// fsmIndexedApplyFuncs are the commands that need their log index and
// return a result (the ApplyFuture's Response).
var fsmIndexedApplyFuncs = map[commandType]func(*FSM, uint64, []byte) any{
	cmdStaleMark:   (*FSM).applyStaleMark,
	cmdStaleSynced: (*FSM).applyStaleSynced,
	cmdStaleForget: (*FSM).applyStaleForget,
}

// An FSM snapshot starts with a version byte. Version 1 is
// version(1) maxVolumeID(4) fileKeyMark(8), big-endian. Version 2 appends
// the stale marks as JSON.
const (
	snapshotVersion1 = 1
	snapshotV1Size   = 1 + 4 + 8
	snapshotVersion2 = 2
	// maxSnapshotSize bounds what Restore reads.
	maxSnapshotSize = 256 << 20
)

// FSM is the master's replicated state machine: the highest volume id handed
// out or observed, and the file-key high-water mark. Both only ever go up.
// It implements raft.FSM; its getters are safe for concurrent use with Apply.
type FSM struct {
	mu          sync.RWMutex
	maxVolumeID needle.VolumeID
	fileKeyMark uint64
	stale       staleState // stale_fsm.go
}

var _ raft.FSM = (*FSM)(nil)

// NewFSM returns an empty state machine (no volume ids, no keys issued).
func NewFSM() *FSM { return &FSM{} }

// MaxVolumeID returns the highest volume id handed out or observed.
func (f *FSM) MaxVolumeID() needle.VolumeID {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.maxVolumeID
}

// FileKeyMark returns the file-key high-water mark: every key below it may
// have been issued, no key at or above it has been.
func (f *FSM) FileKeyMark() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.fileKeyMark
}

// Apply applies one committed log entry. It panics on an empty entry, an
// unknown command or a malformed body: a replica that cannot apply an entry
// must stop rather than diverge from the others. It returns the command's
// result: nil, or for the stale-mark commands what stale_fsm.go says.
func (f *FSM) Apply(l *raft.Log) interface{} {
	if len(l.Data) == 0 {
		panic(fmt.Sprintf("master fsm: empty command at index %d", l.Index))
	}
	if apply, ok := fsmIndexedApplyFuncs[commandType(l.Data[0])]; ok {
		return apply(f, l.Index, l.Data[1:])
	}
	apply, ok := fsmApplyFuncs[commandType(l.Data[0])]
	if !ok {
		panic(fmt.Sprintf("master fsm: unknown command %d at index %d", l.Data[0], l.Index))
	}
	apply(f, l.Data[1:])
	return nil
}

// applyMaxVolumeID raises the highest volume id; a lower one is a no-op.
func (f *FSM) applyMaxVolumeID(body []byte) {
	if len(body) != 4 {
		panic(fmt.Sprintf("master fsm: max volume id body of %d bytes", len(body)))
	}
	vid := needle.VolumeID(binary.BigEndian.Uint32(body))
	f.mu.Lock()
	if vid > f.maxVolumeID {
		f.maxVolumeID = vid
	}
	f.mu.Unlock()
}

// applyFileKeyLease raises the file-key high-water mark; a lower one is a
// no-op.
func (f *FSM) applyFileKeyLease(body []byte) {
	if len(body) != 8 {
		panic(fmt.Sprintf("master fsm: file key lease body of %d bytes", len(body)))
	}
	mark := binary.BigEndian.Uint64(body)
	f.mu.Lock()
	if mark > f.fileKeyMark {
		f.fileKeyMark = mark
	}
	f.mu.Unlock()
}

// encodeMaxVolumeID returns the log entry raising the max volume id to vid.
func encodeMaxVolumeID(vid needle.VolumeID) []byte {
	b := make([]byte, 5)
	b[0] = byte(cmdMaxVolumeID)
	binary.BigEndian.PutUint32(b[1:], uint32(vid))
	return b
}

// encodeFileKeyLease returns the log entry raising the file-key mark to mark.
func encodeFileKeyLease(mark uint64) []byte {
	b := make([]byte, 9)
	b[0] = byte(cmdFileKeyLease)
	binary.BigEndian.PutUint64(b[1:], mark)
	return b
}

// Snapshot captures the current state; the returned snapshot does not
// change when the FSM does.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &fsmSnapshot{maxVolumeID: f.maxVolumeID, fileKeyMark: f.fileKeyMark, stale: f.stale.clone()}, nil
}

// Restore replaces the state with a snapshot written by Snapshot. It
// returns ErrBadSnapshot (wrapped) for an unknown version or a wrong size.
// It closes rc.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxSnapshotSize+1))
	if err != nil {
		return fmt.Errorf("read master snapshot: %w", err)
	}
	if len(b) == 0 || (b[0] != snapshotVersion1 && b[0] != snapshotVersion2) {
		return fmt.Errorf("%w: unknown version", ErrBadSnapshot)
	}
	if b[0] == snapshotVersion1 && len(b) != snapshotV1Size {
		return fmt.Errorf("%w: %d bytes for version 1", ErrBadSnapshot, len(b))
	}
	if len(b) < snapshotV1Size || len(b) > maxSnapshotSize {
		return fmt.Errorf("%w: %d bytes for version %d", ErrBadSnapshot, len(b), b[0])
	}
	var marks staleState
	if b[0] == snapshotVersion2 {
		if err := json.Unmarshal(b[snapshotV1Size:], &marks); err != nil {
			return fmt.Errorf("%w: stale marks: %w", ErrBadSnapshot, err)
		}
		// Only what encode writes: marks present and in canonical form.
		if canon, err := json.Marshal(marks); len(marks) == 0 || err != nil || !bytes.Equal(canon, b[snapshotV1Size:]) {
			return fmt.Errorf("%w: stale marks not in canonical form", ErrBadSnapshot)
		}
		if !marks.wellFormed() {
			return fmt.Errorf("%w: empty stale mark entries", ErrBadSnapshot)
		}
	}
	f.mu.Lock()
	f.maxVolumeID = needle.VolumeID(binary.BigEndian.Uint32(b[1:5]))
	f.fileKeyMark = binary.BigEndian.Uint64(b[5:13])
	f.stale = marks
	f.mu.Unlock()
	return nil
}

// fsmSnapshot is a point-in-time copy of the FSM state.
type fsmSnapshot struct {
	maxVolumeID needle.VolumeID
	fileKeyMark uint64
	stale       staleState
}

// encode returns the versioned snapshot bytes: version 1 when there are
// no stale marks, version 2 otherwise.
func (s *fsmSnapshot) encode() []byte {
	b := make([]byte, snapshotV1Size)
	b[0] = snapshotVersion1
	binary.BigEndian.PutUint32(b[1:5], uint32(s.maxVolumeID))
	binary.BigEndian.PutUint64(b[5:13], s.fileKeyMark)
	if len(s.stale) == 0 {
		return b
	}
	marks, err := json.Marshal(s.stale)
	if err != nil {
		panic(fmt.Sprintf("master fsm: encode stale marks: %v", err))
	}
	b[0] = snapshotVersion2
	return append(b, marks...)
}

// Persist writes the snapshot to sink and closes it, or cancels it on error.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.encode()); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("write master snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("close master snapshot: %w", err)
	}
	return nil
}

// Release does nothing: the snapshot holds no resources.
func (s *fsmSnapshot) Release() {}
