package filer_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/weedfs/weed/filer"
	"github.com/weedfs/weed/filer/storetest"
	"github.com/weedfs/weed/internal/redistest"
)

func openRedis(t testing.TB, opts filer.RedisOptions) *filer.RedisStore {
	t.Helper()
	s, err := filer.OpenRedisStore(context.Background(), opts)
	if err != nil {
		t.Fatalf("OpenRedisStore(%+v): %v", opts, err)
	}
	return s
}

func TestRedisStoreConformance(t *testing.T) {
	addr := redistest.Start(t)
	var n atomic.Int64
	storetest.Test(t, func(t *testing.T) filer.Store {
		// One server for the suite; a fresh key prefix gives each subtest an
		// empty namespace and checks that prefixes keep namespaces apart.
		return openRedis(t, filer.RedisOptions{Addr: addr, KeyPrefix: fmt.Sprintf("suite%d:", n.Add(1))})
	})
}

func TestRedisStoreConformanceOtherDatabase(t *testing.T) {
	addr := redistest.Start(t)
	storetest.Test(t, func(t *testing.T) filer.Store {
		s := openRedis(t, filer.RedisOptions{Addr: addr, DB: 3})
		flush := redis.NewClient(&redis.Options{Addr: addr, DB: 3})
		defer flush.Close()
		if err := flush.FlushDB(context.Background()).Err(); err != nil {
			t.Fatalf("FLUSHDB: %v", err)
		}
		return s
	})
}

// TestRedisStoresShareOneNamespace is two filers on one Redis: whatever one
// writes or deletes, the other sees on its next call.
func TestRedisStoresShareOneNamespace(t *testing.T) {
	ctx := context.Background()
	addr := redistest.Start(t)
	opts := filer.RedisOptions{Addr: addr, KeyPrefix: "weed:"}
	a, b := openRedis(t, opts), openRedis(t, opts)
	defer a.Close()
	defer b.Close()

	hello := &filer.Entry{FullPath: "/foo/hello.txt", Size: 15, Mime: "text/plain",
		Chunks: []filer.Chunk{{Fid: "6,067281a126", Size: 15, ETag: "1b2c3d4e"}}}
	for _, e := range []*filer.Entry{{FullPath: "/foo", IsDirectory: true}, hello} {
		if err := a.Insert(ctx, e); err != nil {
			t.Fatalf("A.Insert(%q): %v", e.FullPath, err)
		}
	}
	got, err := b.Find(ctx, "/foo/hello.txt")
	if err != nil {
		t.Fatalf("B.Find of A's write: %v", err)
	}
	storetest.CheckEqual(t, got, hello)
	es, err := b.List(ctx, "/foo", "", 100)
	if err != nil || len(es) != 1 || es[0].Fid() != "6,067281a126" {
		t.Fatalf("B.List of A's directory = %+v, %v", es, err)
	}

	// B replaces, A reads the new version.
	repl := *hello
	repl.Chunks = []filer.Chunk{{Fid: "7,0c4f5dc90f", Size: 15, ETag: "5e6f7a8b"}}
	if err := b.Insert(ctx, &repl); err != nil {
		t.Fatalf("B.Insert: %v", err)
	}
	if got, err := a.Find(ctx, "/foo/hello.txt"); err != nil || got.Fid() != "7,0c4f5dc90f" {
		t.Fatalf("A.Find after B's replace = %+v, %v", got, err)
	}

	// B deletes, A no longer finds or lists it.
	if err := b.Delete(ctx, "/foo/hello.txt"); err != nil {
		t.Fatalf("B.Delete of A's file: %v", err)
	}
	if _, err := a.Find(ctx, "/foo/hello.txt"); !errors.Is(err, filer.ErrNotFound) {
		t.Fatalf("A.Find after B's delete: %v, want ErrNotFound", err)
	}
	if es, err := a.List(ctx, "/foo", "", 100); err != nil || len(es) != 0 {
		t.Fatalf("A.List after B's delete = %+v, %v", es, err)
	}
	if err := a.Delete(ctx, "/foo/hello.txt"); err != nil {
		t.Fatalf("A.Delete of the already deleted file: %v", err)
	}

	// Another prefix on the same server is another namespace.
	other := openRedis(t, filer.RedisOptions{Addr: addr, KeyPrefix: "other:"})
	defer other.Close()
	if _, err := other.Find(ctx, "/foo"); !errors.Is(err, filer.ErrNotFound) {
		t.Fatalf("Find under another prefix: %v, want ErrNotFound", err)
	}
}

// TestRedisStoreListSkipsVanishedEntries: a name left in a directory's set
// without its entry key (as when a delete lands between the two reads of a
// listing) is skipped, and the page is still filled up to its limit.
func TestRedisStoreListSkipsVanishedEntries(t *testing.T) {
	ctx := context.Background()
	addr := redistest.Start(t)
	s := openRedis(t, filer.RedisOptions{Addr: addr, KeyPrefix: "v:"})
	defer s.Close()
	for i := range 10 {
		p := fmt.Sprintf("/d/f%d", i)
		if err := s.Insert(ctx, &filer.Entry{FullPath: p}); err != nil {
			t.Fatalf("Insert(%q): %v", p, err)
		}
	}
	raw := redis.NewClient(&redis.Options{Addr: addr})
	defer raw.Close()
	if err := raw.Del(ctx, "v:e:/d/f1", "v:e:/d/f2").Err(); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	es, err := s.List(ctx, "/d", "", 4)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != "f0,f3,f4,f5" {
		t.Fatalf("List = %v, want f0,f3,f4,f5", got)
	}
}

func TestRedisStoreKeyLayout(t *testing.T) {
	ctx := context.Background()
	addr := redistest.Start(t)
	s := openRedis(t, filer.RedisOptions{Addr: addr, KeyPrefix: "k:"})
	defer s.Close()
	if err := s.Insert(ctx, &filer.Entry{FullPath: "/a/b.txt", Size: 3}); err != nil {
		t.Fatalf("Insert: %v", err)
	}
	raw := redis.NewClient(&redis.Options{Addr: addr})
	defer raw.Close()
	keys, err := raw.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	if len(keys) != 2 {
		t.Fatalf("keys = %q, want one entry key and one directory set", keys)
	}
	if typ, err := raw.Type(ctx, "k:d:/a").Result(); err != nil || typ != "zset" {
		t.Fatalf("TYPE k:d:/a = %q, %v; want zset", typ, err)
	}
	if typ, err := raw.Type(ctx, "k:e:/a/b.txt").Result(); err != nil || typ != "string" {
		t.Fatalf("TYPE k:e:/a/b.txt = %q, %v; want string", typ, err)
	}
}

func TestOpenRedisStoreUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s, err := filer.OpenRedisStore(ctx, filer.RedisOptions{Addr: addr}); err == nil {
		s.Close()
		t.Fatalf("OpenRedisStore(%s) succeeded with no server there", addr)
	}
}

func TestRedisStoreLargeDirectory(t *testing.T) {
	addr := redistest.Start(t)
	s := openRedis(t, filer.RedisOptions{Addr: addr, KeyPrefix: "big:"})
	defer s.Close()
	storetest.TestLargeDirectory(t, s, 100000)
}

// TestRedisSentinelStoreConformance runs the suite on a master with a
// replica behind three sentinels, every write waiting for the replica.
func TestRedisSentinelStoreConformance(t *testing.T) {
	sent := redistest.StartSentinels(t)
	var n atomic.Int64
	storetest.Test(t, func(t *testing.T) filer.Store {
		return openRedis(t, filer.RedisOptions{
			SentinelAddrs: sent.Addrs, MasterName: redistest.MasterName,
			KeyPrefix: fmt.Sprintf("sent%d:", n.Add(1)), WaitReplicas: 1,
		})
	})
}

// TestRedisClusterStoreConformance runs the suite on a Redis Cluster of
// three masters.
func TestRedisClusterStoreConformance(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	var n atomic.Int64
	storetest.Test(t, func(t *testing.T) filer.Store {
		return openRedis(t, filer.RedisOptions{ClusterAddrs: c.Addrs, KeyPrefix: fmt.Sprintf("cl%d:", n.Add(1))})
	})
}

// TestRedisClusterKeysShareOneSlot: in a cluster every key of a namespace
// carries the namespace's hash tag, so they all live in one slot (where
// the transactions over an entry, its parent and its children can run),
// and namespaces with other prefixes land elsewhere.
func TestRedisClusterKeysShareOneSlot(t *testing.T) {
	ctx := context.Background()
	c := redistest.StartCluster(t, 3)
	s := openRedis(t, filer.RedisOptions{ClusterAddrs: c.Addrs, KeyPrefix: "weed:filer:"})
	defer s.Close()
	for _, e := range []*filer.Entry{
		{FullPath: "/a", IsDirectory: true}, {FullPath: "/a/b", IsDirectory: true},
		{FullPath: "/a/b/c.txt"}, {FullPath: "/z{}.txt"}, {FullPath: "/x}y", IsDirectory: true}, {FullPath: "/x}y/f"},
	} {
		if _, err := s.Create(ctx, e); err != nil {
			t.Fatalf("Create(%q): %v", e.FullPath, err)
		}
	}
	raw := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	defer raw.Close()
	var mu sync.Mutex
	var keys []string
	err := raw.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		ks, err := m.Keys(ctx, "*").Result()
		mu.Lock()
		keys = append(keys, ks...)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	if len(keys) != 10 {
		t.Fatalf("keys = %q, want 6 entries and 4 directory sets", keys)
	}
	slots := map[int64]bool{}
	for _, k := range keys {
		if !strings.HasPrefix(k, "{weed:filer:}") {
			t.Errorf("key %q lacks the namespace's hash tag", k)
		}
		slot, err := raw.ClusterKeySlot(ctx, k).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %q: %v", k, err)
		}
		slots[slot] = true
	}
	if len(slots) != 1 {
		t.Fatalf("the namespace's keys are in %d slots, want 1", len(slots))
	}
}

// TestRedisStoreWaitReplicasRefusesUnreplicatedWrites: with replicas
// asked for and none there, a write fails with ErrNotReplicated after the
// wait instead of being acknowledged; reads and refused writes do not wait.
func TestRedisStoreWaitReplicasRefusesUnreplicatedWrites(t *testing.T) {
	ctx := context.Background()
	addr := redistest.Start(t)
	s := openRedis(t, filer.RedisOptions{Addr: addr, WaitReplicas: 1, WaitTimeout: 100 * time.Millisecond})
	defer s.Close()
	start := time.Now()
	_, err := s.Replace(ctx, &filer.Entry{FullPath: "/f"})
	if !errors.Is(err, filer.ErrNotReplicated) {
		t.Fatalf("Replace with no replica = %v, want ErrNotReplicated", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 5*time.Second {
		t.Fatalf("Replace failed after %v, want about the 100ms wait", d)
	}
	for name, err := range map[string]error{
		"Insert": s.Insert(ctx, &filer.Entry{FullPath: "/g"}),
		"Delete": s.Delete(ctx, "/g"),
	} {
		if !errors.Is(err, filer.ErrNotReplicated) {
			t.Errorf("%s with no replica = %v, want ErrNotReplicated", name, err)
		}
	}
	if _, err := s.Rename(ctx, "/f", "/h"); !errors.Is(err, filer.ErrNotReplicated) {
		t.Errorf("Rename with no replica = %v, want ErrNotReplicated", err)
	}
	if _, err := s.Find(ctx, "/h"); err != nil {
		t.Errorf("Find after an unreplicated write: %v (the master has it)", err)
	}
	if existing, err := s.Create(ctx, &filer.Entry{FullPath: "/h", IsDirectory: true}); err != nil || existing == nil {
		t.Errorf("Create over an entry = %+v, %v; want the entry and no wait (nothing written)", existing, err)
	}
	if _, err := s.Replace(ctx, &filer.Entry{FullPath: "/nodir/f"}); !errors.Is(err, filer.ErrNoParent) {
		t.Errorf("refused Replace = %v, want ErrNoParent", err)
	}
}

// TestRedisStoreUnavailable: with its server killed, every call fails
// fast with ErrStoreUnavailable, not a hang or a bare dial error.
func TestRedisStoreUnavailable(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartServer(t)
	s := openRedis(t, filer.RedisOptions{Addr: srv.Addr})
	defer s.Close()
	if err := s.Insert(ctx, &filer.Entry{FullPath: "/f"}); err != nil {
		t.Fatalf("Insert: %v", err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Find":    func() error { _, err := s.Find(ctx, "/f"); return err },
		"List":    func() error { _, err := s.List(ctx, "/", "", 10); return err },
		"Insert":  func() error { return s.Insert(ctx, &filer.Entry{FullPath: "/g"}) },
		"Replace": func() error { _, err := s.Replace(ctx, &filer.Entry{FullPath: "/g"}); return err },
		"Remove":  func() error { _, err := s.Remove(ctx, "/f"); return err },
		"Rename":  func() error { _, err := s.Rename(ctx, "/f", "/h"); return err },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		if !errors.Is(err, filer.ErrStoreUnavailable) {
			t.Errorf("%s with the server gone = %v, want ErrStoreUnavailable", name, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s took %v to fail", name, d)
		}
	}
}

// TestRedisSentinelStoreReadsThroughFailover: with the master killed,
// reads go on from the replica, writes fail with ErrStoreUnavailable until
// the sentinels promote the replica, and then work again; every write
// acknowledged before the kill is there.
func TestRedisSentinelStoreReadsThroughFailover(t *testing.T) {
	ctx := context.Background()
	sent := redistest.StartSentinels(t)
	s := openRedis(t, filer.RedisOptions{SentinelAddrs: sent.Addrs, MasterName: redistest.MasterName, WaitReplicas: 1})
	defer s.Close()
	for i := range 20 {
		if err := s.Insert(ctx, &filer.Entry{FullPath: fmt.Sprintf("/f%02d", i)}); err != nil {
			t.Fatalf("Insert: %v", err)
		}
	}
	sent.KillMaster()
	if _, err := s.Find(ctx, "/f07"); err != nil {
		t.Fatalf("Find with the master dead: %v, want the replica's copy", err)
	}
	if es, err := s.List(ctx, "/", "", 0); err != nil || len(es) != 20 {
		t.Fatalf("List with the master dead = %d entries, %v; want 20 from the replica", len(es), err)
	}
	if _, err := s.Replace(ctx, &filer.Entry{FullPath: "/new"}); !errors.Is(err, filer.ErrStoreUnavailable) && !errors.Is(err, filer.ErrNotReplicated) {
		t.Fatalf("Replace with the master dead = %v, want ErrStoreUnavailable (or ErrNotReplicated once failed over)", err)
	}
	sent.WaitFailover()
	// The promoted master has no replica left: a write is done there but
	// not acknowledged.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := s.Replace(ctx, &filer.Entry{FullPath: "/after"})
		if errors.Is(err, filer.ErrNotReplicated) {
			break
		}
		if !errors.Is(err, filer.ErrStoreUnavailable) || time.Now().After(deadline) {
			t.Fatalf("Replace after the failover = %v, want ErrNotReplicated: no replica is left", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A store that asks for no replica writes there.
	s0 := openRedis(t, filer.RedisOptions{SentinelAddrs: sent.Addrs, MasterName: redistest.MasterName})
	defer s0.Close()
	if _, err := s0.Replace(ctx, &filer.Entry{FullPath: "/after0"}); err != nil {
		t.Fatalf("Replace after the failover without waiting for replicas: %v", err)
	}
	es, err := s.List(ctx, "/", "", 0)
	if err != nil {
		t.Fatalf("List after the failover: %v", err)
	}
	seen := map[string]bool{}
	for _, e := range es {
		seen[e.Name()] = true
	}
	for i := range 20 {
		if !seen[fmt.Sprintf("f%02d", i)] {
			t.Errorf("f%02d, acknowledged before the kill, is gone after the failover", i)
		}
	}
}
