package volumeserver

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
)

func TestUploadLimiterAdmission(t *testing.T) {
	tests := []struct {
		name     string
		limit    int64
		held     []int64 // admitted first, in order; all must be admitted
		next     int64
		admitted bool
	}{
		{"empty admits a small upload", 100, nil, 10, true},
		{"empty admits one larger than the limit", 100, nil, 500, true},
		{"fits beside others", 100, []int64{40, 50}, 10, true},
		{"one byte over", 100, []int64{40, 50}, 11, false},
		{"no second beside an oversized one", 100, []int64{500}, 1, false},
		{"no limit admits everything", 0, []int64{1 << 40}, 1 << 40, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newUploadLimiter(tt.limit)
			var sum int64
			for _, n := range tt.held {
				if !l.tryAcquire(n) {
					t.Fatalf("setup: %d not admitted with %d in flight", n, sum)
				}
				sum += n
			}
			if got := l.tryAcquire(tt.next); got != tt.admitted {
				t.Fatalf("tryAcquire(%d) with %d in flight = %v, want %v", tt.next, sum, got, tt.admitted)
			}
			if tt.admitted {
				sum += tt.next
			}
			if l.bytesInFlight() != sum {
				t.Errorf("in flight %d, want %d", l.bytesInFlight(), sum)
			}
			// A refused caller waits, then gives up; released bytes let
			// it in.
			if !tt.admitted {
				start := time.Now()
				if l.acquire(context.Background(), tt.next, 50*time.Millisecond) {
					t.Fatal("acquire admitted while the budget stays full")
				}
				if waited := time.Since(start); waited < 50*time.Millisecond {
					t.Errorf("gave up after %v, want the whole wait", waited)
				}
				done := make(chan bool)
				go func() { done <- l.acquire(context.Background(), tt.next, 10*time.Second) }()
				for _, n := range tt.held {
					l.release(n)
				}
				select {
				case ok := <-done:
					if !ok {
						t.Fatal("acquire refused after every byte was released")
					}
				case <-time.After(10 * time.Second):
					t.Fatal("acquire still waits 10s after the release")
				}
				if l.bytesInFlight() != tt.next {
					t.Errorf("in flight %d after the release, want %d", l.bytesInFlight(), tt.next)
				}
			}
		})
	}
}

func TestUploadLimiterCancel(t *testing.T) {
	l := newUploadLimiter(10)
	l.force(10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	go func() { done <- l.acquire(ctx, 5, time.Minute) }()
	cancel()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("admitted after its context ended")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled acquire still waits")
	}
	if l.bytesInFlight() != 10 {
		t.Errorf("in flight %d, want 10", l.bytesInFlight())
	}
}

// TestUploadBusy: with the budget held by an upload whose body has not
// finished arriving, a second upload waits -inflightUploadDataTimeout and
// gets 503 with Retry-After; once the first is done, the second stores.
func TestUploadBusy(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()}, func(o *ServerOptions) {
		o.ConcurrentUploadBytes = 1 << 20
		o.UploadWait = 200 * time.Millisecond
		o.MaxUploadBytes = 8 << 20
	})
	ts.addVolume(t, 3, "")
	first := bytes.Repeat([]byte("a"), 2<<20)
	pr, pw := io.Pipe()
	firstDone := make(chan reply, 1)
	go func() {
		firstDone <- do(t, http.MethodPost, ts.url+"/"+fidOf(3, 1, 7), pr,
			map[string]string{"Content-Type": "application/octet-stream", "Content-Length": strconv.Itoa(len(first))})
	}()
	if _, err := pw.Write(first[:1<<20]); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the first upload was not admitted", func() bool { return ts.uploads.bytesInFlight() != 0 })
	second := []byte("second file")
	r := do(t, http.MethodPost, ts.url+"/"+fidOf(3, 2, 7), bytes.NewReader(second), map[string]string{"Content-Type": "application/octet-stream"})
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("second upload while the first holds the budget: %d %q (Retry-After %q), want 503 with Retry-After", r.status, r.body, r.header.Get("Retry-After"))
	}
	if _, err := pw.Write(first[1<<20:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if r := <-firstDone; r.status != http.StatusCreated {
		t.Fatalf("first upload: %d %q", r.status, r.body)
	}
	if r := do(t, http.MethodPost, ts.url+"/"+fidOf(3, 2, 7), bytes.NewReader(second), map[string]string{"Content-Type": "application/octet-stream"}); r.status != http.StatusCreated {
		t.Fatalf("second upload after the first: %d %q", r.status, r.body)
	}
	for key, want := range map[needle.Key][]byte{1: first, 2: second} {
		n, err := ts.stored(t, 3, key, 7)
		if err != nil || !bytes.Equal(n.Data, want) {
			t.Errorf("key %d: %d bytes, err %v; want %d bytes", key, len(n.Data), err, len(want))
		}
	}
	if left := ts.uploads.bytesInFlight(); left != 0 {
		t.Errorf("%d bytes still counted in flight", left)
	}
	// Too large is still 413, before any waiting.
	big := bytes.Repeat([]byte("b"), 9<<20)
	if r := do(t, http.MethodPost, ts.url+"/"+fidOf(3, 3, 7), bytes.NewReader(big), nil); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("9 MB upload over an 8 MB limit: %d, want 413", r.status)
	}
}
