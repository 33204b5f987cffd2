// Package owned runs goroutines that their owner waits for when it shuts
// down (hashicorp/raft's goFunc pattern): once Stop is called no new one
// starts, and Wait returns when every started one has returned.
package owned

import (
	"context"
	"sync"
	"sync/atomic"
)

// Group is a set of owned goroutines. The zero value is ready to use; a
// Group must not be copied after first use. Safe for concurrent use.
type Group struct {
	mu       sync.Mutex // guards stopping against wg.Add
	stopping bool
	wg       sync.WaitGroup
	running  atomic.Int64
}

// Go runs f in a goroutine of the group. It reports false, and does not run
// f, once Stop has been called.
func (g *Group) Go(f func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopping {
		return false
	}
	g.wg.Add(1)
	g.running.Add(1)
	go func() {
		defer g.wg.Done()
		defer g.running.Add(-1)
		f()
	}()
	return true
}

// Stop makes every later Go refuse to start a goroutine.
func (g *Group) Stop() {
	g.mu.Lock()
	g.stopping = true
	g.mu.Unlock()
}

// Wait waits until every goroutine the group started has returned, or ctx
// ends; it returns ctx's error in the second case.
func (g *Group) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Running returns how many of the group's goroutines have not returned yet.
func (g *Group) Running() int64 { return g.running.Load() }
