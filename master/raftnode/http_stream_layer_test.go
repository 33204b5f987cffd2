package raftnode

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/hashicorp/raft"
)

// serveStream mounts s at RaftPath on a real 127.0.0.1 listener.
func serveStream(t *testing.T, s *HTTPStreamLayer) *httptest.Server {
	t.Helper()
	r := mux.NewRouter()
	r.Handle(RaftPath, s)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

// acceptWithin runs Accept and fails the test if it does not return in time.
func acceptWithin(t *testing.T, s *HTTPStreamLayer, d time.Duration) net.Conn {
	t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := s.Accept()
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Accept: %v", r.err)
		}
		return r.c
	case <-time.After(d):
		t.Fatal("Accept did not return")
		return nil
	}
}

func TestStreamLayerDialAccept(t *testing.T) {
	server := NewHTTPStreamLayer("127.0.0.1:1")
	defer server.Close()
	srv := serveStream(t, server)
	addr := srv.Listener.Addr().String()
	client := NewHTTPStreamLayer("127.0.0.1:2")
	defer client.Close()

	if got := server.Addr().String(); got != "127.0.0.1:1" {
		t.Errorf("Addr = %q, want the advertised self", got)
	}
	out, err := client.Dial(raft.ServerAddress(addr), 2*time.Second)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	in := acceptWithin(t, server, 5*time.Second)
	if _, err := out.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(in, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("server read %q, %v", buf, err)
	}
	if _, err := in.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("client read %q, %v", buf, err)
	}

	// Close closes the accepted connection: the dialer sees EOF.
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
	_ = out.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := out.Read(buf); err == nil {
		t.Fatalf("read %d bytes after the server layer closed", n)
	}
	if _, err := server.Accept(); !errors.Is(err, net.ErrClosed) || !errors.Is(err, ErrTransportClosed) {
		t.Fatalf("Accept after Close = %v, want net.ErrClosed and ErrTransportClosed", err)
	}
	if _, err := client.Dial(raft.ServerAddress(addr), time.Second); err == nil {
		t.Fatal("Dial to a closed layer's endpoint succeeded")
	}
}

func TestStreamLayerCloseUnblocksAccept(t *testing.T) {
	s := NewHTTPStreamLayer("127.0.0.1:1")
	errCh := make(chan error, 1)
	go func() {
		_, err := s.Accept()
		errCh <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Accept block; correctness does not depend on it
	_ = s.Close()
	_ = s.Close() // idempotent
	select {
	case err := <-errCh:
		if !errors.Is(err, ErrTransportClosed) {
			t.Fatalf("Accept = %v, want ErrTransportClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Accept")
	}
	if _, err := s.Dial("127.0.0.1:1", time.Second); !errors.Is(err, ErrTransportClosed) {
		t.Fatalf("Dial after Close = %v, want ErrTransportClosed", err)
	}
}

// TestStreamLayerKeepsReadAhead checks both sides keep bytes that arrive in
// the same packet as the handshake.
func TestStreamLayerKeepsReadAhead(t *testing.T) {
	t.Run("server side", func(t *testing.T) {
		s := NewHTTPStreamLayer("127.0.0.1:1")
		defer s.Close()
		srv := serveStream(t, s)
		raw, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		req := "GET " + RaftPath + " HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: weed-raft\r\n\r\nearly-bytes"
		if _, err := raw.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		in := acceptWithin(t, s, 5*time.Second)
		buf := make([]byte, len("early-bytes"))
		_ = in.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(in, buf); err != nil || string(buf) != "early-bytes" {
			t.Fatalf("accepted conn read %q, %v", buf, err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(raw), nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("handshake answer %v, %v", resp, err)
		}
	})
	t.Run("client side", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: weed-raft\r\n\r\nhello"))
			_, _ = io.Copy(io.Discard, br)
		}()
		s := NewHTTPStreamLayer("127.0.0.1:2")
		defer s.Close()
		c, err := s.Dial(raft.ServerAddress(ln.Addr().String()), 2*time.Second)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer c.Close()
		buf := make([]byte, 5)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
			t.Fatalf("dialed conn read %q, %v", buf, err)
		}
	})
}

func TestStreamLayerRejects(t *testing.T) {
	s := NewHTTPStreamLayer("127.0.0.1:1")
	defer s.Close()
	h := http.Handler(s)
	tests := []struct {
		name   string
		method string
		conn   string
		up     string
		want   int
	}{
		{"post", http.MethodPost, "Upgrade", "weed-raft", http.StatusMethodNotAllowed},
		{"no upgrade", http.MethodGet, "", "", http.StatusUpgradeRequired},
		{"other protocol", http.MethodGet, "Upgrade", "websocket", http.StatusUpgradeRequired},
		{"upgrade without connection token", http.MethodGet, "keep-alive", "weed-raft", http.StatusUpgradeRequired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, RaftPath, nil)
			if tc.conn != "" {
				req.Header.Set("Connection", tc.conn)
			}
			if tc.up != "" {
				req.Header.Set("Upgrade", tc.up)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d", rec.Code, tc.want)
			}
		})
	}

	// Dialing something that is not a weed master fails cleanly.
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	_, err := s.Dial(raft.ServerAddress(plain.Listener.Addr().String()), 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Dial to a plain server = %v, want a 404 refusal", err)
	}
}

// TestStreamLayerNetworkTransport runs a Raft RPC between two
// NetworkTransports riding on the stream layer.
func TestStreamLayerNetworkTransport(t *testing.T) {
	mk := func() (*raft.NetworkTransport, string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		s := NewHTTPStreamLayer(addr)
		r := mux.NewRouter()
		r.Handle(RaftPath, s)
		srv := httptest.NewUnstartedServer(r)
		srv.Listener.Close()
		srv.Listener = ln
		srv.Start()
		trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream: s, MaxPool: 2, Timeout: 5 * time.Second, Logger: newGlogHclog("test"),
		})
		t.Cleanup(func() {
			_ = trans.Close()
			srv.Close()
		})
		return trans, addr
	}
	a, aAddr := mk()
	b, bAddr := mk()
	if string(a.LocalAddr()) != aAddr {
		t.Fatalf("LocalAddr = %q, want %q", a.LocalAddr(), aAddr)
	}
	go func() {
		select {
		case rpc := <-b.Consumer():
			req, ok := rpc.Command.(*raft.RequestVoteRequest)
			if !ok {
				rpc.Respond(nil, errors.New("unexpected rpc"))
				return
			}
			rpc.Respond(&raft.RequestVoteResponse{Term: req.Term, Granted: true}, nil)
		case <-time.After(10 * time.Second):
		}
	}()
	var resp raft.RequestVoteResponse
	req := raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ID: []byte(aAddr), Addr: []byte(aAddr)}, Term: 7}
	if err := a.RequestVote(raft.ServerID(bAddr), raft.ServerAddress(bAddr), &req, &resp); err != nil {
		t.Fatalf("RequestVote over the stream layer: %v", err)
	}
	if !resp.Granted || resp.Term != 7 {
		t.Fatalf("response %+v", resp)
	}
}
