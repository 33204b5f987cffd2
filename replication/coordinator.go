package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/wire"
)

// Defaults of Config's zero fields.
const (
	// DefaultAntiEntropyInterval is the time between two anti-entropy
	// passes (-replication.antiEntropyInterval).
	DefaultAntiEntropyInterval = 10 * time.Minute
	// DefaultCopyBytesPerSecond bounds the .dat streams a server sends for
	// re-replication and backups.
	DefaultCopyBytesPerSecond = 32 << 20
	// DefaultAntiEntropyBytesPerSecond bounds what an anti-entropy pass
	// reads (scrub) and copies.
	DefaultAntiEntropyBytesPerSecond = 8 << 20
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

// Coordinator is one volume server's side of the replica protocol: it
// sends writes and deletes to the other replicas and undoes or marks what
// they missed, keeps the replica state of every volume (healthy or
// syncing), runs rejoin syncs and anti-entropy, repairs damaged reads and
// copies volumes in. It answers with errors; the volume server turns them
// into HTTP replies. Build it with NewCoordinator and run its loops with
// Run. Safe for concurrent use.
type Coordinator struct {
	cfg     Config
	store   *volume.Store
	masters Masters
	peers   Peers
	fanout  *Fanout
	self    func() (string, bool)
	beat    func()
	lookup  func(needle.VolumeID)

	sync *syncer
	view *fanoutView
	// viewGate is held shared by a primary write or delete of a
	// replicated volume from its read of the fan-out view to its local
	// append, and exclusively by a rejoining replica's hello (Hello).
	viewGate sync.RWMutex
	marks    markQueue
	aeLimit  *RateLimiter
	records  sync.Pool // *[]byte: encoded records of writes being replicated

	// wg and running count the goroutines the Coordinator started
	// (goFunc).
	wg      sync.WaitGroup
	running atomic.Int64
}

// NewCoordinator builds a Coordinator. It does no I/O. Every replicated
// volume of the store starts syncing: a server that (re)starts reconciles
// before the master routes to it.
func NewCoordinator(cfg Config, deps Deps) (*Coordinator, error) {
	if deps.Store == nil || deps.Masters == nil || deps.Peers == nil || deps.Fanout == nil || deps.Self == nil {
		return nil, errors.New("replication: NewCoordinator needs a Store, Masters, Peers, a Fanout and Self")
	}
	if cfg.SyncSlack <= 0 {
		cfg.SyncSlack = DefaultSyncSlack
	}
	if cfg.AntiEntropyInterval == 0 {
		cfg.AntiEntropyInterval = DefaultAntiEntropyInterval
	}
	if cfg.AntiEntropyBytesPerSecond == 0 {
		cfg.AntiEntropyBytesPerSecond = DefaultAntiEntropyBytesPerSecond
	}
	if deps.BeatSoon == nil {
		deps.BeatSoon = func() {}
	}
	if deps.InvalidateLookup == nil {
		deps.InvalidateLookup = func(needle.VolumeID) {}
	}
	c := &Coordinator{
		cfg:     cfg,
		store:   deps.Store,
		masters: deps.Masters,
		peers:   deps.Peers,
		fanout:  deps.Fanout,
		self:    deps.Self,
		beat:    deps.BeatSoon,
		lookup:  deps.InvalidateLookup,
		aeLimit: NewRateLimiter(cfg.AntiEntropyBytesPerSecond),
		records: sync.Pool{New: func() any {
			b := make([]byte, 0, 64<<10)
			return &b
		}},
	}
	c.sync = newSyncer(c, cfg.Pulse, cfg.SyncSlack)
	c.view = newFanoutView(deps.Masters, cfg.Pulse)
	c.sync.startAll("the server started")
	return c, nil
}

// Run runs the sync loop (rejoin syncs, the retries of stale marks) and
// the anti-entropy loop until ctx ends, and returns once they and every
// sync they started have returned.
func (c *Coordinator) Run(ctx context.Context) {
	c.goFunc(func() { c.sync.run(ctx) })
	if c.cfg.AntiEntropyInterval > 0 {
		c.goFunc(func() { c.runAntiEntropy(ctx, c.cfg.AntiEntropyInterval) })
	}
	<-ctx.Done()
	c.wg.Wait()
}

// Running returns the number of goroutines the Coordinator started that
// have not returned yet (for tests).
func (c *Coordinator) Running() int64 { return c.running.Load() }

// goFunc runs f in a goroutine the Coordinator owns: Run waits for it
// (hashicorp/raft's goFunc). Only Run and the goroutines it started call
// it, so the count never drops to zero while one is added.
func (c *Coordinator) goFunc(f func()) {
	c.wg.Add(1)
	c.running.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.running.Add(-1)
		f()
	}()
}

// selfAddr returns this server's "ip:port", or ":port" while unknown.
func (c *Coordinator) selfAddr() string {
	addr, _ := c.self()
	return addr
}

// needsSync reports whether a volume takes part in rejoin syncs: it is
// replicated and its records carry append times.
func needsSync(v *volume.Volume) bool { return v.Placement().CopyCount() > 1 && v.Syncable() }

// isMissing reports whether err means the needle is not there to read or
// delete (a wrong cookie looks the same from outside).
func isMissing(err error) bool {
	return errors.Is(err, needle.ErrNotFound) || errors.Is(err, needle.ErrDeleted) || errors.Is(err, needle.ErrCookieMismatch)
}

// IsMissing reports whether err, from Delete or the engine, means the
// needle is not there (not found, deleted, or a wrong cookie, which looks
// the same from outside).
func IsMissing(err error) bool { return isMissing(err) }

// LocalError is the failure of an operation on this server's own volume:
// the engine's error (volume.ErrReadOnly, a full disk, needle.ErrNotFound,
// ...), wrapped with the operation. Errors of Write and Delete that are
// not a LocalError are the replication's: the replicas could not be looked
// up or reached.
type LocalError struct{ Err error }

func (e *LocalError) Error() string { return e.Err.Error() }

// Unwrap returns the engine's error.
func (e *LocalError) Unwrap() error { return e.Err }

// MarkError means a delete was applied here and on every replica that
// could be reached, but the stale mark of those it missed could not be
// recorded: it is not acknowledged (the mark is retried in the
// background). Size is the deleted needle's size.
type MarkError struct {
	Size uint32
	Err  error
}

func (e *MarkError) Error() string { return e.Err.Error() }

// Unwrap returns the master call's error.
func (e *MarkError) Unwrap() error { return e.Err }

// ErrMarkPending means a delete found the needle gone here while the stale
// mark of an earlier delete of the volume is not recorded yet: the delete
// is not acknowledged before it is.
var ErrMarkPending = errors.New("the stale mark of an earlier delete is not recorded yet")

// Write applies n (a needle of fid, built from an upload) to vol as the
// primary: it reads the other replicas from the fan-out view, appends n
// here and sends the appended record to every other replica; when one
// fails it undoes the write here and on the replicas that may have taken
// it, and returns the error. It returns the stored size. A failure of the
// local append is a *LocalError; every other error means the replication
// failed (nothing stays written). targets are the replicas written to.
func (c *Coordinator) Write(ctx context.Context, vol *volume.Volume, fid needle.FileID, n *needle.Needle) (size uint32, targets []string, err error) {
	hold := c.holdView(vol)
	targets, err = c.replicaTargets(ctx, vol)
	if err == nil {
		err = volume.FailAt("write:targets")
	}
	if err != nil {
		hold.release()
		return 0, nil, err
	}
	size, err = vol.Write(n)
	hold.release()
	if err != nil {
		return 0, nil, &LocalError{Err: fmt.Errorf("write %s: %w", fid, err)}
	}
	if len(targets) > 0 {
		if err := c.replicateWrite(ctx, vol, fid, n, targets); err != nil {
			return 0, targets, err
		}
	}
	return size, targets, nil
}

// Delete is a client's delete of fid on vol, this server acting as the
// primary: the delete is applied here, then on every replica the master
// knows (syncing ones included). Before it is acknowledged, a replica that
// could not apply it, or any replica missing from the master's list, is
// marked stale through the leader. It returns the deleted needle's size,
// or:
//   - a *LocalError: the needle is not here (IsMissing) or the volume
//     failed;
//   - ErrMarkPending, unwrapped;
//   - a *MarkError: applied, but the stale mark of a replica that missed
//     it could not be recorded (it is retried in the background);
//   - another error: the replicas could not be looked up; nothing was
//     deleted.
//
// The caller has checked that vol acts as a primary here (RefusesPrimary).
func (c *Coordinator) Delete(ctx context.Context, vol *volume.Volume, fid needle.FileID) (uint32, error) {
	if vol.Placement().CopyCount() <= 1 {
		size, err := vol.Delete(fid.Key, fid.Cookie, 0)
		if err != nil {
			return size, &LocalError{Err: fmt.Errorf("delete %s: %w", fid, err)}
		}
		return size, nil
	}
	hold := c.holdView(vol)
	targets, short, err := c.deleteTargets(ctx, vol)
	if err == nil {
		err = volume.FailAt("delete:targets")
	}
	if err != nil {
		hold.release()
		glog.Warningf("delete %s: %v", fid, err)
		return 0, err
	}
	size, ts, err := vol.DeleteNewest(fid.Key, fid.Cookie)
	hold.release()
	if isMissing(err) && c.marks.has(fid.Volume) {
		// Gone here, but an earlier delete's stale mark is not recorded
		// yet: this delete is not acknowledged before it is.
		c.retryMarks(ctx)
		if c.marks.has(fid.Volume) {
			return 0, ErrMarkPending
		}
	}
	if err != nil {
		return size, &LocalError{Err: fmt.Errorf("delete %s: %w", fid, err)}
	}
	errs := c.fanout.Each(ctx, targets, func(ctx context.Context, target string) error {
		return c.peers.SendDelete(ctx, target, fid, ts, 0)
	})
	reached := []string{c.selfAddr()}
	var failed []string
	for i, t := range targets {
		if errs[i] != nil {
			failed = append(failed, t)
			glog.Warningf("delete %s: replica %s: %v", fid, t, errs[i])
		} else {
			reached = append(reached, t)
		}
	}
	if len(failed) > 0 || short {
		if err := c.markStale(ctx, fid.Volume, failed, short, reached); err != nil {
			glog.Errorf("delete %s: %v", fid, err)
			c.marks.add(pendingMark{vid: fid.Volume, nodes: failed, wildcard: short, reached: reached})
			return size, &MarkError{Size: size, Err: err}
		}
	}
	glog.V(3).Infof("deleted %s (%d bytes) at %d on %v; missed by %v", fid, size, ts, reached, failed)
	return size, nil
}

// deleteTargets returns the other replicas of vol from the fan-out view,
// asking the master afresh once when it lists fewer than the volume's
// copies; short reports that it still does.
func (c *Coordinator) deleteTargets(ctx context.Context, vol *volume.Volume) (targets []string, short bool, err error) {
	need := vol.Placement().CopyCount() - 1
	for attempt := 0; attempt < 2; attempt++ {
		if attempt > 0 {
			c.view.invalidate(vol.ID())
		}
		peers, err := c.OtherReplicas(ctx, vol.ID())
		if err != nil {
			return nil, false, fmt.Errorf("look up the replicas of volume %d: %w", vol.ID(), err)
		}
		targets = targets[:0]
		for _, p := range peers {
			targets = append(targets, p.URL)
		}
		if len(targets) >= need {
			return targets, false, nil
		}
	}
	return targets, true, nil
}

// rollbackOnReplicas sends the rollback delete of a failed write (stamped
// writeAt) to the replicas that may have taken it; those that cannot be
// reached are marked stale (in the background when the leader cannot be
// reached either). A replica the write has not reached yet keeps the
// tombstone and refuses the write if it still arrives.
func (c *Coordinator) rollbackOnReplicas(ctx context.Context, fid needle.FileID, writeAt, ts uint64, targets []string) {
	errs := c.fanout.Each(ctx, targets, func(ctx context.Context, target string) error {
		return c.peers.SendDelete(ctx, target, fid, ts, writeAt)
	})
	var failed []string
	for i, t := range targets {
		if errs[i] != nil {
			failed = append(failed, t)
			glog.Errorf("volume %d: undoing the failed write of %s on %s: %v", fid.Volume, fid, t, errs[i])
		}
	}
	if len(failed) == 0 {
		return
	}
	if err := c.markStale(ctx, fid.Volume, failed, false, nil); err != nil {
		glog.Errorf("volume %d: %v (retrying in the background)", fid.Volume, err)
		c.marks.add(pendingMark{vid: fid.Volume, nodes: failed})
	}
}

// ReadRepair fetches a good copy of a needle whose local record is damaged
// (readErr is needle.ErrCRC or needle.ErrCorrupt) from a healthy replica,
// appends it here (same bytes, same append time) and reads it again into
// buf. It returns readErr when the volume is not replicated, the error is
// of another kind, or no replica has a good copy.
func (c *Coordinator) ReadRepair(ctx context.Context, vol *volume.Volume, fid needle.FileID, buf []byte, readErr error) (needle.Needle, []byte, error) {
	if !needsSync(vol) || !(errors.Is(readErr, needle.ErrCRC) || errors.Is(readErr, needle.ErrCorrupt)) {
		return needle.Needle{}, buf, readErr
	}
	peers, err := c.OtherReplicas(ctx, vol.ID())
	if err != nil {
		return needle.Needle{}, buf, errors.Join(readErr, err)
	}
	for _, p := range peers {
		if !p.Healthy() {
			continue
		}
		rec, err := c.peers.Peer(p.URL, vol.ID()).LiveRecord(ctx, fid.Key)
		if err != nil {
			glog.V(1).Infof("read repair of %s: %v", fid, err)
			continue
		}
		res, err := vol.ApplyRecords([][]byte{rec}, volume.ApplyOptions{Repair: true})
		if err != nil {
			glog.Warningf("read repair of %s from %s: %v", fid, p.URL, err)
			continue
		}
		n, out, err := vol.Read(fid.Key, fid.Cookie, buf)
		if err == nil {
			glog.Warningf("read repair: %s was damaged here (%v); replaced with the copy of %s (%d record applied)", fid, readErr, p.URL, res.Applied)
			return n, out, nil
		}
		buf = out
	}
	return needle.Needle{}, buf, readErr
}
