package httpx

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// TestIdleTimeoutListener: a connection that stays silent past the timeout
// is cut off on the server side; one that keeps sending is not.
func TestIdleTimeoutListener(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		pause   time.Duration // between the client's two writes
		wantCut bool
	}{
		{"silent past the timeout", 100 * time.Millisecond, 400 * time.Millisecond, true},
		{"progressing", 400 * time.Millisecond, 50 * time.Millisecond, false},
		{"no timeout", 0, 200 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln := IdleTimeoutListener(raw, tc.timeout)
			defer ln.Close()
			got := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- err
					return
				}
				defer c.Close()
				buf := make([]byte, 1)
				for i := 0; i < 2; i++ {
					if _, err := c.Read(buf); err != nil {
						got <- err
						return
					}
				}
				got <- nil
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _ = c.Write([]byte{1})
			time.Sleep(tc.pause)
			_, _ = c.Write([]byte{2})
			err = <-got
			if cut := errors.Is(err, os.ErrDeadlineExceeded); cut != tc.wantCut || (!cut && err != nil) {
				t.Fatalf("server read: %v, want cut off %v", err, tc.wantCut)
			}
		})
	}
}
