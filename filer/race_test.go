package filer_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weedfs/weed/filer"
)

// gatedStore is a Store that stops one call (the first whose operation
// and path match) until the test releases it, to put a write or a delete
// of another goroutine into the window between that call's decision and
// its effect.
type gatedStore struct {
	filer.Store
	op, path string
	once     sync.Once
	reached  chan struct{} // closed when the gated call arrives
	release  chan struct{} // closed by the test to let it go on
}

func newGatedStore(s filer.Store, op, path string) *gatedStore {
	return &gatedStore{Store: s, op: op, path: path, reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedStore) gate(op, p string) {
	if op != g.op || p != g.path {
		return
	}
	g.once.Do(func() {
		close(g.reached)
		<-g.release
	})
}

func (g *gatedStore) Replace(ctx context.Context, e *filer.Entry) (*filer.Entry, error) {
	g.gate("Replace", e.FullPath)
	return g.Store.Replace(ctx, e)
}

func (g *gatedStore) Remove(ctx context.Context, p string) (*filer.Entry, error) {
	g.gate("Remove", p)
	return g.Store.Remove(ctx, p)
}

// newGatedFiler returns a Filer whose store stops the first op on path.
func newGatedFiler(t *testing.T, op, path string) (*filer.Filer, *gatedStore) {
	t.Helper()
	var g *gatedStore
	f, _ := newFilerOver(t, filer.Options{}, func(s filer.Store) filer.Store {
		g = newGatedStore(s, op, path)
		return g
	})
	return f, g
}

// waitGate waits for the gated call to arrive, or fails the test.
func waitGate(t *testing.T, g *gatedStore) {
	t.Helper()
	select {
	case <-g.reached:
	case <-time.After(10 * time.Second):
		t.Fatalf("the gated %s of %s never came", g.op, g.path)
	}
}

// checkNoOrphan fails the test if the file p exists without its parent
// directory listing it, all the way up to the root.
func checkNoOrphan(t *testing.T, f *filer.Filer, p string) {
	t.Helper()
	ctx := context.Background()
	if _, err := f.Find(ctx, p); errors.Is(err, filer.ErrNotFound) {
		return
	} else if err != nil {
		t.Fatalf("Find(%s): %v", p, err)
	}
	for child := p; child != "/"; {
		dir, name := filer.SplitPath(child)
		l, err := f.List(ctx, dir, "", filer.MaxListLimit)
		if err != nil {
			t.Fatalf("%s exists, but its directory %s does not: %v", child, dir, err)
		}
		if !listed(l, name) {
			t.Fatalf("%s exists, but %s does not list it", child, dir)
		}
		child = dir
	}
}

func listed(l *filer.Listing, name string) bool {
	if slices.Contains(l.Subdirectories, name) {
		return true
	}
	for _, f := range l.Files {
		if f.Name == name {
			return true
		}
	}
	return false
}

// TestRecursiveDeleteTakesAFileWrittenMeanwhile: a file committed into a
// directory after a recursive delete emptied it, but before the delete
// removed the directory itself, is deleted with it; it is never left
// behind without a parent.
func TestRecursiveDeleteTakesAFileWrittenMeanwhile(t *testing.T) {
	f, g := newGatedFiler(t, "Remove", "/t")
	ctx := context.Background()
	if _, err := f.WriteFile(ctx, strings.NewReader("a"), filer.NewFile{Path: "/t/a"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Delete(ctx, "/t", true) }()
	waitGate(t, g)
	if _, err := f.WriteFile(ctx, strings.NewReader("b"), filer.NewFile{Path: "/t/b"}); err != nil {
		t.Fatalf("write into the directory being deleted: %v", err)
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatalf("recursive Delete: %v", err)
	}
	checkNoOrphan(t, f, "/t/b")
	if _, err := f.Find(ctx, "/t"); !errors.Is(err, filer.ErrNotFound) {
		t.Errorf("after the recursive delete, Find(/t) = %v, want ErrNotFound", err)
	}
}

// TestWriteRecreatesADirectoryDeletedMeanwhile: a write that found its
// parent directory, which a recursive delete then removed before the
// write's entry went in, creates the directory again; the file is never
// left without a parent.
func TestWriteRecreatesADirectoryDeletedMeanwhile(t *testing.T) {
	f, g := newGatedFiler(t, "Replace", "/u/b")
	ctx := context.Background()
	if _, err := f.WriteFile(ctx, strings.NewReader("a"), filer.NewFile{Path: "/u/a"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.WriteFile(ctx, strings.NewReader("b"), filer.NewFile{Path: "/u/b"})
		done <- err
	}()
	waitGate(t, g)
	if err := f.Delete(ctx, "/u", true); err != nil {
		t.Fatalf("recursive Delete: %v", err)
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	if _, err := f.Find(ctx, "/u/b"); err != nil {
		t.Fatalf("Find(/u/b) after its write succeeded: %v", err)
	}
	checkNoOrphan(t, f, "/u/b")
	if _, err := f.Find(ctx, "/u/a"); !errors.Is(err, filer.ErrNotFound) {
		t.Errorf("Find(/u/a) = %v, want it deleted", err)
	}
}

// TestDeleteOfAnEmptyDirectoryKeepsAFileWrittenMeanwhile: a delete
// without recursion of a directory that was empty when it looked, but
// got a file before the directory went, refuses (409) and deletes
// nothing.
func TestDeleteOfAnEmptyDirectoryKeepsAFileWrittenMeanwhile(t *testing.T) {
	f, g := newGatedFiler(t, "Remove", "/v")
	ctx := context.Background()
	if _, err := f.WriteFile(ctx, strings.NewReader("a"), filer.NewFile{Path: "/v/a"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Delete(ctx, "/v/a", false); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.Delete(ctx, "/v", false) }()
	waitGate(t, g)
	if _, err := f.WriteFile(ctx, strings.NewReader("b"), filer.NewFile{Path: "/v/b"}); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	if err := <-done; !errors.Is(err, filer.ErrNotEmpty) {
		t.Fatalf("Delete(/v) = %v, want ErrNotEmpty", err)
	}
	if _, err := f.Find(ctx, "/v/b"); err != nil {
		t.Fatalf("Find(/v/b): %v; a delete without recursion removed a file", err)
	}
	checkNoOrphan(t, f, "/v/b")
}
