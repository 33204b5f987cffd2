package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weedfs/weed/filer"
)

// testRename: files move within and across directories, over a file
// (which comes back to the caller), and every refused move changes nothing.
func testRename(t *testing.T, s filer.Store) {
	ctx := context.Background()
	mustInsert(t, s, dirEntry("/mv"))
	mustInsert(t, s, dirEntry("/mv/other"))
	a := versionEntry("/mv/a", "1,0a")
	mustInsert(t, s, a)

	if old, err := s.Rename(ctx, "/mv/a", "/mv/b"); err != nil || old != nil {
		t.Fatalf("Rename within a directory = %+v, %v; want nil, nil", old, err)
	}
	mustNotFind(t, s, "/mv/a")
	CheckEqual(t, mustFind(t, s, "/mv/b"), movedEntry(a, "/mv/b"))
	checkNames(t, "/mv", mustList(t, s, "/mv", "", 0), []string{"b", "other"})

	if old, err := s.Rename(ctx, "/mv/b", "/mv/other/c"); err != nil || old != nil {
		t.Fatalf("Rename across directories = %+v, %v; want nil, nil", old, err)
	}
	CheckEqual(t, mustFind(t, s, "/mv/other/c"), movedEntry(a, "/mv/other/c"))
	checkNames(t, "/mv", mustList(t, s, "/mv", "", 0), []string{"other"})
	checkNames(t, "/mv/other", mustList(t, s, "/mv/other", "", 0), []string{"c"})

	// Over a file: the replaced file comes back, once.
	d := versionEntry("/mv/d", "2,0d")
	mustInsert(t, s, d)
	old, err := s.Rename(ctx, "/mv/d", "/mv/other/c")
	if err != nil {
		t.Fatalf("Rename over a file: %v", err)
	}
	CheckEqual(t, old, movedEntry(a, "/mv/other/c"))
	c := movedEntry(d, "/mv/other/c")
	CheckEqual(t, mustFind(t, s, "/mv/other/c"), c)
	mustNotFind(t, s, "/mv/d")

	// To itself: nothing changes.
	if old, err := s.Rename(ctx, "/mv/other/c", "/mv/other/c"); err != nil || old != nil {
		t.Fatalf("Rename to itself = %+v, %v; want nil, nil", old, err)
	}
	CheckEqual(t, mustFind(t, s, "/mv/other/c"), c)

	mustInsert(t, s, dirEntry("/mv/dir"))
	mustInsert(t, s, versionEntry("/mv/f", "3,0f"))
	refused := []struct {
		from, to string
		want     error
	}{
		{"/mv/missing", "/mv/x", filer.ErrNotFound},
		{"/mv/f", "/mv/dir", filer.ErrIsDirectory},
		{"/mv/f", "/mv/nodir/x", filer.ErrNoParent},
		{"/mv/f", "/mv/other/c/x", filer.ErrNotDirectory},
		{"/mv/dir", "/mv/other/c", filer.ErrNotDirectory},
		{"/mv/dir", "/mv/dir/sub", filer.ErrBadPath},
		{"/mv", "/mv/other/deeper", filer.ErrBadPath},
		{"/", "/x", filer.ErrBadPath},
		{"/mv/f", "/", filer.ErrBadPath},
		{"/mv/f", "/mv//g", filer.ErrBadPath},
		{"mv/f", "/mv/g", filer.ErrBadPath},
	}
	for _, c := range refused {
		if old, err := s.Rename(ctx, c.from, c.to); !errors.Is(err, c.want) || old != nil {
			t.Errorf("Rename(%q, %q) = %+v, %v; want %v", c.from, c.to, old, err, c.want)
		}
	}
	CheckEqual(t, mustFind(t, s, "/mv/f"), versionEntry("/mv/f", "3,0f"))
	CheckEqual(t, mustFind(t, s, "/mv/dir"), dirEntry("/mv/dir"))
	CheckEqual(t, mustFind(t, s, "/mv/other/c"), c)
	checkNames(t, "/mv", mustList(t, s, "/mv", "", 0), []string{"dir", "f", "other"})

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Rename(canceled, "/mv/f", "/mv/g"); !errors.Is(err, context.Canceled) {
		t.Errorf("Rename with a canceled context = %v, want context.Canceled", err)
	}
	mustFind(t, s, "/mv/f")
}

// testRenameDirectory: a directory moves with its whole tree; its old
// paths are gone, and a neighbour whose name it prefixes stays.
func testRenameDirectory(t *testing.T, s filer.Store) {
	ctx := context.Background()
	tree := []*filer.Entry{
		dirEntry("/t"), dirEntry("/t/src"), dirEntry("/t/src/sub"), dirEntry("/t/src/sub/deep"),
		versionEntry("/t/src/a", "1,01"), versionEntry("/t/src/sub/b", "1,02"),
		versionEntry("/t/src/sub/deep/c", "1,03"), dirEntry("/t/src/empty"),
		versionEntry("/t/src-neighbour", "1,04"), dirEntry("/t/src.d"), versionEntry("/t/src.d/x", "1,05"),
		dirEntry("/t/to"),
	}
	for _, e := range tree {
		mustInsert(t, s, e)
	}
	if old, err := s.Rename(ctx, "/t/src", "/t/to/dst"); err != nil || old != nil {
		t.Fatalf("Rename of a directory = %+v, %v; want nil, nil", old, err)
	}
	for _, e := range tree {
		p := e.FullPath
		if p != "/t/src" && !strings.HasPrefix(p, "/t/src/") {
			CheckEqual(t, mustFind(t, s, p), e)
			continue
		}
		mustNotFind(t, s, p)
		to := "/t/to/dst" + strings.TrimPrefix(p, "/t/src")
		CheckEqual(t, mustFind(t, s, to), movedEntry(e, to))
	}
	mustNotFind(t, s, "/t/src")
	checkNames(t, "/t", mustList(t, s, "/t", "", 0), []string{"src-neighbour", "src.d", "to"})
	checkNames(t, "/t/to", mustList(t, s, "/t/to", "", 0), []string{"dst"})
	checkNames(t, "/t/to/dst", mustList(t, s, "/t/to/dst", "", 0), []string{"a", "empty", "sub"})
	checkNames(t, "/t/to/dst/sub", mustList(t, s, "/t/to/dst/sub", "", 0), []string{"b", "deep"})
	checkNames(t, "/t/to/dst/sub/deep", mustList(t, s, "/t/to/dst/sub/deep", "", 0), []string{"c"})
	for _, d := range []string{"/t/src", "/t/src/sub", "/t/src/sub/deep"} {
		checkNames(t, d, mustList(t, s, d, "", 0), nil)
	}
	checkNames(t, "/t/src.d", mustList(t, s, "/t/src.d", "", 0), []string{"x"})

	// The moved tree works as any other: written into, removed bottom up.
	if _, err := s.Replace(ctx, versionEntry("/t/to/dst/sub/new", "2,01")); err != nil {
		t.Fatalf("Replace into the moved tree: %v", err)
	}
	if _, err := s.Remove(ctx, "/t/to/dst/sub"); !errors.Is(err, filer.ErrNotEmpty) {
		t.Fatalf("Remove of a moved non-empty directory = %v, want ErrNotEmpty", err)
	}
	// And it moves back.
	if _, err := s.Rename(ctx, "/t/to/dst", "/t/src"); err != nil {
		t.Fatalf("Rename back: %v", err)
	}
	checkNames(t, "/t/src/sub", mustList(t, s, "/t/src/sub", "", 0), []string{"b", "deep", "new"})
	checkNames(t, "/t/to", mustList(t, s, "/t/to", "", 0), nil)
}

// testConcurrentRenameWrites moves a directory while writers keep adding
// files to it under its old path (creating it again when it is gone): at
// the end every file a writer was told it wrote is in exactly one place,
// moved with the directory if written before the move or under the
// recreated old path if after, and nothing else is anywhere.
func testConcurrentRenameWrites(t *testing.T, s filer.Store) {
	const writers, each = 4, 40
	ctx := context.Background()
	mustInsert(t, s, dirEntry("/cm"))
	mustInsert(t, s, dirEntry("/cm/src"))
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		written []string
		started atomic.Int64
	)
	errs := make(chan error, writers+1)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				name := fmt.Sprintf("w%d-%03d", w, i)
				for attempt := 0; ; attempt++ {
					_, err := s.Replace(ctx, versionEntry("/cm/src/"+name, fmt.Sprintf("%d,%03x", w+1, i)))
					if errors.Is(err, filer.ErrNoParent) && attempt < 100 {
						if _, err := s.Create(ctx, dirEntry("/cm/src")); err != nil {
							errs <- fmt.Errorf("Create(/cm/src): %w", err)
							return
						}
						continue
					}
					if err != nil {
						errs <- fmt.Errorf("Replace(%s): %w", name, err)
						return
					}
					break
				}
				mu.Lock()
				written = append(written, name)
				mu.Unlock()
				started.Add(1)
				// A filer stores a file's bytes before its entry; this
				// pause stands for that upload.
				time.Sleep(200 * time.Microsecond)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for started.Load() < writers*each/3 {
			runtimeYield()
		}
		if _, err := s.Rename(ctx, "/cm/src", "/cm/dst"); err != nil {
			errs <- fmt.Errorf("Rename: %w", err)
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	moved := names(t, "/cm/dst", mustList(t, s, "/cm/dst", "", 0))
	after := names(t, "/cm/src", mustList(t, s, "/cm/src", "", 0))
	if len(moved) == 0 {
		t.Fatalf("the move took none of the %d files written before it", writers*each/3)
	}
	all := append(slices.Clone(moved), after...)
	slices.Sort(all)
	slices.Sort(written)
	if !slices.Equal(all, written) {
		t.Fatalf("%d files written; %d moved and %d under the old path: one was lost or is in both places", len(written), len(moved), len(after))
	}
	for _, n := range moved {
		if e := mustFind(t, s, "/cm/dst/"+n); e.FullPath != "/cm/dst/"+n {
			t.Fatalf("moved entry %s says it is at %s", n, e.FullPath)
		}
	}
	t.Logf("%d files moved, %d written after the move", len(moved), len(after))
}

// movedEntry is a copy of e at the path to.
func movedEntry(e *filer.Entry, to string) *filer.Entry {
	m := *e
	m.FullPath = to
	return &m
}
