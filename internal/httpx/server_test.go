package httpx

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServerLifecycle(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") })
	readyAt := make(chan string, 1)
	s := NewServer("test", h, func(ln net.Listener) { readyAt <- ln.Addr().String() })
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown before Serve: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	if addr := <-readyAt; addr != ln.Addr().String() {
		t.Fatalf("ready called with %s, want %s", addr, ln.Addr())
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello" {
		t.Fatalf("body %q", body)
	}

	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(ln2); err == nil || err.Error() != "test: Serve called twice" {
		t.Fatalf("second Serve: %v", err)
	}
	if _, err := ln2.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the second listener is still open: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

func TestServerListenError(t *testing.T) {
	s := NewServer("test", http.NotFoundHandler(), nil)
	err := s.ListenAndServe("127.0.0.1:-1")
	if err == nil || !strings.HasPrefix(err.Error(), "test: listen on 127.0.0.1:-1: ") {
		t.Fatalf("ListenAndServe on a bad address: %v", err)
	}
}
