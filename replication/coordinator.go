package replication

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
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
