package filer_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
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
