package filer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/golang/glog"
	"github.com/redis/go-redis/v9"
)

// redisListBatch is how many names an unlimited List fetches per round trip.
const redisListBatch = 1000

// Timeouts of the Redis clients: a filer whose Redis cannot be reached
// answers 503 within a few seconds instead of hanging.
const (
	redisDialTimeout = 2 * time.Second
	redisIOTimeout   = 3 * time.Second
	// DefaultRedisWaitTimeout bounds the WAIT for replicas after a write
	// when RedisOptions.WaitTimeout is 0.
	DefaultRedisWaitTimeout = 2 * time.Second
)

// maxRenameEntries bounds the entries one Rename moves in Redis, where a
// directory's tree moves in one MULTI/EXEC that holds every key of it.
const maxRenameEntries = 100000

// RedisOptions says which Redis deployment and which part of it a
// RedisStore uses: one server (Addr), a master watched by Redis Sentinel
// (SentinelAddrs and MasterName), or a Redis Cluster (ClusterAddrs).
// Exactly one of Addr, SentinelAddrs and ClusterAddrs is set.
type RedisOptions struct {
	// Addr is a lone server's host:port.
	Addr string
	// SentinelAddrs are the host:port of sentinels watching the master
	// named MasterName; the store follows that master through failovers.
	SentinelAddrs []string
	// MasterName is the name the sentinels know the master by.
	MasterName string
	// ClusterAddrs are the host:port of some nodes of a Redis Cluster; the
	// others are found from them.
	ClusterAddrs []string
	// Password is sent with AUTH to the Redis servers when not empty (not
	// to sentinels, which usually have none).
	Password string
	// DB is the database number selected on every connection; a cluster
	// has only database 0.
	DB int
	// KeyPrefix is put before every key the store uses, so that several
	// namespaces can share one database. Filers that must see one namespace
	// use the same deployment, DB and KeyPrefix. In a cluster the prefix
	// is also the hash tag of every key ("{"+KeyPrefix+"}"), so that a
	// namespace lives in one slot.
	KeyPrefix string
	// WaitReplicas, when positive, makes every write wait (Redis WAIT)
	// until that many replicas have acknowledged it, or fail with
	// ErrNotReplicated after WaitTimeout.
	WaitReplicas int
	// WaitTimeout bounds that wait; 0 means DefaultRedisWaitTimeout.
	WaitTimeout time.Duration
}

// mode names the deployment opts describe, or says what is wrong with them.
func (o RedisOptions) mode() (string, error) {
	n := 0
	mode := ""
	if o.Addr != "" {
		n, mode = n+1, "server"
	}
	if len(o.SentinelAddrs) > 0 {
		n, mode = n+1, "sentinel"
		if o.MasterName == "" {
			return "", fmt.Errorf("%w: redis sentinels need a master name", ErrBadParam)
		}
	}
	if len(o.ClusterAddrs) > 0 {
		n, mode = n+1, "cluster"
		if o.DB != 0 {
			return "", fmt.Errorf("%w: a redis cluster has only database 0, not %d", ErrBadParam, o.DB)
		}
	}
	switch {
	case n == 0:
		return "", fmt.Errorf("%w: no redis server, sentinels or cluster named", ErrBadParam)
	case n > 1:
		return "", fmt.Errorf("%w: name one of a redis server, sentinels or a cluster, not several", ErrBadParam)
	case o.MasterName != "" && mode != "sentinel":
		return "", fmt.Errorf("%w: a redis master name needs sentinels", ErrBadParam)
	case o.WaitReplicas < 0 || o.WaitTimeout < 0:
		return "", fmt.Errorf("%w: negative redis wait", ErrBadParam)
	}
	return mode, nil
}

// RedisStore is a Store in Redis: one server, a master and replicas
// behind Sentinel, or a Cluster. Each entry is one string key (prefix +
// "e:" + path) holding the encoded entry, and each directory is a sorted
// set (prefix + "d:" + path) of its children's names, all with score 0 so
// that they sort by bytes and page with ZRANGEBYLEX. An entry and its name
// in the parent's set change together in one MULTI/EXEC. In a cluster the
// prefix is a hash tag, so every key of a namespace is in one slot and
// these transactions stay atomic. Nothing is cached in the process, so any
// number of filers on one deployment see one namespace at once. Safe for
// concurrent use.
type RedisStore struct {
	client redis.UniversalClient
	// replicas, when not nil, serves Find and List while client cannot
	// reach a master (sentinel and cluster only).
	replicas     redis.UniversalClient
	prefix       string
	what         string // the deployment, for errors
	waitReplicas int
	waitTimeout  time.Duration
	closeOnce    sync.Once
	closeErr     error
}

var _ Store = (*RedisStore)(nil)

// redisLogger sends go-redis's own log lines (a failed dial, a sentinel
// switching masters) to glog at verbosity 1, so that a Redis outage does
// not write a line per request at the default verbosity; the requests'
// errors say what failed.
type redisLogger struct{}

func (redisLogger) Printf(_ context.Context, format string, v ...any) {
	glog.V(1).Infof("filer: go-redis: "+format, v...)
}

var setRedisLogger sync.Once

// OpenRedisStore connects to the deployment named in opts and checks it
// answers PING before returning. The store owns its clients; Close closes
// them.
func OpenRedisStore(ctx context.Context, opts RedisOptions) (*RedisStore, error) {
	mode, err := opts.mode()
	if err != nil {
		return nil, fmt.Errorf("filer: redis: %w", err)
	}
	setRedisLogger.Do(func() { redis.SetLogger(redisLogger{}) })
	base := redis.UniversalOptions{
		Password:     opts.Password,
		DB:           opts.DB,
		DialTimeout:  redisDialTimeout,
		ReadTimeout:  redisIOTimeout,
		WriteTimeout: redisIOTimeout,
	}
	s := &RedisStore{
		prefix:       opts.KeyPrefix,
		waitReplicas: opts.WaitReplicas,
		waitTimeout:  opts.WaitTimeout,
	}
	if s.waitTimeout == 0 {
		s.waitTimeout = DefaultRedisWaitTimeout
	}
	switch mode {
	case "server":
		s.what = "redis " + opts.Addr
		o := base
		o.Addrs = []string{opts.Addr}
		s.client = redis.NewUniversalClient(&o)
	case "sentinel":
		s.what = fmt.Sprintf("redis master %q of sentinels %s", opts.MasterName, strings.Join(opts.SentinelAddrs, ","))
		o := base
		o.Addrs, o.MasterName = opts.SentinelAddrs, opts.MasterName
		s.client = redis.NewUniversalClient(&o)
		fo := o.Failover()
		fo.ReplicaOnly = true
		s.replicas = redis.NewFailoverClient(fo)
	case "cluster":
		s.what = "redis cluster " + strings.Join(opts.ClusterAddrs, ",")
		s.prefix = "{" + opts.KeyPrefix + "}"
		o := base
		o.Addrs, o.IsClusterMode = opts.ClusterAddrs, true
		s.client = redis.NewUniversalClient(&o)
		ro := o
		ro.ReadOnly, ro.RouteRandomly = true, true
		s.replicas = redis.NewUniversalClient(&ro)
	}
	if err := s.client.Ping(ctx).Err(); err != nil {
		s.Close()
		return nil, fmt.Errorf("filer: %s: %w", s.what, err)
	}
	glog.V(1).Infof("filer: redis store on %s db %d prefix %q, waiting for %d replicas", s.what, opts.DB, s.prefix, s.waitReplicas)
	return s, nil
}

func (s *RedisStore) entryKey(p string) string { return s.prefix + "e:" + p }

func (s *RedisStore) dirKey(dir string) string { return s.prefix + "d:" + dir }

// fail wraps err, the failure of op on path p, for the caller: a Redis
// deployment that cannot be reached (no master, connections refused or
// timing out, a cluster down) is reported as ErrStoreUnavailable.
func (s *RedisStore) fail(ctx context.Context, op, p string, err error) error {
	if ctx.Err() == nil && redisUnavailable(err) {
		return fmt.Errorf("filer: %s %q: %w: %s: %w", op, p, ErrStoreUnavailable, s.what, err)
	}
	return fmt.Errorf("filer: %s %q: %w", op, p, err)
}

// redisUnavailable reports whether err says that no Redis master could
// serve the command, as opposed to a refused command or a filer error.
func redisUnavailable(err error) bool {
	if errors.Is(err, redis.ErrClosed) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, redis.ErrPoolTimeout) {
		return true
	}
	msg := err.Error()
	for _, code := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS"} {
		if strings.HasPrefix(msg, code+" ") {
			return true
		}
	}
	return strings.Contains(msg, "sentinel")
}

// await waits, on tx's connection after the writes tx sent, until the
// store's WaitReplicas replicas have acknowledged them. It returns an
// error wrapping ErrNotReplicated when fewer did within WaitTimeout.
func (s *RedisStore) await(ctx context.Context, tx *redis.Tx) error {
	if s.waitReplicas <= 0 {
		return nil
	}
	n, err := tx.Wait(ctx, s.waitReplicas, s.waitTimeout).Result()
	if err != nil {
		return fmt.Errorf("WAIT: %w", err)
	}
	if n < int64(s.waitReplicas) {
		return fmt.Errorf("%w: %d of %d replicas acknowledged within %v", ErrNotReplicated, n, s.waitReplicas, s.waitTimeout)
	}
	return nil
}

// writeAll runs the writes queued by queue in one MULTI/EXEC on a
// connection of its own that WATCHes key, then awaits the replicas. A
// change of key meanwhile makes it run again: the writes do not depend on
// what was there.
func (s *RedisStore) writeAll(ctx context.Context, key string, queue func(redis.Pipeliner)) error {
	for attempt := 0; attempt < redisSwapAttempts; attempt++ {
		err := s.client.Watch(ctx, func(tx *redis.Tx) error {
			if _, err := tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				queue(pipe)
				return nil
			}); err != nil {
				return err
			}
			return s.await(ctx, tx)
		}, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return fmt.Errorf("still contended after %d attempts", redisSwapAttempts)
}

// Insert stores e and adds its name to its parent's set in one transaction;
// see Store.Insert.
func (s *RedisStore) Insert(ctx context.Context, e *Entry) error {
	if err := checkEntryPath(e.FullPath); err != nil {
		return fmt.Errorf("filer: insert: %w", err)
	}
	val, err := MarshalEntry(e)
	if err != nil {
		return err
	}
	dir, name := SplitPath(e.FullPath)
	err = s.writeAll(ctx, s.entryKey(e.FullPath), func(pipe redis.Pipeliner) {
		pipe.Set(ctx, s.entryKey(e.FullPath), val, 0)
		pipe.ZAdd(ctx, s.dirKey(dir), redis.Z{Score: 0, Member: name})
	})
	if err != nil {
		return s.fail(ctx, "insert", e.FullPath, err)
	}
	return nil
}

// Replace stores e and returns the entry it replaced; see Store.Replace.
// It is an optimistic transaction: WATCH the entry's key and its parent's,
// GET both, then MULTI/EXEC the write, which Redis refuses if another
// client changed either key since the WATCH; then it reads again and
// retries.
func (s *RedisStore) Replace(ctx context.Context, e *Entry) (*Entry, error) {
	if err := checkEntryPath(e.FullPath); err != nil {
		return nil, fmt.Errorf("filer: replace: %w", err)
	}
	val, err := MarshalEntry(e)
	if err != nil {
		return nil, err
	}
	dir, name := SplitPath(e.FullPath)
	old, err := s.swap(ctx, e.FullPath, swapNeedsParent, func(pipe redis.Pipeliner, old *Entry) error {
		if old != nil && old.IsDirectory {
			return ErrIsDirectory
		}
		pipe.Set(ctx, s.entryKey(e.FullPath), val, 0)
		pipe.ZAdd(ctx, s.dirKey(dir), redis.Z{Score: 0, Member: name})
		return nil
	})
	if err != nil {
		return nil, s.fail(ctx, "replace", e.FullPath, err)
	}
	return old, nil
}

// Create stores e unless an entry is at its path; see Store.Create. Like
// Replace, it is an optimistic transaction on the entry's key: the write
// happens only if nobody created the key since it was read.
func (s *RedisStore) Create(ctx context.Context, e *Entry) (*Entry, error) {
	if err := checkEntryPath(e.FullPath); err != nil {
		return nil, fmt.Errorf("filer: create: %w", err)
	}
	val, err := MarshalEntry(e)
	if err != nil {
		return nil, err
	}
	dir, name := SplitPath(e.FullPath)
	existing, err := s.swap(ctx, e.FullPath, swapNeedsParent, func(pipe redis.Pipeliner, old *Entry) error {
		if old != nil {
			return nil
		}
		pipe.Set(ctx, s.entryKey(e.FullPath), val, 0)
		pipe.ZAdd(ctx, s.dirKey(dir), redis.Z{Score: 0, Member: name})
		return nil
	})
	if err != nil {
		return nil, s.fail(ctx, "create", e.FullPath, err)
	}
	return existing, nil
}

// Remove deletes the entry at p and returns it; see Store.Remove. Like
// Replace, it is an optimistic transaction, on the entry's key and on its
// set of children, which a child's write changes.
func (s *RedisStore) Remove(ctx context.Context, p string) (*Entry, error) {
	if err := checkEntryPath(p); err != nil {
		return nil, fmt.Errorf("filer: remove: %w", err)
	}
	dir, name := SplitPath(p)
	old, err := s.swap(ctx, p, swapNeedsEmptyDir, func(pipe redis.Pipeliner, old *Entry) error {
		if old != nil {
			pipe.Del(ctx, s.entryKey(p))
		}
		pipe.ZRem(ctx, s.dirKey(dir), name)
		return nil
	})
	if err != nil {
		return nil, s.fail(ctx, "remove", p, err)
	}
	return old, nil
}

// redisSwapAttempts bounds the retries of an optimistic transaction that
// other clients keep interrupting.
const redisSwapAttempts = 1000

// swapGuard is what a swap checks besides the entry itself.
type swapGuard int

const (
	// swapNeedsParent: the parent directory's entry must be there
	// (ErrNoParent, or ErrNotDirectory for a file), for Replace and Create.
	swapNeedsParent swapGuard = iota
	// swapNeedsEmptyDir: a directory at the path must have no children
	// (ErrNotEmpty), for Remove.
	swapNeedsEmptyDir
)

// swap reads the entry at p (nil when missing) under WATCH, checks guard,
// and hands the entry to write, which queues the commands to run
// atomically in MULTI/EXEC or returns an error to change nothing. The keys
// the guard reads are watched too: a parent removed, or a child added,
// between the read and the EXEC makes Redis refuse the EXEC, and swap
// reads everything again. When write queued commands, the replicas are
// awaited after the EXEC. It returns the entry the successful transaction
// replaced.
func (s *RedisStore) swap(ctx context.Context, p string, guard swapGuard, write func(redis.Pipeliner, *Entry) error) (*Entry, error) {
	g := swapKeys{entry: s.entryKey(p)}
	watched := []string{g.entry}
	switch dir, _ := SplitPath(p); {
	case guard == swapNeedsParent && dir != "/":
		g.parentDir, g.parent = dir, s.entryKey(dir)
		watched = append(watched, g.parent)
	case guard == swapNeedsEmptyDir:
		g.children = s.dirKey(p)
		watched = append(watched, g.children)
	}
	for attempt := 0; attempt < redisSwapAttempts; attempt++ {
		var old *Entry
		err := s.client.Watch(ctx, func(tx *redis.Tx) error {
			var err error
			if old, err = guardedRead(ctx, tx, g); err != nil {
				return err
			}
			queued := 0
			_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				err := write(pipe, old)
				queued = pipe.Len()
				return err
			})
			if err != nil || queued == 0 {
				return err
			}
			return s.await(ctx, tx)
		}, watched...)
		if errors.Is(err, redis.TxFailedErr) {
			glog.V(3).Infof("filer: redis %q changed meanwhile, retrying", p)
			continue
		}
		if err != nil {
			return nil, err
		}
		return old, nil
	}
	return nil, fmt.Errorf("still contended after %d attempts", redisSwapAttempts)
}

// swapKeys are the keys a swap reads: the entry's, and the one its guard
// checks (parent or children), "" when none.
type swapKeys struct {
	entry     string
	parentDir string // the parent's path, for errors
	parent    string // the parent directory's entry key
	children  string // the entry's set of children
}

// guardedRead reads, in one round trip inside tx, the entry and the key
// its guard checks, and checks it: the parent must be a directory, and a
// directory must have no children.
func guardedRead(ctx context.Context, tx *redis.Tx, k swapKeys) (*Entry, error) {
	var entry, parent *redis.StringCmd
	var children *redis.IntCmd
	_, err := tx.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		entry = pipe.Get(ctx, k.entry)
		if k.parent != "" {
			parent = pipe.Get(ctx, k.parent)
		}
		if k.children != "" {
			children = pipe.ZCard(ctx, k.children)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	old, err := redisEntry(entry)
	if err != nil {
		return nil, err
	}
	if parent != nil {
		e, err := redisEntry(parent)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%s: %w", k.parentDir, err)
		case e == nil:
			return nil, fmt.Errorf("%s: %w", k.parentDir, ErrNoParent)
		case !e.IsDirectory:
			return nil, fmt.Errorf("%s is a file: %w", k.parentDir, ErrNotDirectory)
		}
	}
	if children != nil && old != nil && old.IsDirectory {
		n, err := children.Result()
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, ErrNotEmpty
		}
	}
	return old, nil
}

// redisEntry decodes the reply of a GET of an entry key: nil for a
// missing key.
func redisEntry(cmd *redis.StringCmd) (*Entry, error) {
	val, err := cmd.Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return UnmarshalEntry(val)
}

// Find returns the entry at p or an error wrapping ErrNotFound; see
// Store.Find. While no master can be reached it reads from a replica,
// where the deployment has one.
func (s *RedisStore) Find(ctx context.Context, p string) (*Entry, error) {
	if p == "/" {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return rootEntry(), nil
	}
	if err := checkEntryPath(p); err != nil {
		return nil, fmt.Errorf("filer: find: %w", err)
	}
	val, err := s.client.Get(ctx, s.entryKey(p)).Bytes()
	if err != nil && s.replicas != nil && ctx.Err() == nil && redisUnavailable(err) {
		glog.V(2).Infof("filer: find %q from a replica: %v", p, err)
		val, err = s.replicas.Get(ctx, s.entryKey(p)).Bytes()
	}
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("filer: find %q: %w", p, ErrNotFound)
	}
	if err != nil {
		return nil, s.fail(ctx, "find", p, err)
	}
	e, err := UnmarshalEntry(val)
	if err != nil {
		return nil, fmt.Errorf("filer: find %q: %w", p, err)
	}
	return e, nil
}

// Delete removes the entry at p and its name from its parent's set in one
// transaction; a missing path is not an error. See Store.Delete.
func (s *RedisStore) Delete(ctx context.Context, p string) error {
	if err := checkEntryPath(p); err != nil {
		return fmt.Errorf("filer: delete: %w", err)
	}
	dir, name := SplitPath(p)
	err := s.writeAll(ctx, s.entryKey(p), func(pipe redis.Pipeliner) {
		pipe.Del(ctx, s.entryKey(p))
		pipe.ZRem(ctx, s.dirKey(dir), name)
	})
	if err != nil {
		return s.fail(ctx, "delete", p, err)
	}
	return nil
}

// List returns a page of dir's children after the name after; see
// Store.List. Names come from the directory's set (ZRANGEBYLEX from "(" +
// after, at most a page or redisListBatch names at a time, so memory is
// bounded by the page whatever the directory's size) and entries from one
// MGET; a name whose entry was deleted between the two is skipped and the
// page is topped up from further names. While no master can be reached it
// reads from a replica, where the deployment has one.
func (s *RedisStore) List(ctx context.Context, dir, after string, limit int) ([]*Entry, error) {
	if err := checkDirPath(dir); err != nil {
		return nil, fmt.Errorf("filer: list: %w", err)
	}
	entries, err := s.list(ctx, s.client, dir, after, limit)
	if err != nil && s.replicas != nil && ctx.Err() == nil && redisUnavailable(err) {
		glog.V(2).Infof("filer: list %q from a replica: %v", dir, err)
		entries, err = s.list(ctx, s.replicas, dir, after, limit)
	}
	if err != nil {
		return nil, s.fail(ctx, "list", dir, err)
	}
	return entries, nil
}

func (s *RedisStore) list(ctx context.Context, c redis.Cmdable, dir, after string, limit int) ([]*Entry, error) {
	entries := []*Entry{}
	from := "-"
	if after != "" {
		from = "(" + after
	}
	for {
		batch := redisListBatch
		if limit > 0 {
			batch = min(limit-len(entries), redisListBatch)
		}
		names, err := c.ZRangeByLex(ctx, s.dirKey(dir), &redis.ZRangeBy{
			Min: from, Max: "+", Count: int64(batch),
		}).Result()
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return entries, nil
		}
		keys := make([]string, len(names))
		for i, name := range names {
			keys[i] = s.entryKey(JoinPath(dir, name))
		}
		vals, err := c.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue // deleted since the range read
			}
			e, err := UnmarshalEntry([]byte(str))
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", keys[i], err)
			}
			entries = append(entries, e)
		}
		if len(names) < batch || (limit > 0 && len(entries) >= limit) {
			return entries, nil
		}
		from = "(" + names[len(names)-1]
	}
}

// Close closes the clients' connections. Later calls return the first
// call's result.
func (s *RedisStore) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.client != nil {
			errs = append(errs, s.client.Close())
		}
		if s.replicas != nil {
			errs = append(errs, s.replicas.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Rename moves the entry at from, and a directory's whole tree, to to in
// one MULTI/EXEC; see Store.Rename. It reads the tree, WATCHes every key
// it read (entries, sets of children, the target and its parent), reads
// the tree again on the watching connection, and writes only if the
// second read found the same keys: then every value the write depends on
// is watched, and a change by anyone before the EXEC makes Redis refuse
// it and Rename start over. At most maxRenameEntries entries move at once.
func (s *RedisStore) Rename(ctx context.Context, from, to string) (*Entry, error) {
	if err := checkRename(from, to); err != nil {
		return nil, fmt.Errorf("filer: rename %q: %w", from, err)
	}
	for attempt := 0; attempt < redisSwapAttempts; attempt++ {
		plan, err := s.renamePlan(ctx, s.client, from, to)
		if err != nil {
			return nil, s.fail(ctx, "rename", from, err)
		}
		var replaced *Entry
		err = s.client.Watch(ctx, func(tx *redis.Tx) error {
			// Read again under WATCH; keys that appeared since (files
			// written into the tree) are watched too and the tree read
			// once more, until a read finds only watched keys.
			watched := plan.watched
			var again *redisRename
			for round := 0; ; round++ {
				var err error
				if again, err = s.renamePlan(ctx, tx, from, to); err != nil {
					return err
				}
				extra := missing(again.watched, watched)
				if len(extra) == 0 {
					break
				}
				if round == renameWatchRounds {
					return redis.TxFailedErr
				}
				if err := tx.Watch(ctx, extra...).Err(); err != nil {
					return err
				}
				watched = append(watched, extra...)
				slices.Sort(watched)
			}
			replaced = again.replaced
			if from == to {
				return nil
			}
			if _, err := tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				return again.queue(ctx, pipe)
			}); err != nil {
				return err
			}
			return s.await(ctx, tx)
		}, plan.watched...)
		if errors.Is(err, redis.TxFailedErr) {
			glog.V(3).Infof("filer: redis rename %q changed meanwhile, retrying", from)
			continue
		}
		if err != nil {
			return nil, s.fail(ctx, "rename", from, err)
		}
		return replaced, nil
	}
	return nil, s.fail(ctx, "rename", from, fmt.Errorf("still contended after %d attempts", redisSwapAttempts))
}

// renameWatchRounds bounds how often one Rename attempt widens its WATCH
// to keys written into the tree while it reads it.
const renameWatchRounds = 8

// missing returns the keys of want, sorted, that are not in have, sorted.
func missing(want, have []string) []string {
	var out []string
	for _, k := range want {
		if _, found := slices.BinarySearch(have, k); !found {
			out = append(out, k)
		}
	}
	return out
}

// redisRename is what a Rename read: the entries to move (the root of the
// move first, then its tree, with their children's names for directories),
// the file it replaces at the target, and the keys it depends on, sorted.
type redisRename struct {
	s        *RedisStore
	from, to string
	nodes    []renameNode
	replaced *Entry
	watched  []string
}

// renameNode is one entry of a moved tree.
type renameNode struct {
	entry    *Entry
	children []string // names in the directory's set; nil for a file
}

// renamePlan reads what moving from to to needs, through c, and checks
// the move: from must exist, to must not be a directory nor a file when
// from is a directory, and to's parent must be a directory.
func (s *RedisStore) renamePlan(ctx context.Context, c redis.Cmdable, from, to string) (*redisRename, error) {
	r := &redisRename{s: s, from: from, to: to}
	fromDir, _ := SplitPath(from)
	toDir, _ := SplitPath(to)
	keys := []string{s.entryKey(from), s.dirKey(fromDir), s.entryKey(to), s.dirKey(toDir)}
	root, err := redisEntry(c.Get(ctx, s.entryKey(from)))
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, ErrNotFound
	}
	if from != to {
		target, err := redisEntry(c.Get(ctx, s.entryKey(to)))
		if err != nil {
			return nil, err
		}
		switch {
		case target != nil && target.IsDirectory:
			return nil, fmt.Errorf("%s: %w", to, ErrIsDirectory)
		case target != nil && root.IsDirectory:
			return nil, fmt.Errorf("a directory cannot replace the file %s: %w", to, ErrNotDirectory)
		}
		r.replaced = target
		if toDir != "/" {
			keys = append(keys, s.entryKey(toDir))
			parent, err := redisEntry(c.Get(ctx, s.entryKey(toDir)))
			switch {
			case err != nil:
				return nil, err
			case parent == nil:
				return nil, fmt.Errorf("%s: %w", toDir, ErrNoParent)
			case !parent.IsDirectory:
				return nil, fmt.Errorf("%s is a file: %w", toDir, ErrNotDirectory)
			}
		}
	}
	// Breadth first over the tree: each directory's names, then their
	// entries in one MGET.
	r.nodes = append(r.nodes, renameNode{entry: root})
	for i := 0; i < len(r.nodes); i++ {
		e := r.nodes[i].entry
		if !e.IsDirectory {
			continue
		}
		keys = append(keys, s.dirKey(e.FullPath))
		names, err := c.ZRange(ctx, s.dirKey(e.FullPath), 0, -1).Result()
		if err != nil {
			return nil, err
		}
		if len(r.nodes)+len(names) > maxRenameEntries {
			return nil, fmt.Errorf("%w: %s holds more than %d entries, too many to move at once", ErrBadParam, from, maxRenameEntries)
		}
		r.nodes[i].children = names
		for start := 0; start < len(names); start += redisListBatch {
			batch := names[start:min(start+redisListBatch, len(names))]
			ks := make([]string, len(batch))
			for j, name := range batch {
				ks[j] = s.entryKey(JoinPath(e.FullPath, name))
			}
			keys = append(keys, ks...)
			vals, err := c.MGet(ctx, ks...).Result()
			if err != nil {
				return nil, err
			}
			for j, v := range vals {
				str, ok := v.(string)
				if !ok {
					continue // a name whose entry is gone: moved as a name only
				}
				child, err := UnmarshalEntry([]byte(str))
				if err != nil {
					return nil, fmt.Errorf("key %q: %w", ks[j], err)
				}
				r.nodes = append(r.nodes, renameNode{entry: child})
			}
		}
	}
	slices.Sort(keys)
	r.watched = slices.Compact(keys)
	return r, nil
}

// queue queues the writes of the move: every entry at its new path,
// every directory's set under its new path, the root's name out of its
// old parent's set and into its new one.
func (r *redisRename) queue(ctx context.Context, pipe redis.Pipeliner) error {
	s := r.s
	for _, n := range r.nodes {
		oldPath := n.entry.FullPath
		moved := *n.entry
		moved.FullPath = r.to + strings.TrimPrefix(oldPath, r.from)
		val, err := MarshalEntry(&moved)
		if err != nil {
			return err
		}
		pipe.Del(ctx, s.entryKey(oldPath))
		pipe.Set(ctx, s.entryKey(moved.FullPath), val, 0)
		if moved.IsDirectory {
			pipe.Del(ctx, s.dirKey(oldPath))
			if len(n.children) > 0 {
				members := make([]redis.Z, len(n.children))
				for i, name := range n.children {
					members[i] = redis.Z{Score: 0, Member: name}
				}
				pipe.ZAdd(ctx, s.dirKey(moved.FullPath), members...)
			}
		}
	}
	fromDir, fromName := SplitPath(r.from)
	toDir, toName := SplitPath(r.to)
	pipe.ZRem(ctx, s.dirKey(fromDir), fromName)
	pipe.ZAdd(ctx, s.dirKey(toDir), redis.Z{Score: 0, Member: toName})
	return nil
}
