package storetest

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/weedfs/weed/filer"
)

// runtimeYield lets other goroutines run while a test goroutine waits
// for them.
func runtimeYield() { runtime.Gosched() }

// TestLargeDirectory fills one directory of s with n files (writers
// inserting at once) and pages through it a page at a time: every page
// holds at most the page size, names come in byte order, and the pages
// together hold each name once. It is apart from Test because of its
// size; stores run it with a large n (100,000) once.
func TestLargeDirectory(t *testing.T, s filer.Store, n int) {
	const writers, page = 16, 1000
	ctx := context.Background()
	mustInsert(t, s, dirEntry("/big"))
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += writers {
				e := versionEntry(fmt.Sprintf("/big/f%07d", i), fmt.Sprintf("1,%x", i))
				if err := s.Insert(ctx, e); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Insert: %v", err)
	}
	next, pages, after := 0, 0, ""
	for {
		es := mustList(t, s, "/big", after, page)
		if len(es) > page {
			t.Fatalf("page %d has %d entries, limit %d", pages, len(es), page)
		}
		for _, e := range es {
			if want := fmt.Sprintf("/big/f%07d", next); e.FullPath != want {
				t.Fatalf("entry %d of the listing is %s, want %s", next, e.FullPath, want)
			}
			next++
		}
		if len(es) < page {
			break
		}
		pages++
		after = es[len(es)-1].Name()
	}
	if next != n {
		t.Fatalf("paged listing held %d entries, want %d", next, n)
	}
	// A page from the middle starts right after the name given.
	es := mustList(t, s, "/big", fmt.Sprintf("f%07d", n/2), 3)
	checkNames(t, "/big", es, []string{fmt.Sprintf("f%07d", n/2+1), fmt.Sprintf("f%07d", n/2+2), fmt.Sprintf("f%07d", n/2+3)})
}
