package replication

import (
	"context"
	"time"
)

// RateLimiter paces byte transfers to a rate. A nil limiter does not
// limit. Safe for concurrent use.
type RateLimiter struct {
	bytesPerSec float64
	mu          chanMutex
	next        time.Time
}

// chanMutex is a mutex that a context can give up waiting for.
type chanMutex chan struct{}

// NewRateLimiter returns a limiter of bytesPerSec; nil (no limit) when it
// is not positive.
func NewRateLimiter(bytesPerSec int64) *RateLimiter {
	if bytesPerSec <= 0 {
		return nil
	}
	return &RateLimiter{bytesPerSec: float64(bytesPerSec), mu: make(chanMutex, 1)}
}

// Wait blocks until n more bytes fit in the rate, or ctx ends
// (volume.Pacer).
func (l *RateLimiter) Wait(ctx context.Context, n int64) error {
	if l == nil || n <= 0 {
		return nil
	}
	select {
	case l.mu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	start := l.next
	l.next = l.next.Add(time.Duration(float64(n) / l.bytesPerSec * float64(time.Second)))
	<-l.mu
	if d := time.Until(start); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
