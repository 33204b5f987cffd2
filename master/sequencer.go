// Package master is the weed master: topology from heartbeats, fid
// assignment, volume growth and vacuum over HTTP, with the state that must
// never go backwards replicated by Raft.
package master

import (
	"context"
	"time"

	"github.com/weedfs/weed/needle"
)

// Sequencer hands out what must never be handed out twice: file keys and
// volume ids. Only the leader can; a follower returns raftnode.ErrNotLeader (wrapped). Safe for
// concurrent use.
type Sequencer interface {
	// NextFileKeys reserves count consecutive keys and returns the first.
	// Keys are above every key any earlier leader could have issued.
	NextFileKeys(ctx context.Context, count uint64) (needle.Key, error)
	// NextVolumeID returns a volume id above every id handed out or observed.
	NextVolumeID(ctx context.Context) (needle.VolumeID, error)
	// ObserveVolumeID raises the volume id high-water mark to at least vid
	// (a volume reported by a heartbeat, e.g. one copied in by hand).
	ObserveVolumeID(ctx context.Context, vid needle.VolumeID) error
	// ObserveFileKey raises the file key high-water mark to at least key, so
	// keys of volumes copied in from elsewhere are never reissued.
	ObserveFileKey(ctx context.Context, key needle.Key) error
}

// Leadership tells who leads the master group. Safe for concurrent use.
type Leadership interface {
	// IsLeader reports whether this master is the leader now.
	IsLeader() bool
	// Leader returns the leader's HTTP address ("host:port"), or "" while
	// there is none.
	Leader() string
	// Self returns this master's HTTP address as named in -peers.
	Self() string
	// Peers returns the HTTP addresses of the other members.
	Peers() []string
	// LeaderSince returns when this master last became leader, or the zero
	// time if it is not the leader. The master waits a few pulses after
	// winning before it grows volumes, so that its topology is rebuilt from
	// heartbeats first.
	LeaderSince() time.Time
}
