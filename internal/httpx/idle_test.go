package httpx

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestSetIdleTimeout: a connection that sends nothing is closed after the
// idle timeout when one is set, and kept (past it) with the defaults.
func TestSetIdleTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		idle    time.Duration
		wait    time.Duration // how long the client waits for the close
		wantEOF bool
	}{
		{"set", 200 * time.Millisecond, 3 * time.Second, true},
		{"defaults", 0, 600 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer("test", http.NotFoundHandler(), nil)
			s.SetIdleTimeout(tc.idle)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = s.Serve(ln) }()
			defer s.Shutdown(t.Context())
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(tc.wait))
			_, err = c.Read(make([]byte, 1))
			if gotEOF := errors.Is(err, io.EOF); gotEOF != tc.wantEOF || !gotEOF && !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read on a silent connection: %v, want closed %v", err, tc.wantEOF)
			}
		})
	}
}
