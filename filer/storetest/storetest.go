// Package storetest is the conformance suite every filer.Store must pass.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weedfs/weed/filer"
)

// Test runs the conformance suite against the stores newStore makes. Each
// subtest calls newStore once and expects an empty store; the suite closes
// every store it gets.
func Test(t *testing.T, newStore func(t *testing.T) filer.Store) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s filer.Store)
	}{
		{"InsertFindReplace", testInsertFindReplace},
		{"FindMissing", testFindMissing},
		{"Root", testRoot},
		{"Delete", testDelete},
		{"ListOrder", testListOrder},
		{"ListPrefixNeighbours", testListPrefixNeighbours},
		{"ListAfterAndLimit", testListAfterAndLimit},
		{"Paging", testPaging},
		{"NestedDirectories", testNestedDirectories},
		{"ListEmptyAndMissing", testListEmptyAndMissing},
		{"ConcurrentInserts", testConcurrentInserts},
		{"ReplaceRemove", testReplaceRemove},
		{"ConcurrentReplaceRemove", testConcurrentReplaceRemove},
		{"Create", testCreate},
		{"ConcurrentCreateReplace", testConcurrentCreateReplace},
		{"ParentRequired", testParentRequired},
		{"RemoveNonEmpty", testRemoveNonEmpty},
		{"ConcurrentRemoveDirWriteChild", testConcurrentRemoveDirWriteChild},
		{"Rename", testRename},
		{"RenameDirectory", testRenameDirectory},
		{"ConcurrentRenameWrites", testConcurrentRenameWrites},
		{"Chunks", testChunks},
		{"BadPaths", testBadPaths},
		{"CanceledContext", testCanceledContext},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			c.fn(t, s)
		})
	}
}

// fileEntry builds a one-chunk file entry at p with values derived from p.
func fileEntry(p string) *filer.Entry {
	return &filer.Entry{
		FullPath: p,
		Mime:     "text/plain",
		Mtime:    time.Unix(1700000000, 123456789),
		Size:     uint64(len(p)),
		Chunks: []filer.Chunk{{
			Fid: fmt.Sprintf("3,%08x%08x", len(p), 0x1234abcd), Offset: 0,
			Size: uint64(len(p)), ETag: "8f2e1a3b",
		}},
		Collection:  "pics",
		Replication: "001",
		TTL:         "3d",
	}
}

func dirEntry(p string) *filer.Entry {
	return &filer.Entry{FullPath: p, IsDirectory: true, Mtime: time.Unix(1700000000, 0)}
}

// CheckEqual fails t unless got and want hold the same fields (times compared
// with Equal, nil and empty chunk lists alike).
func CheckEqual(t testing.TB, got, want *filer.Entry) {
	t.Helper()
	if got == nil {
		t.Fatalf("entry %q: got nil", want.FullPath)
	}
	if got.FullPath != want.FullPath || got.IsDirectory != want.IsDirectory ||
		got.Mime != want.Mime || !got.Mtime.Equal(want.Mtime) || got.Size != want.Size ||
		got.Collection != want.Collection || got.Replication != want.Replication ||
		got.TTL != want.TTL || len(got.Chunks) != len(want.Chunks) {
		t.Fatalf("entry mismatch:\n got %+v\nwant %+v", got, want)
	}
	for i := range want.Chunks {
		if got.Chunks[i] != want.Chunks[i] {
			t.Fatalf("entry %q chunk %d: got %+v, want %+v", want.FullPath, i, got.Chunks[i], want.Chunks[i])
		}
	}
}

func mustInsert(t testing.TB, s filer.Store, e *filer.Entry) {
	t.Helper()
	if err := s.Insert(context.Background(), e); err != nil {
		t.Fatalf("Insert(%q): %v", e.FullPath, err)
	}
}

func mustFind(t testing.TB, s filer.Store, p string) *filer.Entry {
	t.Helper()
	e, err := s.Find(context.Background(), p)
	if err != nil {
		t.Fatalf("Find(%q): %v", p, err)
	}
	return e
}

func mustNotFind(t testing.TB, s filer.Store, p string) {
	t.Helper()
	e, err := s.Find(context.Background(), p)
	if !errors.Is(err, filer.ErrNotFound) {
		t.Fatalf("Find(%q) = %+v, %v; want ErrNotFound", p, e, err)
	}
}

func mustList(t testing.TB, s filer.Store, dir, after string, limit int) []*filer.Entry {
	t.Helper()
	es, err := s.List(context.Background(), dir, after, limit)
	if err != nil {
		t.Fatalf("List(%q, %q, %d): %v", dir, after, limit, err)
	}
	return es
}

// names returns the entries' names, failing t if any entry is not a child of dir.
func names(t testing.TB, dir string, es []*filer.Entry) []string {
	t.Helper()
	out := make([]string, len(es))
	for i, e := range es {
		if d, _ := filer.SplitPath(e.FullPath); d != dir {
			t.Fatalf("List(%q) returned %q, not a child", dir, e.FullPath)
		}
		out[i] = e.Name()
	}
	return out
}

func checkNames(t testing.TB, dir string, es []*filer.Entry, want []string) {
	t.Helper()
	got := names(t, dir, es)
	if !slices.Equal(got, want) {
		t.Fatalf("List(%q) names:\n got %q\nwant %q", dir, got, want)
	}
}

func testInsertFindReplace(t *testing.T, s filer.Store) {
	want := fileEntry("/docs/hello.txt")
	mustInsert(t, s, want)
	CheckEqual(t, mustFind(t, s, "/docs/hello.txt"), want)

	// The store must not keep the caller's entry.
	want.Mime = "changed/after-insert"
	if got := mustFind(t, s, "/docs/hello.txt"); got.Mime != "text/plain" {
		t.Fatalf("store kept the caller's entry: mime %q", got.Mime)
	}

	repl := &filer.Entry{
		FullPath: "/docs/hello.txt",
		Mime:     "application/octet-stream",
		Mtime:    time.Unix(1800000000, 1),
		Size:     7,
		Chunks:   []filer.Chunk{{Fid: "9,0a0b0c0d0e", Size: 7, ETag: "00000001"}},
	}
	mustInsert(t, s, repl)
	CheckEqual(t, mustFind(t, s, "/docs/hello.txt"), repl)
	es := mustList(t, s, "/docs", "", 0)
	checkNames(t, "/docs", es, []string{"hello.txt"})
	CheckEqual(t, es[0], repl)

	// Changing the caller's copy of a found entry does not change the store.
	got := mustFind(t, s, "/docs/hello.txt")
	got.Chunks[0].Fid = "1,ff"
	CheckEqual(t, mustFind(t, s, "/docs/hello.txt"), repl)
}

func testFindMissing(t *testing.T, s filer.Store) {
	mustNotFind(t, s, "/nothing")
	mustNotFind(t, s, "/no/such/file.txt")
	mustInsert(t, s, fileEntry("/a/b"))
	mustNotFind(t, s, "/a/b/c")
	mustNotFind(t, s, "/a/bc")
	mustNotFind(t, s, "/a")
}

func testRoot(t *testing.T, s filer.Store) {
	root := mustFind(t, s, "/")
	if !root.IsDirectory || root.FullPath != "/" {
		t.Fatalf("Find(\"/\") = %+v, want the root directory", root)
	}
	ctx := context.Background()
	if err := s.Insert(ctx, dirEntry("/")); !errors.Is(err, filer.ErrBadPath) {
		t.Fatalf("Insert(\"/\") = %v, want ErrBadPath", err)
	}
	if err := s.Delete(ctx, "/"); !errors.Is(err, filer.ErrBadPath) {
		t.Fatalf("Delete(\"/\") = %v, want ErrBadPath", err)
	}
	mustInsert(t, s, fileEntry("/top.txt"))
	mustInsert(t, s, dirEntry("/top"))
	checkNames(t, "/", mustList(t, s, "/", "", 0), []string{"top", "top.txt"})
}

func testDelete(t *testing.T, s filer.Store) {
	ctx := context.Background()
	for _, p := range []string{"/d/one", "/d/two", "/d/three"} {
		mustInsert(t, s, fileEntry(p))
	}
	if err := s.Delete(ctx, "/d/two"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustNotFind(t, s, "/d/two")
	mustFind(t, s, "/d/one")
	checkNames(t, "/d", mustList(t, s, "/d", "", 0), []string{"one", "three"})

	// Deleting again, or a path that never existed, is not an error.
	for _, p := range []string{"/d/two", "/never/was", "/d/one/below"} {
		if err := s.Delete(ctx, p); err != nil {
			t.Fatalf("Delete(%q) of a missing path: %v", p, err)
		}
	}
	// A deleted path can be written again.
	mustInsert(t, s, fileEntry("/d/two"))
	checkNames(t, "/d", mustList(t, s, "/d", "", 0), []string{"one", "three", "two"})
}

// orderNames are names whose byte order differs from naive expectations:
// case, punctuation just below and above "/" (0x2f), the lowest printable
// byte, prefixes of each other, and multi-byte UTF-8.
var orderNames = []string{
	"a", "B", "b", "A", "a b", "a!", "a-b", "a.b", "a0", "a.", "a..", "...",
	" ", "  x", "~", "-", ".hidden", "0", "9", "a\u00a0", "é", "e", "z",
	"日本語", "日本", "😀", "\u00ff", "\u0100", "ab", "abc", "a~",
	"\uffef", "\U0010fffd", "xy", "name with spaces.txt",
}

func testListOrder(t *testing.T, s filer.Store) {
	want := slices.Clone(orderNames)
	slices.Sort(want)
	want = slices.Compact(want)
	for i, n := range orderNames {
		e := fileEntry(filer.JoinPath("/order", n))
		if i%3 == 0 {
			e = dirEntry(e.FullPath)
		}
		mustInsert(t, s, e)
	}
	checkNames(t, "/order", mustList(t, s, "/order", "", 0), want)

	// Listing one at a time gives the same order.
	var got []string
	after := ""
	for range len(want) + 1 {
		page := mustList(t, s, "/order", after, 1)
		if len(page) == 0 {
			break
		}
		got = append(got, names(t, "/order", page)...)
		after = page[0].Name()
	}
	if !slices.Equal(got, want) {
		t.Fatalf("one-at-a-time listing:\n got %q\nwant %q", got, want)
	}
}

// testListPrefixNeighbours checks that directories whose paths are prefixes
// of each other, or differ by a byte next to "/" or the lowest printable
// byte, never leak children into each other's listings.
func testListPrefixNeighbours(t *testing.T, s filer.Store) {
	dirs := []string{"/p", "/p-", "/p.", "/p0", "/p ", "/pp", "/p/q", "/p/q/r", "/p!"}
	for _, d := range dirs {
		mustInsert(t, s, dirEntry(d))
		for _, n := range []string{"x", "y", " ", "~"} {
			mustInsert(t, s, fileEntry(filer.JoinPath(d, n)))
		}
	}
	for _, d := range dirs {
		want := []string{" ", "x", "y", "~"}
		switch d {
		case "/p":
			want = []string{" ", "q", "x", "y", "~"}
		case "/p/q":
			want = []string{" ", "r", "x", "y", "~"}
		}
		checkNames(t, d, mustList(t, s, d, "", 0), want)
	}
	wantRoot := []string{"p", "p ", "p!", "p-", "p.", "p0", "pp"}
	checkNames(t, "/", mustList(t, s, "/", "", 0), wantRoot)
}

func testListAfterAndLimit(t *testing.T, s filer.Store) {
	for _, n := range []string{"b", "d", "f", "h", "j"} {
		mustInsert(t, s, fileEntry("/al/"+n))
	}
	cases := []struct {
		after string
		limit int
		want  []string
	}{
		{"", 0, []string{"b", "d", "f", "h", "j"}},
		{"", -1, []string{"b", "d", "f", "h", "j"}},
		{"", 2, []string{"b", "d"}},
		{"b", 2, []string{"d", "f"}},
		{"c", 2, []string{"d", "f"}}, // after a name that is not there
		{"a", 10, []string{"b", "d", "f", "h", "j"}},
		{"h", 10, []string{"j"}},
		{"j", 10, nil},
		{"z", 10, nil},
		{"d", 1, []string{"f"}},
		{"f\u00e9", 0, []string{"h", "j"}},
	}
	for _, c := range cases {
		got := names(t, "/al", mustList(t, s, "/al", c.after, c.limit))
		if !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("List(/al, after %q, limit %d) = %q, want %q", c.after, c.limit, got, c.want)
		}
	}
}

func testPaging(t *testing.T, s filer.Store) {
	const n, page = 1050, 100
	want := make([]string, n)
	for i := range n {
		want[i] = fmt.Sprintf("file-%04d.txt", (i*7919)%n) // inserted out of order
	}
	for _, name := range want {
		mustInsert(t, s, fileEntry("/many/"+name))
	}
	mustInsert(t, s, fileEntry("/many-other/file-0000.txt"))
	mustInsert(t, s, dirEntry("/many/sub"))
	mustInsert(t, s, fileEntry("/many/sub/file-0001.txt"))
	want = append(want, "sub")
	slices.Sort(want)

	var got []string
	after := ""
	pages := 0
	for {
		es := mustList(t, s, "/many", after, page)
		if len(es) > page {
			t.Fatalf("page %d has %d entries, limit %d", pages, len(es), page)
		}
		if len(es) == 0 {
			break
		}
		pages++
		if pages > n {
			t.Fatalf("paging does not end")
		}
		got = append(got, names(t, "/many", es)...)
		after = es[len(es)-1].Name()
		if len(es) < page {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged listing has %d names, want %d (first difference at %d)", len(got), len(want), firstDiff(got, want))
	}
	if wantPages := (len(want) + page - 1) / page; pages != wantPages {
		t.Fatalf("listing took %d pages, want %d", pages, wantPages)
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func testNestedDirectories(t *testing.T, s filer.Store) {
	mustInsert(t, s, dirEntry("/n"))
	mustInsert(t, s, dirEntry("/n/sub"))
	mustInsert(t, s, dirEntry("/n/sub/deeper"))
	mustInsert(t, s, fileEntry("/n/sub/deeper/leaf"))
	mustInsert(t, s, fileEntry("/n/sub/inner.txt"))
	mustInsert(t, s, fileEntry("/n/outer.txt"))
	mustInsert(t, s, fileEntry("/n/zz.txt"))

	top := mustList(t, s, "/n", "", 0)
	checkNames(t, "/n", top, []string{"outer.txt", "sub", "zz.txt"})
	for _, e := range top {
		if e.IsDirectory != (e.Name() == "sub") {
			t.Fatalf("%q: IsDirectory = %v", e.FullPath, e.IsDirectory)
		}
		if !e.IsDirectory && e.Fid() == "" {
			t.Fatalf("%q: file listed without a fid", e.FullPath)
		}
	}
	checkNames(t, "/n/sub", mustList(t, s, "/n/sub", "", 0), []string{"deeper", "inner.txt"})
	checkNames(t, "/n/sub/deeper", mustList(t, s, "/n/sub/deeper", "", 0), []string{"leaf"})
	checkNames(t, "/", mustList(t, s, "/", "", 0), []string{"n"})

	// Deleting a child leaves its siblings and parent alone.
	if err := s.Delete(context.Background(), "/n/sub/inner.txt"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	checkNames(t, "/n/sub", mustList(t, s, "/n/sub", "", 0), []string{"deeper"})
	checkNames(t, "/n", mustList(t, s, "/n", "", 0), []string{"outer.txt", "sub", "zz.txt"})
}

func testListEmptyAndMissing(t *testing.T, s filer.Store) {
	mustInsert(t, s, dirEntry("/empty"))
	for _, d := range []string{"/empty", "/missing", "/missing/deeper", "/"} {
		es, err := s.List(context.Background(), d, "", 100)
		if err != nil {
			t.Fatalf("List(%q): %v", d, err)
		}
		want := 0
		if d == "/" {
			want = 1
		}
		if len(es) != want {
			t.Fatalf("List(%q) = %d entries, want %d", d, len(es), want)
		}
	}
	// A file has no children.
	mustInsert(t, s, fileEntry("/empty/file"))
	if es := mustList(t, s, "/empty/file", "", 0); len(es) != 0 {
		t.Fatalf("List of a file returned %d entries", len(es))
	}
}

func testConcurrentInserts(t *testing.T, s filer.Store) {
	const writers, each = 8, 40
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, writers*2)
	for w := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range each {
				p := fmt.Sprintf("/conc/w%d-%03d", w, i)
				if err := s.Insert(ctx, fileEntry(p)); err != nil {
					errs <- fmt.Errorf("Insert(%q): %w", p, err)
					return
				}
				// Every writer also rewrites one shared path.
				if err := s.Insert(ctx, fileEntry("/conc/shared")); err != nil {
					errs <- fmt.Errorf("Insert(shared): %w", err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := s.List(ctx, "/conc", "", 50); err != nil {
					errs <- fmt.Errorf("List: %w", err)
					return
				}
				p := fmt.Sprintf("/conc/w%d-%03d", (w+1)%writers, i)
				if _, err := s.Find(ctx, p); err != nil && !errors.Is(err, filer.ErrNotFound) {
					errs <- fmt.Errorf("Find(%q): %w", p, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	es := mustList(t, s, "/conc", "", 0)
	if len(es) != writers*each+1 {
		t.Fatalf("after concurrent inserts, %d entries listed, want %d", len(es), writers*each+1)
	}
	for _, e := range es {
		CheckEqual(t, e, fileEntry(e.FullPath))
	}
}

func testChunks(t *testing.T, s filer.Store) {
	const chunkSize = 1 << 20
	want := &filer.Entry{
		FullPath:    "/big/movie.bin",
		Mime:        "application/octet-stream",
		Mtime:       time.Unix(1712345678, 999999999),
		Size:        5*chunkSize + 17,
		Collection:  "video",
		Replication: "010",
	}
	for i := range 6 {
		size := uint64(chunkSize)
		if i == 5 {
			size = 17
		}
		want.Chunks = append(want.Chunks, filer.Chunk{
			Fid:    fmt.Sprintf("%d,%x%08x", i+1, 1000+i, 0xdeadbeef-uint32(i)),
			Offset: int64(i) * chunkSize,
			Size:   size,
			ETag:   fmt.Sprintf("%08x", 0x1000+i),
		})
	}
	mustInsert(t, s, want)
	got := mustFind(t, s, "/big/movie.bin")
	CheckEqual(t, got, want)
	if got.Fid() != want.Chunks[0].Fid {
		t.Fatalf("Fid() = %q, want the first chunk's %q", got.Fid(), want.Chunks[0].Fid)
	}
	es := mustList(t, s, "/big", "", 0)
	checkNames(t, "/big", es, []string{"movie.bin"})
	CheckEqual(t, es[0], want)

	// An empty file has no chunks and no fid.
	empty := &filer.Entry{FullPath: "/big/empty", Mtime: time.Unix(1, 0)}
	mustInsert(t, s, empty)
	if got := mustFind(t, s, "/big/empty"); len(got.Chunks) != 0 || got.Fid() != "" || got.Size != 0 {
		t.Fatalf("empty file came back as %+v", got)
	}
}

func testBadPaths(t *testing.T, s filer.Store) {
	ctx := context.Background()
	bad := []string{
		"", "relative", "/a/../b", "/a/./b", "/a//b", "/a/", "/a\x00b", "/..", "/a/b/",
		"/" + strings.Repeat("n", filer.MaxNameLen+1), "/bad\xffutf8",
	}
	for _, p := range bad {
		if err := s.Insert(ctx, fileEntry(p)); !errors.Is(err, filer.ErrBadPath) {
			t.Errorf("Insert(%q) = %v, want ErrBadPath", p, err)
		}
		if _, err := s.Find(ctx, p); !errors.Is(err, filer.ErrBadPath) {
			t.Errorf("Find(%q) = %v, want ErrBadPath", p, err)
		}
		if err := s.Delete(ctx, p); !errors.Is(err, filer.ErrBadPath) {
			t.Errorf("Delete(%q) = %v, want ErrBadPath", p, err)
		}
	}
	for _, d := range []string{"", "x", "/a/", "/a//b", "/a/..", "/a\x01"} {
		if _, err := s.List(ctx, d, "", 10); !errors.Is(err, filer.ErrBadPath) {
			t.Errorf("List(%q) = %v, want ErrBadPath", d, err)
		}
	}
	if es := mustList(t, s, "/", "", 0); len(es) != 0 {
		t.Fatalf("refused inserts left %d entries in /", len(es))
	}
}

func testCanceledContext(t *testing.T, s filer.Store) {
	mustInsert(t, s, fileEntry("/ctx/kept"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Insert(ctx, fileEntry("/ctx/new")); !errors.Is(err, context.Canceled) {
		t.Errorf("Insert with a canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.Find(ctx, "/ctx/kept"); !errors.Is(err, context.Canceled) {
		t.Errorf("Find with a canceled context = %v, want context.Canceled", err)
	}
	if err := s.Delete(ctx, "/ctx/kept"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with a canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.List(ctx, "/ctx", "", 10); !errors.Is(err, context.Canceled) {
		t.Errorf("List with a canceled context = %v, want context.Canceled", err)
	}
	mustNotFind(t, s, "/ctx/new")
	mustFind(t, s, "/ctx/kept")
}

// versionEntry is a file entry at p whose only chunk's fid names version v.
func versionEntry(p, v string) *filer.Entry {
	e := fileEntry(p)
	e.Chunks[0].Fid = v
	return e
}

func testReplaceRemove(t *testing.T, s filer.Store) {
	ctx := context.Background()
	mustInsert(t, s, dirEntry("/rr"))
	first, second := versionEntry("/rr/f", "1,01"), versionEntry("/rr/f", "1,02")
	if old, err := s.Replace(ctx, first); err != nil || old != nil {
		t.Fatalf("Replace of a new path = %+v, %v; want nil, nil", old, err)
	}
	CheckEqual(t, mustFind(t, s, "/rr/f"), first)
	old, err := s.Replace(ctx, second)
	if err != nil {
		t.Fatalf("Replace: %v", err)
	}
	CheckEqual(t, old, first)
	CheckEqual(t, mustFind(t, s, "/rr/f"), second)
	checkNames(t, "/rr", mustList(t, s, "/rr", "", 0), []string{"f"})

	// A directory is never replaced.
	mustInsert(t, s, dirEntry("/rr/d"))
	if old, err := s.Replace(ctx, fileEntry("/rr/d")); !errors.Is(err, filer.ErrIsDirectory) || old != nil {
		t.Fatalf("Replace of a directory = %+v, %v; want ErrIsDirectory", old, err)
	}
	CheckEqual(t, mustFind(t, s, "/rr/d"), dirEntry("/rr/d"))

	old, err = s.Remove(ctx, "/rr/f")
	if err != nil {
		t.Fatalf("Remove: %v", err)
	}
	CheckEqual(t, old, second)
	mustNotFind(t, s, "/rr/f")
	if old, err := s.Remove(ctx, "/rr/f"); err != nil || old != nil {
		t.Fatalf("Remove of a missing path = %+v, %v; want nil, nil", old, err)
	}
	old, err = s.Remove(ctx, "/rr/d")
	if err != nil {
		t.Fatalf("Remove of a directory: %v", err)
	}
	CheckEqual(t, old, dirEntry("/rr/d"))
	checkNames(t, "/rr", mustList(t, s, "/rr", "", 0), nil)

	for _, p := range []string{"", "/", "/a/../b", "/a//b", "/a/"} {
		if _, err := s.Replace(ctx, fileEntry(p)); !errors.Is(err, filer.ErrBadPath) {
			t.Errorf("Replace(%q) = %v, want ErrBadPath", p, err)
		}
		if _, err := s.Remove(ctx, p); !errors.Is(err, filer.ErrBadPath) {
			t.Errorf("Remove(%q) = %v, want ErrBadPath", p, err)
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Replace(canceled, fileEntry("/rr/g")); !errors.Is(err, context.Canceled) {
		t.Errorf("Replace with a canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.Remove(canceled, "/rr/g"); !errors.Is(err, context.Canceled) {
		t.Errorf("Remove with a canceled context = %v, want context.Canceled", err)
	}
}

// testConcurrentReplaceRemove has writers replace one path and removers
// remove it at once: every version written comes back exactly once, from
// the Replace or Remove that took it off the path or as the final entry,
// which is what lets filers sharing a store delete each old file's needles
// once and leak none.
func testConcurrentReplaceRemove(t *testing.T, s filer.Store) {
	const writers, removers, each = 6, 2, 40
	const p = "/race/f"
	ctx := context.Background()
	mustInsert(t, s, dirEntry("/race"))
	var (
		mu    sync.Mutex
		taken []string
		wg    sync.WaitGroup
	)
	errs := make(chan error, writers+removers)
	take := func(e *filer.Entry) {
		if e != nil {
			mu.Lock()
			taken = append(taken, e.Chunks[0].Fid)
			mu.Unlock()
		}
	}
	var written []string
	for w := range writers {
		for i := range each {
			written = append(written, fmt.Sprintf("%d,%02x", w+1, i))
		}
	}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				old, err := s.Replace(ctx, versionEntry(p, fmt.Sprintf("%d,%02x", w+1, i)))
				if err != nil {
					errs <- fmt.Errorf("Replace: %w", err)
					return
				}
				take(old)
			}
		}()
	}
	for range removers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				old, err := s.Remove(ctx, p)
				if err != nil {
					errs <- fmt.Errorf("Remove: %w", err)
					return
				}
				take(old)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if e, err := s.Find(ctx, p); err == nil {
		take(e)
	} else if !errors.Is(err, filer.ErrNotFound) {
		t.Fatalf("Find: %v", err)
	}
	slices.Sort(taken)
	slices.Sort(written)
	if !slices.Equal(taken, written) {
		t.Fatalf("%d versions written, %d came back; a version was lost or returned twice", len(written), len(taken))
	}
}

// testCreate: Create stores an entry only where none is, and otherwise
// returns what is there without changing it.
func testCreate(t *testing.T, s filer.Store) {
	ctx := context.Background()
	mustInsert(t, s, dirEntry("/cr"))
	d := dirEntry("/cr/d")
	if existing, err := s.Create(ctx, d); err != nil || existing != nil {
		t.Fatalf("Create of a new path = %+v, %v; want nil, nil", existing, err)
	}
	CheckEqual(t, mustFind(t, s, "/cr/d"), d)
	checkNames(t, "/cr", mustList(t, s, "/cr", "", 0), []string{"d"})

	again := dirEntry("/cr/d")
	again.Mtime = time.Unix(1800000000, 0)
	existing, err := s.Create(ctx, again)
	if err != nil || existing == nil {
		t.Fatalf("Create over a directory = %+v, %v; want the directory", existing, err)
	}
	CheckEqual(t, existing, d)
	CheckEqual(t, mustFind(t, s, "/cr/d"), d)

	f := fileEntry("/cr/f")
	mustInsert(t, s, f)
	existing, err = s.Create(ctx, dirEntry("/cr/f"))
	if err != nil || existing == nil || existing.IsDirectory {
		t.Fatalf("Create over a file = %+v, %v; want the file", existing, err)
	}
	CheckEqual(t, mustFind(t, s, "/cr/f"), f)
	checkNames(t, "/cr", mustList(t, s, "/cr", "", 0), []string{"d", "f"})

	for _, p := range []string{"/", "", "relative", "/cr/"} {
		if _, err := s.Create(ctx, dirEntry(p)); !errors.Is(err, filer.ErrBadPath) {
			t.Errorf("Create(%q) = %v, want ErrBadPath", p, err)
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Create(canceled, dirEntry("/cr/g")); !errors.Is(err, context.Canceled) {
		t.Errorf("Create with a canceled context = %v, want context.Canceled", err)
	}
	mustNotFind(t, s, "/cr/g")
}

// testConcurrentCreateReplace has filers create a directory at a path
// while others write files there: either a directory got there first and
// every file write was refused, or a file did and no directory was
// created; no file a writer was told it wrote is ever overwritten by a
// directory, and every file version comes back exactly once.
func testConcurrentCreateReplace(t *testing.T, s filer.Store) {
	const creators, writers, each = 4, 4, 25
	ctx := context.Background()
	mustInsert(t, s, dirEntry("/ccr"))
	for round := range 8 {
		p := fmt.Sprintf("/ccr/%d", round)
		var (
			mu             sync.Mutex
			created        int
			written, taken []string
			wg             sync.WaitGroup
		)
		errs := make(chan error, creators+writers)
		for range creators {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					existing, err := s.Create(ctx, dirEntry(p))
					if err != nil {
						errs <- fmt.Errorf("Create: %w", err)
						return
					}
					if existing == nil {
						mu.Lock()
						created++
						mu.Unlock()
					}
				}
			}()
		}
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					v := fmt.Sprintf("%d,%02x%02x", w+1, round, i)
					old, err := s.Replace(ctx, versionEntry(p, v))
					if errors.Is(err, filer.ErrIsDirectory) {
						continue
					}
					if err != nil {
						errs <- fmt.Errorf("Replace: %w", err)
						return
					}
					mu.Lock()
					written = append(written, v)
					if old != nil {
						taken = append(taken, old.Chunks[0].Fid)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		final := mustFind(t, s, p)
		switch {
		case created > 1:
			t.Fatalf("%s: %d Creates stored a directory, want at most 1", p, created)
		case created == 1 && (!final.IsDirectory || len(written) > 0):
			t.Fatalf("%s: a directory was created, but %d file writes succeeded and the path holds %+v", p, len(written), final)
		case created == 0 && final.IsDirectory:
			t.Fatalf("%s: no Create stored the directory that is there", p)
		}
		if !final.IsDirectory {
			taken = append(taken, final.Chunks[0].Fid)
		}
		slices.Sort(written)
		slices.Sort(taken)
		if !slices.Equal(written, taken) {
			t.Fatalf("%s: %d file versions written, %d came back; one was lost or returned twice", p, len(written), len(taken))
		}
	}
}

// testParentRequired: Replace and Create store nothing under a missing
// parent (ErrNoParent) or under a file (ErrNotDirectory); the root is
// always a parent.
func testParentRequired(t *testing.T, s filer.Store) {
	ctx := context.Background()
	if _, err := s.Replace(ctx, fileEntry("/pr/f")); !errors.Is(err, filer.ErrNoParent) {
		t.Errorf("Replace under a missing directory = %v, want ErrNoParent", err)
	}
	if _, err := s.Create(ctx, dirEntry("/pr/d")); !errors.Is(err, filer.ErrNoParent) {
		t.Errorf("Create under a missing directory = %v, want ErrNoParent", err)
	}
	mustNotFind(t, s, "/pr/f")
	mustNotFind(t, s, "/pr/d")
	checkNames(t, "/pr", mustList(t, s, "/pr", "", 0), nil)

	if _, err := s.Create(ctx, dirEntry("/pr")); err != nil {
		t.Fatalf("Create under the root: %v", err)
	}
	if old, err := s.Replace(ctx, fileEntry("/pr/f")); err != nil || old != nil {
		t.Fatalf("Replace under a directory = %+v, %v; want nil, nil", old, err)
	}
	if _, err := s.Replace(ctx, fileEntry("/pr/f/g")); !errors.Is(err, filer.ErrNotDirectory) {
		t.Errorf("Replace under a file = %v, want ErrNotDirectory", err)
	}
	if _, err := s.Create(ctx, dirEntry("/pr/f/d")); !errors.Is(err, filer.ErrNotDirectory) {
		t.Errorf("Create under a file = %v, want ErrNotDirectory", err)
	}
	mustNotFind(t, s, "/pr/f/g")
	mustNotFind(t, s, "/pr/f/d")
	checkNames(t, "/pr", mustList(t, s, "/pr", "", 0), []string{"f"})
	if old, err := s.Replace(ctx, fileEntry("/top")); err != nil || old != nil {
		t.Fatalf("Replace under the root = %+v, %v; want nil, nil", old, err)
	}
}

// testRemoveNonEmpty: Remove refuses a directory with children and
// changes nothing; emptied, the directory goes.
func testRemoveNonEmpty(t *testing.T, s filer.Store) {
	ctx := context.Background()
	mustInsert(t, s, dirEntry("/rn"))
	mustInsert(t, s, dirEntry("/rn/d"))
	mustInsert(t, s, fileEntry("/rn/d/f"))
	mustInsert(t, s, fileEntry("/rn/d-neighbour"))
	if old, err := s.Remove(ctx, "/rn/d"); !errors.Is(err, filer.ErrNotEmpty) || old != nil {
		t.Fatalf("Remove of a directory with a child = %+v, %v; want ErrNotEmpty", old, err)
	}
	CheckEqual(t, mustFind(t, s, "/rn/d"), dirEntry("/rn/d"))
	checkNames(t, "/rn", mustList(t, s, "/rn", "", 0), []string{"d", "d-neighbour"})
	checkNames(t, "/rn/d", mustList(t, s, "/rn/d", "", 0), []string{"f"})
	if _, err := s.Remove(ctx, "/rn/d/f"); err != nil {
		t.Fatalf("Remove of the child: %v", err)
	}
	old, err := s.Remove(ctx, "/rn/d")
	if err != nil {
		t.Fatalf("Remove of the emptied directory: %v", err)
	}
	CheckEqual(t, old, dirEntry("/rn/d"))
	checkNames(t, "/rn", mustList(t, s, "/rn", "", 0), []string{"d-neighbour"})
}

// testConcurrentRemoveDirWriteChild has a writer put a file into a
// directory while a remover removes the directory, many times: at most
// one of them succeeds, so a file is never left without its directory.
func testConcurrentRemoveDirWriteChild(t *testing.T, s filer.Store) {
	const rounds = 100
	ctx := context.Background()
	mustInsert(t, s, dirEntry("/rc"))
	outcomes := map[string]int{}
	for round := range rounds {
		dir := fmt.Sprintf("/rc/%d", round)
		child := dir + "/f"
		mustInsert(t, s, dirEntry(dir))
		var wg sync.WaitGroup
		var writeErr, removeErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, writeErr = s.Replace(ctx, fileEntry(child))
		}()
		go func() {
			defer wg.Done()
			_, removeErr = s.Remove(ctx, dir)
		}()
		wg.Wait()
		switch {
		case writeErr == nil && errors.Is(removeErr, filer.ErrNotEmpty):
			outcomes["write first"]++
			mustFind(t, s, dir)
			checkNames(t, dir, mustList(t, s, dir, "", 0), []string{"f"})
		case removeErr == nil && errors.Is(writeErr, filer.ErrNoParent):
			outcomes["remove first"]++
			mustNotFind(t, s, dir)
			mustNotFind(t, s, child)
		default:
			t.Fatalf("round %d: Replace(%s) = %v, Remove(%s) = %v; want exactly one to succeed", round, child, writeErr, dir, removeErr)
		}
	}
	t.Logf("%d rounds: %v", rounds, outcomes)
}
