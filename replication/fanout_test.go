package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFanoutEachReportsPerTarget(t *testing.T) {
	f := NewFanout(FanoutOptions{})
	defer f.Close()
	targets := []string{"a", "b", "c", "d"}
	errs := f.Each(context.Background(), targets, func(_ context.Context, target string) error {
		if target == "b" || target == "d" {
			return fmt.Errorf("refused %s", target)
		}
		return nil
	})
	if len(errs) != len(targets) {
		t.Fatalf("got %d results, want %d", len(errs), len(targets))
	}
	for i, target := range targets {
		failed := target == "b" || target == "d"
		if (errs[i] != nil) != failed {
			t.Errorf("%s: err = %v, want failure %v", target, errs[i], failed)
		}
		var te *TargetError
		if failed && (!errors.As(errs[i], &te) || te.Target != target) {
			t.Errorf("%s: err %v is not a *TargetError naming it", target, errs[i])
		}
	}
	err := f.Do(context.Background(), targets, func(_ context.Context, target string) error {
		if target == "c" {
			return io.ErrUnexpectedEOF
		}
		return nil
	})
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "c: ") {
		t.Fatalf("Do = %v, want the joined failure of c", err)
	}
	if err := f.Do(context.Background(), nil, func(context.Context, string) error { return errors.New("called") }); err != nil {
		t.Fatalf("Do with no targets = %v", err)
	}
}

// TestFanoutRunsConcurrently proves the calls overlap: every call waits
// until all of them have started.
func TestFanoutRunsConcurrently(t *testing.T) {
	f := NewFanout(FanoutOptions{})
	const n = 5
	var started sync.WaitGroup
	started.Add(n)
	all := make(chan struct{})
	go func() { started.Wait(); close(all) }()
	targets := make([]string, n)
	for i := range targets {
		targets[i] = fmt.Sprint(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := f.Do(ctx, targets, func(ctx context.Context, _ string) error {
		started.Done()
		select {
		case <-all:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if err != nil {
		t.Fatalf("calls did not overlap: %v", err)
	}
}

func TestFanoutTimeoutBoundsEachCall(t *testing.T) {
	f := NewFanout(FanoutOptions{Timeout: 50 * time.Millisecond})
	err := f.Do(context.Background(), []string{"slow"}, func(ctx context.Context, _ string) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do = %v, want a deadline error", err)
	}
}

func TestFanoutSend(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/ok":
			if r.Header.Get("Content-Type") != "application/x-weed-needle" || string(body) != "record" {
				http.Error(w, "bad request", http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"size":6}`)
		case "/json-error":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"error":"disk on fire"}`)
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusMovedPermanently)
		default:
			http.Error(w, "no such thing", http.StatusNotFound)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	f := NewFanout(FanoutOptions{})
	defer f.Close()
	ctx := context.Background()

	for i := 0; i < 5; i++ {
		reply, err := f.Send(ctx, http.MethodPost, srv.URL+"/ok", "application/x-weed-needle", []byte("record"))
		if err != nil || string(reply) != `{"size":6}` {
			t.Fatalf("Send /ok = %q, %v", reply, err)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("5 sequential sends opened %d connections, want 1 kept alive", got)
	}

	cases := []struct {
		path, msg string
		status    int
	}{
		{"/json-error", "disk on fire", http.StatusInternalServerError},
		{"/missing", "no such thing", http.StatusNotFound},
		{"/redirect", "", http.StatusMovedPermanently},
	}
	for _, c := range cases {
		_, err := f.Send(ctx, http.MethodDelete, srv.URL+c.path, "", nil)
		var se *StatusError
		if !errors.As(err, &se) {
			t.Fatalf("Send %s = %v, want a *StatusError", c.path, err)
		}
		if se.StatusCode != c.status || (c.msg != "" && se.Message != c.msg) {
			t.Errorf("Send %s = %d %q, want %d %q", c.path, se.StatusCode, se.Message, c.status, c.msg)
		}
	}

	// A target nobody listens on is a transport error, not a status.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/ok"
	ln.Close()
	_, err = f.Send(ctx, http.MethodPost, dead, "", []byte("x"))
	var se *StatusError
	if err == nil || errors.As(err, &se) {
		t.Fatalf("Send to a closed port = %v, want a transport error", err)
	}
}
