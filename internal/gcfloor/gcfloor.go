// Package gcfloor keeps the garbage collector from running over and over on
// a small heap.
//
// At the default GOGC=100, a collection starts when the heap reaches twice
// what the previous one left live. A volume server or master holds a few MB
// live and allocates a few KB per request, so it collects every thousand
// or so requests: measured with benchmark/cpu.sh, that was 4–7 µs of server
// CPU per 1 KiB write. A floor lets the heap grow to that many bytes before a
// collection while the live heap is small; once the live heap is larger
// than half the floor, GOGC is back at 100 and nothing changes.
//
// After every collection, the live heap it measured sets the next GOGC
// (Percent). An operator who set GOGC or GOMEMLIMIT in the environment
// chose the collector's settings, and Start leaves them alone.
package gcfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"

	"github.com/golang/glog"
)

// DefaultFloor is the heap size the servers let a small heap grow to.
const DefaultFloor = 64 << 20

const (
	basePercent = 100
	// runtimeMinHeap is the Go runtime's own smallest heap goal at
	// GOGC=100; it scales with GOGC.
	runtimeMinHeap = 4 << 20
	liveMetric     = "/gc/heap/live:bytes"
)

// Start raises GOGC while the live heap is under floor/2 and returns a
// function that stops doing so and restores GOGC=100. It does nothing (and
// returns a no-op) when floor is 0 or the environment sets GOGC or
// GOMEMLIMIT.
func Start(floor uint64) (stop func()) {
	if floor == 0 || os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	t := start(floor)
	glog.V(1).Infof("gc floor: the heap may grow to %d MB before a collection (GOGC=%d now)", floor>>20, t.current())
	return t.stop
}

func start(floor uint64) *tuner {
	t := &tuner{floor: floor, percent: basePercent}
	t.sample[0].Name = liveMetric
	t.adjust()
	t.arm()
	return t
}

// stop restores GOGC=100 and ends the retuning; calls after the first do
// nothing.
func (t *tuner) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped.Swap(true) {
		return
	}
	debug.SetGCPercent(basePercent)
	t.percent = basePercent
}

// current returns the GOGC the tuner last set.
func (t *tuner) current() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.percent
}

type tuner struct {
	floor   uint64
	stopped atomic.Bool

	mu      sync.Mutex // serializes adjust and stop
	percent int
	sample  [1]metrics.Sample
}

// sentinel is garbage as soon as it is made; its cleanup runs after the
// collection that finds it, re-arms, and retunes. It holds a pointer so
// that it is not batched with other tiny objects (which could keep it
// alive).
type sentinel struct{ _ *int }

func (t *tuner) arm() {
	runtime.AddCleanup(&sentinel{}, func(t *tuner) {
		if t.stopped.Load() {
			return
		}
		t.adjust()
		t.arm()
	}, t)
}

// adjust sets GOGC from the live heap of the last collection.
func (t *tuner) adjust() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped.Load() {
		return
	}
	metrics.Read(t.sample[:])
	var live uint64
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	p := Percent(t.floor, live)
	if p != t.percent {
		debug.SetGCPercent(p)
		glog.V(3).Infof("gc floor: live heap %d KB, GOGC %d -> %d", live>>10, t.percent, p)
		t.percent = p
	}
}

// Percent returns the GOGC that lets a heap with live bytes live grow to
// floor before the next collection: floor*100/live - 100, at least 100. It
// is at most the GOGC at which the runtime's own smallest goal (4 MB at
// GOGC=100, growing with GOGC) reaches floor, which also bounds how far
// past a sudden jump of the live heap the next goal can be before the
// tuner sees it; that maximum is also the answer when live is 0 (before
// the first collection).
func Percent(floor, live uint64) int {
	most := max(floor*100/runtimeMinHeap, basePercent)
	if live == 0 {
		return int(most)
	}
	r := floor * 100 / live
	if r < 100+basePercent {
		return basePercent
	}
	return int(min(r-100, most))
}
