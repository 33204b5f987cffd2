package volume

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// A fresh copy must not sync (and turn healthy) before the master lists
// it: until then a peer that drops its cached view fetches one without the
// copy again, and a delete acknowledged after the sync never reaches it.
func TestFreshCopyWaitsUntilTheMasterListsIt(t *testing.T) {
	fm := newFakeMaster(t)
	fm.answersStale = true
	a := startServer(t, []string{fm.addr()})
	b := startServer(t, []string{fm.addr()})
	for _, ts := range []*testServer{a, b} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { ts.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	a.addVolume(t, 1, "001")
	fm.setLocations(1, a.addr)

	r := do(t, http.MethodPost, b.url+CopyVolumePath+"?volume=1&collection=&replication=001&source="+a.addr, nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("copy_volume: %d %s", r.status, r.body)
	}
	// Several sync loop ticks and retries (the old code synced and
	// turned healthy within milliseconds).
	time.Sleep(2 * time.Second)
	if syncing, fresh := b.sync.state(1); !syncing || !fresh {
		t.Fatalf("before the master lists the copy: syncing %v, fresh %v; want a syncing fresh copy", syncing, fresh)
	}

	fm.setLocations(1, a.addr, b.addr)
	deadline := time.Now().Add(15 * time.Second)
	for {
		syncing, _ := b.sync.state(1)
		if !syncing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the copy did not turn healthy once the master listed it")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
