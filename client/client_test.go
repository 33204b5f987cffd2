package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/client/clienttest"
	"github.com/weedfs/weed/needle"
)

// startCluster starts a fake cluster closed at the end of the test.
func startCluster(t *testing.T, opts clienttest.Options) *clienttest.Cluster {
	t.Helper()
	c, err := clienttest.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newClient(t *testing.T, masters string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(masters, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// deadAddr returns a 127.0.0.1 address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// countingServer answers every request with status and body, counting them.
func countingServer(t *testing.T, status int, body string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s, &n
}

func TestNewParsesMasterList(t *testing.T) {
	c := newClient(t, " a:1, http://b:2/ ,,c:3")
	if got := strings.Join(c.Masters(), ","); got != "a:1,b:2,c:3" {
		t.Fatalf("masters = %s", got)
	}
	if _, err := client.New(" , "); err == nil {
		t.Fatal("New accepted an empty master list")
	}
}

func TestAssign(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	c := newClient(t, cl.MasterAddr())
	a, err := c.Assign(context.Background(), client.AssignRequest{Count: 3, Collection: "pics"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Count != 3 || a.URL == "" || a.PublicURL == "" {
		t.Fatalf("assignment %+v", a)
	}
	first, err := needle.ParseFileID(a.FileID(0))
	if err != nil {
		t.Fatal(err)
	}
	third, err := needle.ParseFileID(a.FileID(2))
	if err != nil {
		t.Fatal(err)
	}
	if a.FileID(2) != a.Fid+"_2" || third.Key != first.Key+2 || third.Cookie != first.Cookie {
		t.Fatalf("FileID(2) = %s (%+v) after %+v", a.FileID(2), third, first)
	}
}

func TestAssignErrorCarriesStatusAndMessage(t *testing.T) {
	const msg = "Cannot grow volume group! Not enough data node found!"
	cl := startCluster(t, clienttest.Options{})
	cl.FailAssign(http.StatusNotAcceptable, msg)
	second, hits := countingServer(t, http.StatusOK, `{}`)
	c := newClient(t, cl.MasterAddr()+","+second.Listener.Addr().String())
	_, err := c.Assign(context.Background(), client.AssignRequest{})
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want a *client.Error", err)
	}
	if e.StatusCode != http.StatusNotAcceptable || e.Message != msg {
		t.Fatalf("error %d %q", e.StatusCode, e.Message)
	}
	if errors.Is(err, client.ErrNotFound) {
		t.Fatal("a 406 matches ErrNotFound")
	}
	if hits.Load() != 0 {
		t.Fatal("a 4xx answer was retried on the next master")
	}
}

func TestMasterFailover(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	busy, busyHits := countingServer(t, http.StatusServiceUnavailable, `{"error":"no leader"}`)
	masters := deadAddr(t) + "," + busy.Listener.Addr().String() + "," + cl.MasterAddr()
	c := newClient(t, masters)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := c.Assign(ctx, client.AssignRequest{}); err != nil {
			t.Fatalf("assign %d: %v", i, err)
		}
	}
	if busyHits.Load() != 1 {
		t.Fatalf("the 503 master got %d requests, want 1 (the working master is remembered)", busyHits.Load())
	}
	if got := c.Masters()[0]; got != cl.MasterAddr() {
		t.Fatalf("current master %s, want %s", got, cl.MasterAddr())
	}
	if n := cl.Requests("/dir/assign"); n != 3 {
		t.Fatalf("working master got %d assigns", n)
	}
}

func TestAllMastersFailing(t *testing.T) {
	busy, _ := countingServer(t, http.StatusServiceUnavailable, `{"error":"no leader"}`)
	c := newClient(t, deadAddr(t)+","+busy.Listener.Addr().String())
	_, err := c.Assign(context.Background(), client.AssignRequest{})
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusServiceUnavailable || e.Message != "no leader" {
		t.Fatalf("err = %v", err)
	}
}

func TestLookupUnknownVolume(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	c := newClient(t, cl.MasterAddr())
	_, err := c.Lookup(context.Background(), 9999)
	if !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	var e *client.Error
	if !errors.As(err, &e) || e.Message != "volumeId not found." {
		t.Fatalf("err = %#v", err)
	}
}

func TestLookupSingleflight(t *testing.T) {
	cl := startCluster(t, clienttest.Options{VolumeServers: 2, Copies: 2})
	cl.SetLookupDelay(50 * time.Millisecond)
	c := newClient(t, cl.MasterAddr())
	const readers = 100
	errs := make(chan error, readers)
	start := make(chan struct{})
	for i := 0; i < readers; i++ {
		go func() {
			<-start
			locs, err := c.Lookup(context.Background(), 1)
			if err == nil && len(locs) != 2 {
				err = errors.New("wrong number of locations")
			}
			errs <- err
		}()
	}
	close(start)
	for i := 0; i < readers; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := cl.Requests("/dir/lookup"); n != 1 {
		t.Fatalf("%d concurrent cold lookups made %d master requests, want 1", readers, n)
	}
}

func TestLookupCacheAndInvalidate(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	ctx := context.Background()
	c := newClient(t, cl.MasterAddr())
	for i := 0; i < 3; i++ {
		if _, err := c.Lookup(ctx, 2); err != nil {
			t.Fatal(err)
		}
	}
	if n := cl.Requests("/dir/lookup"); n != 1 {
		t.Fatalf("cached lookups made %d requests", n)
	}
	c.Invalidate(2)
	if _, err := c.Lookup(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if n := cl.Requests("/dir/lookup"); n != 2 {
		t.Fatalf("lookup after Invalidate: %d requests, want 2", n)
	}

	uncached := newClient(t, cl.MasterAddr(), client.WithLookupTTL(0))
	for i := 0; i < 2; i++ {
		if _, err := uncached.Lookup(ctx, 2); err != nil {
			t.Fatal(err)
		}
	}
	if n := cl.Requests("/dir/lookup"); n != 4 {
		t.Fatalf("uncached lookups: %d requests, want 4", n)
	}
}

func TestLookupHonoursCallerContext(t *testing.T) {
	cl := startCluster(t, clienttest.Options{})
	cl.SetLookupDelay(200 * time.Millisecond)
	c := newClient(t, cl.MasterAddr())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Lookup(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestAssignSendsParameters(t *testing.T) {
	queries := make(chan string, 2)
	master := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries <- r.URL.Path + "?" + r.URL.RawQuery
		_, _ = io.WriteString(w, `{"fid":"3,01637037d6","url":"127.0.0.1:8080","publicUrl":"example.com:80","count":2}`)
	}))
	defer master.Close()
	c := newClient(t, master.Listener.Addr().String())
	ctx := context.Background()
	a, err := c.Assign(ctx, client.AssignRequest{Count: 2, Replication: "001", Collection: "pic s", TTL: "3m", DataCenter: "dc1"})
	if err != nil {
		t.Fatal(err)
	}
	if q := <-queries; q != "/dir/assign?count=2&replication=001&collection=pic+s&ttl=3m&dataCenter=dc1" {
		t.Fatalf("assign sent %s", q)
	}
	if a.Fid != "3,01637037d6" || a.URL != "127.0.0.1:8080" || a.PublicURL != "example.com:80" || a.Count != 2 {
		t.Fatalf("assignment %+v", a)
	}
	if _, err := c.Assign(ctx, client.AssignRequest{}); err != nil {
		t.Fatal(err)
	}
	if q := <-queries; q != "/dir/assign?" {
		t.Fatalf("default assign sent %s", q)
	}
}

// hungAddr returns the address of a master that accepts connections (the
// kernel completes the handshake) and never answers, as one stopped with
// SIGSTOP does.
func hungAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

func TestPausedMasterIsLeftBehind(t *testing.T) {
	tests := []struct {
		name    string
		opts    []client.Option
		maxWait time.Duration // the first call's bound on the paused master
	}{
		{name: "default bound", maxWait: 8 * time.Second},
		{name: "WithMasterTimeout", opts: []client.Option{client.WithMasterTimeout(200 * time.Millisecond)}, maxWait: 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cl := startCluster(t, clienttest.Options{})
			c := newClient(t, hungAddr(t)+","+cl.MasterAddr(), tc.opts...)
			// The caller's context is longer than the pause: only the
			// Client's own bound moves it on.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			if _, err := c.Assign(ctx, client.AssignRequest{}); err != nil {
				t.Fatalf("assign with the first master paused: %v", err)
			}
			if took := time.Since(start); took > tc.maxWait {
				t.Fatalf("assign took %v with the first master paused, want at most %v", took, tc.maxWait)
			}
			// The master that answered is asked first from then on.
			start = time.Now()
			if _, err := c.Lookup(ctx, 1); err != nil && !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("lookup after the failover: %v", err)
			}
			if took := time.Since(start); took > time.Second {
				t.Fatalf("lookup after the failover took %v: it waited on the paused master again", took)
			}
			if got := c.Masters()[0]; got != cl.MasterAddr() {
				t.Fatalf("current master %s, want %s", got, cl.MasterAddr())
			}
		})
	}
}

// TestLastMasterMayTakeLonger: the last master a call tries is not cut off
// by the master timeout (an assign may wait there for a growth).
func TestLastMasterMayTakeLonger(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(500 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"fid":"3,01637037d6","url":"127.0.0.1:8080","count":1}`)
	}))
	defer slow.Close()
	c := newClient(t, hungAddr(t)+","+slow.Listener.Addr().String(), client.WithMasterTimeout(200*time.Millisecond))
	a, err := c.Assign(context.Background(), client.AssignRequest{})
	if err != nil || a.Fid != "3,01637037d6" {
		t.Fatalf("assign from a slow last master: %+v %v", a, err)
	}
}
