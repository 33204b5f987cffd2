package owned

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGroup(t *testing.T) {
	var g Group
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	for range 2 {
		if !g.Go(func() { started <- struct{}{}; <-release }) {
			t.Fatal("Go refused before Stop")
		}
	}
	<-started
	<-started
	if n := g.Running(); n != 2 {
		t.Fatalf("Running = %d, want 2", n)
	}
	g.Stop()
	if g.Go(func() { t.Error("ran after Stop") }) {
		t.Fatal("Go started a goroutine after Stop")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with goroutines blocked = %v, want the deadline", err)
	}
	close(release)
	if err := g.Wait(context.Background()); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if n := g.Running(); n != 0 {
		t.Fatalf("Running after Wait = %d, want 0", n)
	}
}
