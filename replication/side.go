package replication

import (
	"context"
	"errors"

	"github.com/golang/glog"

	"github.com/weedfs/weed/volume"
)

// SyncStatus is a replica's answer to /admin/sync/status.
type SyncStatus struct {
	LastAppendAtNs  uint64 `json:"lastAppendAtNs"`
	CompactRevision uint16 `json:"compactRevision"`
	FileCount       uint64 `json:"fileCount"`
	Size            uint64 `json:"size"`
	// Syncing: the replica is catching up and serves no reads.
	Syncing bool `json:"syncing"`
	// Fresh: the replica is a copy still being built (re-replication) and
	// is no authority on what the volume holds.
	Fresh bool `json:"fresh,omitempty"`
}

// Side is one replica of a volume as a pairwise sync (reconcile) sees
// it: the local Volume (LocalSide) or a peer reached over HTTP (a Peer of
// HTTPPeers). Both answer alike: replication/sidetest is the conformance
// suite run against each. The record-level methods mean what the volume's
// methods of the same names mean (volume.Volume.RecordsSince, ReadRecord,
// ApplyRecords, Digest, KeyStates).
type Side interface {
	// Name names the side in errors and logs ("local", or the peer's
	// address).
	Name() string
	// Status describes the replica (SyncStatus; Syncing and Fresh are
	// left false by a local side).
	Status(ctx context.Context) (SyncStatus, error)
	// Since lists the records appended since ts (unix ns), roughly:
	// volume.Volume.RecordsSince.
	Since(ctx context.Context, ts uint64) ([]volume.RecordInfo, error)
	// Records returns the records at offsets, in that order; a damaged
	// record is left out.
	Records(ctx context.Context, offsets []int64) ([][]byte, error)
	// Apply applies records under the newest-wins rule:
	// volume.Volume.ApplyRecords.
	Apply(ctx context.Context, recs [][]byte, opts volume.ApplyOptions) (volume.ApplyResult, error)
	// Digest returns the digest of the live set.
	Digest(ctx context.Context) (volume.Digest, error)
	// KeyStates returns the latest record of every key in buckets.
	KeyStates(ctx context.Context, buckets []int) ([]volume.RecordInfo, error)
}

// LocalSide returns v, a Volume of this process, as a Side.
func LocalSide(v *volume.Volume) Side { return localSide{v} }

// localSide is a Volume of this process.
type localSide struct{ v *volume.Volume }

func (l localSide) Name() string { return "local" }

func (l localSide) Status(context.Context) (SyncStatus, error) { return VolumeSyncStatus(l.v) }

func (l localSide) Since(_ context.Context, ts uint64) ([]volume.RecordInfo, error) {
	return l.v.RecordsSince(ts)
}

func (l localSide) Records(_ context.Context, offsets []int64) ([][]byte, error) {
	out := make([][]byte, 0, len(offsets))
	for _, off := range offsets {
		rec, err := l.v.ReadRecord(off)
		if errors.Is(err, volume.ErrBadRecord) {
			// A damaged record is not handed on; read repair or the
			// next sync fixes it here.
			glog.Warningf("volume %d: not copying the record at %d: %v", l.v.ID(), off, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

func (l localSide) Apply(_ context.Context, recs [][]byte, opts volume.ApplyOptions) (volume.ApplyResult, error) {
	return l.v.ApplyRecords(recs, opts)
}

func (l localSide) Digest(context.Context) (volume.Digest, error) { return l.v.Digest() }

func (l localSide) KeyStates(_ context.Context, buckets []int) ([]volume.RecordInfo, error) {
	return l.v.KeyStates(buckets)
}

// VolumeSyncStatus describes a local volume for a sync (Syncing and Fresh
// left false: the replica state is the Coordinator's).
func VolumeSyncStatus(v *volume.Volume) (SyncStatus, error) {
	last, err := v.LastAppendAtNs()
	if err != nil {
		return SyncStatus{}, err
	}
	info := v.Info()
	return SyncStatus{
		LastAppendAtNs:  last,
		CompactRevision: info.CompactRevision,
		FileCount:       info.FileCount - min(info.FileCount, info.DeleteCount),
		Size:            info.Size,
	}, nil
}
