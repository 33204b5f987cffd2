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
