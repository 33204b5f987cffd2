package volumeserver

import (
	"context"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the upload memory bound (the `weed volume` flag defaults,
// SeaweedFS's names: -concurrentUploadLimitMB, -inflightUploadDataTimeout).
const (
	DefaultConcurrentUploadBytes = 256 << 20
	DefaultUploadWait            = 10 * time.Second
)

// uploadRetryAfter is the Retry-After (seconds) of a 503 for a full budget.
const uploadRetryAfter = "1"

// freeAfterBytes is the size of an upload after which, once no upload is
// in flight, the server hands its freed memory back to the OS at once
// instead of keeping it for the garbage collector's next cycles.
const freeAfterBytes = 32 << 20

// uploadLimiter bounds the bytes of request bodies held in memory at once.
// A request is admitted while the bytes in flight plus its own stay within
// the limit, or alone when nothing else is in flight (so one upload larger
// than the limit still goes through, by itself). Admission and release are
// one atomic operation each unless a request has to wait. Safe for
// concurrent use.
type uploadLimiter struct {
	limit    int64 // 0: no limit
	inFlight atomic.Int64
	waiters  atomic.Int32

	mu   sync.Mutex
	wake chan struct{} // closed and replaced when bytes are released to waiters

	lastFree atomic.Int64 // unix ns of the last debug.FreeOSMemory
}

func newUploadLimiter(limit int64) *uploadLimiter {
	return &uploadLimiter{limit: max(limit, 0), wake: make(chan struct{})}
}

// tryAcquire admits n bytes if they fit now.
func (l *uploadLimiter) tryAcquire(n int64) bool {
	for {
		cur := l.inFlight.Load()
		if l.limit > 0 && cur > 0 && cur+n > l.limit {
			return false
		}
		if l.inFlight.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// acquire admits n bytes, waiting up to wait (or until ctx ends) for
// earlier requests to release theirs; false means the budget stayed full.
// An admitted caller must call release(n).
func (l *uploadLimiter) acquire(ctx context.Context, n int64, wait time.Duration) bool {
	if l.tryAcquire(n) {
		return true
	}
	l.waiters.Add(1)
	defer l.waiters.Add(-1)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		l.mu.Lock()
		wake := l.wake
		ok := l.tryAcquire(n)
		l.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-wake:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// force admits n bytes whatever is in flight: for bytes already accepted
// elsewhere (a replica's copy of an upload its primary admitted), which
// must not wait, but which later uploads wait for.
func (l *uploadLimiter) force(n int64) { l.inFlight.Add(n) }

// release gives back n bytes admitted by acquire or force.
func (l *uploadLimiter) release(n int64) {
	left := l.inFlight.Add(-n)
	if l.waiters.Load() > 0 {
		l.mu.Lock()
		close(l.wake)
		l.wake = make(chan struct{})
		l.mu.Unlock()
	}
	if n >= freeAfterBytes && left == 0 {
		l.freeOSMemory()
	}
}

// freeOSMemory returns the freed heap to the OS, at most once a second, in
// the background: after a large upload the heap would otherwise stay at its
// peak for minutes.
func (l *uploadLimiter) freeOSMemory() {
	now := time.Now().UnixNano()
	last := l.lastFree.Load()
	if now-last < int64(time.Second) || !l.lastFree.CompareAndSwap(last, now) {
		return
	}
	// A moment later: the handler that released is still returning and
	// holds its body until then.
	time.AfterFunc(100*time.Millisecond, debug.FreeOSMemory)
}

// bytesInFlight returns the bytes admitted and not yet released.
func (l *uploadLimiter) bytesInFlight() int64 { return l.inFlight.Load() }
