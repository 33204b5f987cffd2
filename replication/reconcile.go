package replication

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
)

// DefaultSyncSlack is how far before the older of two replicas' last
// append times a rejoin sync starts listing records: timestamps of
// different primaries are only roughly ordered.
const DefaultSyncSlack = 60 * time.Second

// errDigestMismatch means two replicas still differ after a sync's last
// round (operations in flight, or keys neither side may decide).
var errDigestMismatch = errors.New("replica digests still differ")

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

// reconcileOptions tune one pairwise sync.
type reconcileOptions struct {
	// Slack widens the since window (DefaultSyncSlack when 0).
	Slack time.Duration
	// Rounds is how many digest comparisons to make (3 when 0); rounds
	// after the first wait RoundPause for operations in flight to land.
	Rounds     int
	RoundPause time.Duration
	// Limit, when set, paces the bytes copied.
	Limit *RateLimiter
	// SkipSince goes straight to the digests (anti-entropy).
	SkipSince bool
}

// reconcileStats counts what a pairwise sync copied.
type reconcileStats struct {
	Pulled, Pushed, DeletedLocal, DeletedRemote int
	Rounds                                      int
}

func (s reconcileStats) String() string {
	return fmt.Sprintf("pulled %d, pushed %d, deleted %d here and %d there, %d digest rounds",
		s.Pulled, s.Pushed, s.DeletedLocal, s.DeletedRemote, s.Rounds)
}

// MaxBatchRecords and MaxBatchBytes bound one copy request of a sync
// (wire.SyncRecordsPath, wire.SyncApplyPath).
const (
	MaxBatchRecords = 256
	MaxBatchBytes   = 8 << 20
)

// reconcile makes two replicas of a volume agree under the newest-wins
// rule (docs/consistency.md): first the records each appended since a
// point shortly before the older of their last appends, then a digest of
// the live sets, compared per key only in the buckets that differ. Roles
// say which side may receive records and whose absence is authoritative.
// It returns errDigestMismatch when the digests still differ after the
// last round.
func reconcile(ctx context.Context, local, remote Side, lr, rr sideRole, opts reconcileOptions) (reconcileStats, error) {
	var st reconcileStats
	if opts.Slack == 0 {
		opts.Slack = DefaultSyncSlack
	}
	if opts.Rounds == 0 {
		opts.Rounds = 3
	}
	if !opts.SkipSince {
		ls, rs, err := onBoth(local, remote, "status of %s", func(side Side) (SyncStatus, error) {
			return side.Status(ctx)
		})
		if err != nil {
			return st, err
		}
		w := sinceWindow(ls.LastAppendAtNs, rs.LastAppendAtNs, opts.Slack)
		lrecs, rrecs, err := onBoth(local, remote, "records of %s since "+strconv.FormatUint(w, 10), func(side Side) ([]volume.RecordInfo, error) {
			return side.Since(ctx, w)
		})
		if err != nil {
			return st, err
		}
		if err := exchange(ctx, local, remote, latestPerKey(lrecs), latestPerKey(rrecs), lr, rr, false, opts.Limit, &st); err != nil {
			return st, err
		}
	}
	for round := 0; round < opts.Rounds; round++ {
		if round > 0 && opts.RoundPause > 0 {
			select {
			case <-ctx.Done():
				return st, ctx.Err()
			case <-time.After(opts.RoundPause):
			}
		}
		st.Rounds++
		ld, rd, err := digests(ctx, local, remote)
		if err != nil {
			return st, err
		}
		diff := ld.Differing(&rd)
		if len(diff) == 0 {
			return st, nil
		}
		lk, rk, err := onBoth(local, remote, "keys of %s", func(side Side) ([]volume.RecordInfo, error) {
			return side.KeyStates(ctx, diff)
		})
		if err != nil {
			return st, err
		}
		if err := exchange(ctx, local, remote, latestPerKey(lk), latestPerKey(rk), lr, rr, true, opts.Limit, &st); err != nil {
			return st, err
		}
	}
	ld, rd, err := digests(ctx, local, remote)
	if err != nil {
		return st, err
	}
	if diff := ld.Differing(&rd); len(diff) > 0 {
		return st, fmt.Errorf("%w: %d of %d buckets after %d rounds", errDigestMismatch, len(diff), volume.DigestBuckets, st.Rounds)
	}
	return st, nil
}

// onBoth asks the local side, then the remote one, with get. An error
// says what was asked of which side: what is a format with one %s, the
// side's name ("digest of %s").
func onBoth[T any](local, remote Side, what string, get func(Side) (T, error)) (l, r T, err error) {
	if l, err = get(local); err != nil {
		return l, r, fmt.Errorf(what+": %w", local.Name(), err)
	}
	if r, err = get(remote); err != nil {
		return l, r, fmt.Errorf(what+": %w", remote.Name(), err)
	}
	return l, r, nil
}

// digests returns the digests of both sides.
func digests(ctx context.Context, local, remote Side) (volume.Digest, volume.Digest, error) {
	return onBoth(local, remote, "digest of %s", func(side Side) (volume.Digest, error) { return side.Digest(ctx) })
}

// sinceWindow is where a since listing starts: slack before the older of
// the two last append times, or the beginning when either side is empty.
func sinceWindow(a, b uint64, slack time.Duration) uint64 {
	w := min(a, b)
	if w == 0 || w <= uint64(slack) {
		return 0
	}
	return w - uint64(slack)
}

// latestPerKey keeps, for each key, the winning record of a listing.
func latestPerKey(recs []volume.RecordInfo) map[needle.Key]volume.RecordInfo {
	m := make(map[needle.Key]volume.RecordInfo, len(recs))
	for _, r := range recs {
		if old, ok := m[r.Key]; !ok || volume.Newer(r.State(), old.State()) {
			m[r.Key] = r
		}
	}
	return m
}

// exchange decides every key of the two listings and carries the copies
// and deletes out.
func exchange(ctx context.Context, local, remote Side, lm, rm map[needle.Key]volume.RecordInfo, lr, rr sideRole, exact bool, limit *RateLimiter, st *reconcileStats) error {
	var pull, push []volume.RecordInfo
	var delLocal, delRemote [][]byte
	seen := func(k needle.Key) {
		l, lok := lm[k]
		r, rok := rm[k]
		var ls, rs volume.RecordState
		if lok {
			ls = l.State()
		}
		if rok {
			rs = r.State()
		}
		switch decideKey(ls, rs, lr, rr, exact) {
		case actPull:
			pull = append(pull, r)
		case actPush:
			push = append(push, l)
		case actDeleteLocal:
			delLocal = append(delLocal, volume.TombstoneRecord(k, l.Cookie, l.AppendAtNs+1))
		case actDeleteRemote:
			delRemote = append(delRemote, volume.TombstoneRecord(k, r.Cookie, r.AppendAtNs+1))
		}
	}
	for k := range lm {
		seen(k)
	}
	for k := range rm {
		if _, ok := lm[k]; !ok {
			seen(k)
		}
	}
	// Repair: a copy of the same time replaces a damaged live needle.
	n, err := copyRecords(ctx, remote, local, pull, volume.ApplyOptions{AllowNew: rr.Trusted, Repair: true}, limit)
	st.Pulled += n
	if err != nil {
		return fmt.Errorf("copy from %s: %w", remote.Name(), err)
	}
	n, err = copyRecords(ctx, local, remote, push, volume.ApplyOptions{AllowNew: lr.Trusted, Repair: true}, limit)
	st.Pushed += n
	if err != nil {
		return fmt.Errorf("copy to %s: %w", remote.Name(), err)
	}
	if len(delLocal) > 0 {
		res, err := local.Apply(ctx, delLocal, volume.ApplyOptions{})
		if err != nil {
			return fmt.Errorf("delete on %s: %w", local.Name(), err)
		}
		st.DeletedLocal += res.Applied
	}
	if len(delRemote) > 0 {
		res, err := remote.Apply(ctx, delRemote, volume.ApplyOptions{})
		if err != nil {
			return fmt.Errorf("delete on %s: %w", remote.Name(), err)
		}
		st.DeletedRemote += res.Applied
	}
	if st.Pulled+st.Pushed+st.DeletedLocal+st.DeletedRemote > 0 {
		glog.V(2).Infof("sync %s/%s: %v", local.Name(), remote.Name(), *st)
	}
	return nil
}

// copyRecords reads the listed records from one side in batches and
// applies them on the other; it returns how many were applied.
func copyRecords(ctx context.Context, from, to Side, infos []volume.RecordInfo, opts volume.ApplyOptions, limit *RateLimiter) (int, error) {
	applied := 0
	for len(infos) > 0 {
		n, bytes := 0, int64(0)
		for n < len(infos) && n < MaxBatchRecords && bytes < MaxBatchBytes {
			bytes += needle.RecordLen(infos[n].Size, needle.Version3)
			n++
		}
		offsets := make([]int64, n)
		for i := range offsets {
			offsets[i] = infos[i].Offset
		}
		infos = infos[n:]
		if err := limit.Wait(ctx, bytes); err != nil {
			return applied, err
		}
		recs, err := from.Records(ctx, offsets)
		if err != nil {
			return applied, err
		}
		res, err := to.Apply(ctx, recs, opts)
		applied += res.Applied
		if err != nil {
			return applied, err
		}
	}
	return applied, nil
}
