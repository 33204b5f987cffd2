package replication

import (
	"context"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/wire"
)

// Masters is how the replica protocol reaches the masters: the calls of
// docs/consistency.md, answered by the leader (followers forward them).
// The volume server implements it over HTTP; tests pass fakes.
type Masters interface {
	// FanoutView returns every replica of vid the master knows, syncing
	// and stale ones included (/dir/lookup?syncing=true); none, and no
	// error, when it knows none.
	FanoutView(ctx context.Context, vid needle.VolumeID) ([]wire.ReplicaLocation, error)
	// MarkStale records, through Raft, that the replicas in nodes missed an
	// operation on vid, and with wildcard that every replica other than
	// those in reached did.
	MarkStale(ctx context.Context, vid needle.VolumeID, nodes []string, wildcard bool, reached []string) error
	// StaleTicket reports whether node is marked stale for vid, with a sync
	// ticket: a sync that starts after it covers every mark set so far.
	StaleTicket(ctx context.Context, vid needle.VolumeID, node string) (wire.StaleReply, error)
	// ReportSynced reports that a sync of node's replica of vid that
	// started at ticket seq finished with the replicas in from; it
	// answers whether node is still marked stale.
	ReportSynced(ctx context.Context, vid needle.VolumeID, node string, seq uint64, from []string) (stale bool, err error)
}

// Peers is how the replica protocol reaches the other replicas of a
// volume. HTTPPeers is the implementation over the volume servers' HTTP
// API; tests pass fakes.
type Peers interface {
	// SendWrite stores rec, the encoded record of a write of fid this
	// server appended, on target.
	SendWrite(ctx context.Context, target string, fid needle.FileID, rec []byte) error
	// SendDelete deletes fid on target with a tombstone stamped ts. A
	// target that does not hold the needle is no error. rolledBack, when
	// not 0, is the append time of the failed write the delete undoes:
	// the target then refuses that write if it arrives later.
	SendDelete(ctx context.Context, target string, fid needle.FileID, ts, rolledBack uint64) error
	// Peer returns target's replica of vid.
	Peer(target string, vid needle.VolumeID) Peer
}

// Config tunes a Coordinator. Zero fields take the defaults.
type Config struct {
	// Pulse is the heartbeat interval: the fan-out view is cached for a
	// pulse, and a server that heard no master for wire.DeadPulses pulses
	// is cut off.
	Pulse time.Duration
	// SyncSlack: see DefaultSyncSlack.
	SyncSlack time.Duration
	// AntiEntropyInterval is the time between anti-entropy passes
	// (negative: none).
	AntiEntropyInterval time.Duration
	// AntiEntropyBytesPerSecond bounds what anti-entropy reads and copies
	// (negative: no limit).
	AntiEntropyBytesPerSecond int64
}

// Deps are a Coordinator's collaborators. Store, Masters, Peers, Fanout
// and Self are required.
type Deps struct {
	// Store holds the volumes this server serves.
	Store *volume.Store
	// Masters and Peers reach the masters and the other replicas.
	Masters Masters
	Peers   Peers
	// Fanout runs an operation on several replicas at once.
	Fanout *Fanout
	// Self returns this server's "ip:port" and whether it is known yet (a
	// server started without an IP learns it from the leader).
	Self func() (addr string, known bool)
	// BeatSoon asks for a heartbeat soon: a volume turned healthy, or was
	// copied here. Nil: none.
	BeatSoon func()
	// InvalidateLookup drops the server's cached read locations of a
	// volume (its client's lookup cache) when the fan-out view is dropped.
	// Nil: none.
	InvalidateLookup func(vid needle.VolumeID)
}
