package filer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/golang/glog"
	"github.com/redis/go-redis/v9"
)

// redisListBatch is how many names an unlimited List fetches per round trip.
const redisListBatch = 1000

// RedisOptions says which Redis server and which part of it a RedisStore uses.
type RedisOptions struct {
	// Addr is the server's host:port.
	Addr string
	// Password is sent with AUTH when not empty.
	Password string
	// DB is the database number selected on every connection.
	DB int
	// KeyPrefix is put before every key the store uses, so that several
	// namespaces can share one database. Filers that must see one namespace
	// use the same Addr, DB and KeyPrefix.
	KeyPrefix string
}

// RedisStore is a Store in a Redis server. Each entry is one string key
// (KeyPrefix + "e:" + path) holding the encoded entry, and each directory is
// a sorted set (KeyPrefix + "d:" + path) of its children's names, all with
// score 0 so that they sort by bytes and page with ZRANGEBYLEX. An entry and
// its name in the parent's set change together in one MULTI/EXEC. Nothing is
// cached in the process, so any number of filers on one server see one
// namespace at once. Safe for concurrent use.
type RedisStore struct {
	client    *redis.Client
	prefix    string
	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*RedisStore)(nil)

// OpenRedisStore connects to the server named in opts and checks it answers
// PING before returning. The store owns its client; Close closes it.
func OpenRedisStore(ctx context.Context, opts RedisOptions) (*RedisStore, error) {
	client := redis.NewClient(&redis.Options{
		Addr:     opts.Addr,
		Password: opts.Password,
		DB:       opts.DB,
	})
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("filer: redis %s: %w", opts.Addr, err)
	}
	glog.V(1).Infof("filer: redis store at %s db %d prefix %q", opts.Addr, opts.DB, opts.KeyPrefix)
	return &RedisStore{client: client, prefix: opts.KeyPrefix}, nil
}

func (s *RedisStore) entryKey(p string) string { return s.prefix + "e:" + p }

func (s *RedisStore) dirKey(dir string) string { return s.prefix + "d:" + dir }

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
	_, err = s.client.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, s.entryKey(e.FullPath), val, 0)
		pipe.ZAdd(ctx, s.dirKey(dir), redis.Z{Score: 0, Member: name})
		return nil
	})
	if err != nil {
		return fmt.Errorf("filer: insert %q: %w", e.FullPath, err)
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
		return nil, fmt.Errorf("filer: replace %q: %w", e.FullPath, err)
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
		return nil, fmt.Errorf("filer: create %q: %w", e.FullPath, err)
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
		return nil, fmt.Errorf("filer: remove %q: %w", p, err)
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
// reads everything again. It returns the entry the successful transaction
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
			_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				return write(pipe, old)
			})
			return err
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

// Find returns the entry at p or an error wrapping ErrNotFound; see Store.Find.
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
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("filer: find %q: %w", p, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("filer: find %q: %w", p, err)
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
	_, err := s.client.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Del(ctx, s.entryKey(p))
		pipe.ZRem(ctx, s.dirKey(dir), name)
		return nil
	})
	if err != nil {
		return fmt.Errorf("filer: delete %q: %w", p, err)
	}
	return nil
}

// List returns a page of dir's children after the name after; see Store.List.
// Names come from the directory's set (ZRANGEBYLEX from "(" + after) and
// entries from one MGET; a name whose entry was deleted between the two is
// skipped and the page is topped up from further names.
func (s *RedisStore) List(ctx context.Context, dir, after string, limit int) ([]*Entry, error) {
	if err := checkDirPath(dir); err != nil {
		return nil, fmt.Errorf("filer: list: %w", err)
	}
	entries := []*Entry{}
	from := "-"
	if after != "" {
		from = "(" + after
	}
	for {
		batch := redisListBatch
		if limit > 0 {
			batch = limit - len(entries)
		}
		names, err := s.client.ZRangeByLex(ctx, s.dirKey(dir), &redis.ZRangeBy{
			Min: from, Max: "+", Count: int64(batch),
		}).Result()
		if err != nil {
			return nil, fmt.Errorf("filer: list %q: %w", dir, err)
		}
		if len(names) == 0 {
			return entries, nil
		}
		keys := make([]string, len(names))
		for i, name := range names {
			keys[i] = s.entryKey(JoinPath(dir, name))
		}
		vals, err := s.client.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, fmt.Errorf("filer: list %q: %w", dir, err)
		}
		for i, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue // deleted since the range read
			}
			e, err := UnmarshalEntry([]byte(str))
			if err != nil {
				return nil, fmt.Errorf("filer: list %q: key %q: %w", dir, keys[i], err)
			}
			entries = append(entries, e)
		}
		if len(names) < batch || (limit > 0 && len(entries) >= limit) {
			return entries, nil
		}
		from = "(" + names[len(names)-1]
	}
}

// Close closes the client's connections. Later calls return the first
// call's result.
func (s *RedisStore) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.client.Close()
	})
	return s.closeErr
}
