package volumeserver

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

// replicaSide is one replica of a volume as a pairwise sync sees it: the
// local Volume or a peer reached over HTTP.
type replicaSide interface {
	name() string
	status(ctx context.Context) (SyncStatus, error)
	since(ctx context.Context, ts uint64) ([]volume.RecordInfo, error)
	records(ctx context.Context, offsets []int64) ([][]byte, error)
	apply(ctx context.Context, recs [][]byte, opts volume.ApplyOptions) (volume.ApplyResult, error)
	digest(ctx context.Context) (volume.Digest, error)
	keyStates(ctx context.Context, buckets []int) ([]volume.RecordInfo, error)
}

// localSide is a Volume of this process.
type localSide struct{ v *volume.Volume }

func (l localSide) name() string { return "local" }

func (l localSide) status(context.Context) (SyncStatus, error) { return volumeSyncStatus(l.v) }

func (l localSide) since(_ context.Context, ts uint64) ([]volume.RecordInfo, error) {
	return l.v.RecordsSince(ts)
}

func (l localSide) records(_ context.Context, offsets []int64) ([][]byte, error) {
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

func (l localSide) apply(_ context.Context, recs [][]byte, opts volume.ApplyOptions) (volume.ApplyResult, error) {
	return l.v.ApplyRecords(recs, opts)
}

func (l localSide) digest(context.Context) (volume.Digest, error) { return l.v.Digest() }

func (l localSide) keyStates(_ context.Context, buckets []int) ([]volume.RecordInfo, error) {
	return l.v.KeyStates(buckets)
}

// volumeSyncStatus describes a local volume for a sync.
func volumeSyncStatus(v *volume.Volume) (SyncStatus, error) {
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
	Limit *rateLimiter
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

// maxBatchRecords and maxBatchBytes bound one copy request.
const (
	maxBatchRecords = 256
	maxBatchBytes   = 8 << 20
)

// reconcile makes two replicas of a volume agree under the newest-wins
// rule (docs/consistency.md): first the records each appended since a
// point shortly before the older of their last appends, then a digest of
// the live sets, compared per key only in the buckets that differ. Roles
// say which side may receive records and whose absence is authoritative.
// It returns errDigestMismatch when the digests still differ after the
// last round.
func reconcile(ctx context.Context, local, remote replicaSide, lr, rr sideRole, opts reconcileOptions) (reconcileStats, error) {
	var st reconcileStats
	if opts.Slack == 0 {
		opts.Slack = DefaultSyncSlack
	}
	if opts.Rounds == 0 {
		opts.Rounds = 3
	}
	if !opts.SkipSince {
		ls, rs, err := onBoth(local, remote, "status of %s", func(side replicaSide) (SyncStatus, error) {
			return side.status(ctx)
		})
		if err != nil {
			return st, err
		}
		w := sinceWindow(ls.LastAppendAtNs, rs.LastAppendAtNs, opts.Slack)
		lrecs, rrecs, err := onBoth(local, remote, "records of %s since "+strconv.FormatUint(w, 10), func(side replicaSide) ([]volume.RecordInfo, error) {
			return side.since(ctx, w)
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
		lk, rk, err := onBoth(local, remote, "keys of %s", func(side replicaSide) ([]volume.RecordInfo, error) {
			return side.keyStates(ctx, diff)
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
func onBoth[T any](local, remote replicaSide, what string, get func(replicaSide) (T, error)) (l, r T, err error) {
	if l, err = get(local); err != nil {
		return l, r, fmt.Errorf(what+": %w", local.name(), err)
	}
	if r, err = get(remote); err != nil {
		return l, r, fmt.Errorf(what+": %w", remote.name(), err)
	}
	return l, r, nil
}

// digests returns the digests of both sides.
func digests(ctx context.Context, local, remote replicaSide) (volume.Digest, volume.Digest, error) {
	return onBoth(local, remote, "digest of %s", func(side replicaSide) (volume.Digest, error) { return side.digest(ctx) })
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
func exchange(ctx context.Context, local, remote replicaSide, lm, rm map[needle.Key]volume.RecordInfo, lr, rr sideRole, exact bool, limit *rateLimiter, st *reconcileStats) error {
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
		return fmt.Errorf("copy from %s: %w", remote.name(), err)
	}
	n, err = copyRecords(ctx, local, remote, push, volume.ApplyOptions{AllowNew: lr.Trusted, Repair: true}, limit)
	st.Pushed += n
	if err != nil {
		return fmt.Errorf("copy to %s: %w", remote.name(), err)
	}
	if len(delLocal) > 0 {
		res, err := local.apply(ctx, delLocal, volume.ApplyOptions{})
		if err != nil {
			return fmt.Errorf("delete on %s: %w", local.name(), err)
		}
		st.DeletedLocal += res.Applied
	}
	if len(delRemote) > 0 {
		res, err := remote.apply(ctx, delRemote, volume.ApplyOptions{})
		if err != nil {
			return fmt.Errorf("delete on %s: %w", remote.name(), err)
		}
		st.DeletedRemote += res.Applied
	}
	if st.Pulled+st.Pushed+st.DeletedLocal+st.DeletedRemote > 0 {
		glog.V(2).Infof("sync %s/%s: %v", local.name(), remote.name(), *st)
	}
	return nil
}

// copyRecords reads the listed records from one side in batches and
// applies them on the other; it returns how many were applied.
func copyRecords(ctx context.Context, from, to replicaSide, infos []volume.RecordInfo, opts volume.ApplyOptions, limit *rateLimiter) (int, error) {
	applied := 0
	for len(infos) > 0 {
		n, bytes := 0, int64(0)
		for n < len(infos) && n < maxBatchRecords && bytes < maxBatchBytes {
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
		recs, err := from.records(ctx, offsets)
		if err != nil {
			return applied, err
		}
		res, err := to.apply(ctx, recs, opts)
		applied += res.Applied
		if err != nil {
			return applied, err
		}
	}
	return applied, nil
}

// rateLimiter paces byte transfers to a rate. A nil limiter does not
// limit. Safe for concurrent use.
type rateLimiter struct {
	bytesPerSec float64
	mu          chanMutex
	next        time.Time
}

// chanMutex is a mutex that a context can give up waiting for.
type chanMutex chan struct{}

func newRateLimiter(bytesPerSec int64) *rateLimiter {
	if bytesPerSec <= 0 {
		return nil
	}
	return &rateLimiter{bytesPerSec: float64(bytesPerSec), mu: make(chanMutex, 1)}
}

// Wait blocks until n more bytes fit in the rate, or ctx ends
// (volume.Pacer).
func (l *rateLimiter) Wait(ctx context.Context, n int64) error {
	if l == nil || n <= 0 {
		return nil
	}
	select {
	case l.mu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	start := l.next
	l.next = l.next.Add(time.Duration(float64(n) / l.bytesPerSec * float64(time.Second)))
	<-l.mu
	if d := time.Until(start); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
