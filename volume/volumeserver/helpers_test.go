package volumeserver

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
)

// Fixtures of the server tests: benchmarks, engine hooks, a fake disk, a
// poll helper.

// benchClient keeps enough connections alive for parallel benchmarks.
var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}

// benchBoundary is the multipart boundary of the benchmark uploads.
const benchBoundary = "0123456789abcdef0123456789abcdef"

// hookFailpoint installs fn as the failpoint hook for the test.
func hookFailpoint(t testing.TB, fn func(point string) error) {
	t.Helper()
	volume.SetFailpoint(fn)
	t.Cleanup(func() { volume.SetFailpoint(nil) })
}

// fakeDisk is a file system whose free space a test sets.
type fakeDisk struct {
	mu          sync.Mutex
	free, total uint64
}

func (d *fakeDisk) set(free uint64) {
	d.mu.Lock()
	d.free = free
	d.mu.Unlock()
}

func (d *fakeDisk) statfs(string) (uint64, uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.free, d.total, nil
}

// injectAppendError makes every .dat append fail with err until the test
// ends or the returned function is called.
func injectAppendError(t *testing.T, err error) (stop func()) {
	fn := func() error { return err }
	volume.SetAppendFault(fn)
	stop = func() { volume.SetAppendFault(nil) }
	t.Cleanup(stop)
	return stop
}

// lookupOthers returns the addresses of the other replicas of vid in the
// server's fan-out view.
func (ts *testServer) lookupOthers(ctx context.Context, vid needle.VolumeID) ([]string, error) {
	locs, err := ts.repl.OtherReplicas(ctx, vid)
	if err != nil {
		return nil, err
	}
	others := make([]string, 0, len(locs))
	for _, l := range locs {
		others = append(others, l.URL)
	}
	return others, nil
}

// eventually polls cond every 10 ms until it holds, failing the test with
// what when it still does not after timeout.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
