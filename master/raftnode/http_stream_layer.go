package raftnode

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang/glog"
	"github.com/hashicorp/raft"
)

// RaftPath is where the master mounts the Raft stream endpoint.
const RaftPath = "/cluster/raft"

// raftUpgradeToken is the Upgrade protocol that turns a request to RaftPath
// into a raw Raft stream.
const raftUpgradeToken = "weed-raft"

// handoffTimeout bounds how long an upgraded connection waits for Accept.
const handoffTimeout = 10 * time.Second

// HTTPStreamLayer carries Raft over the master's HTTP port: it is a
// raft.StreamLayer whose listening side is an http.Handler (mounted at
// RaftPath) that upgrades "GET RaftPath" with "Upgrade: weed-raft" to a raw
// connection, and whose Dial makes that request on a fresh TCP connection.
// All methods are safe for concurrent use. Close closes every connection the
// layer accepted or dialed, as a dying process would.
type HTTPStreamLayer struct {
	self   string
	connCh chan net.Conn

	closeOnce sync.Once
	closed    chan struct{}

	mu    sync.Mutex
	conns map[*streamConn]struct{}
}

var (
	_ raft.StreamLayer = (*HTTPStreamLayer)(nil)
	_ http.Handler     = (*HTTPStreamLayer)(nil)
)

// NewHTTPStreamLayer returns a stream layer whose Addr is self, the
// "host:port" HTTP address of this master.
func NewHTTPStreamLayer(self string) *HTTPStreamLayer {
	return &HTTPStreamLayer{
		self:   self,
		connCh: make(chan net.Conn),
		closed: make(chan struct{}),
		conns:  make(map[*streamConn]struct{}),
	}
}

// ServeHTTP upgrades a Raft stream request: it answers 101 Switching
// Protocols, hijacks the connection and hands it to Accept. Other requests
// get 405 or 426; after Close, 503.
func (s *HTTPStreamLayer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "raft stream needs GET", http.StatusMethodNotAllowed)
		return
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", raftUpgradeToken) {
		w.Header().Set("Upgrade", raftUpgradeToken)
		http.Error(w, "raft stream needs Upgrade: "+raftUpgradeToken, http.StatusUpgradeRequired)
		return
	}
	if s.isClosed() {
		http.Error(w, ErrTransportClosed.Error(), http.StatusServiceUnavailable)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "connection cannot be hijacked", http.StatusInternalServerError)
		return
	}
	raw, brw, err := hj.Hijack()
	if err != nil {
		glog.Warningf("raft stream from %s: hijack: %v", r.RemoteAddr, err)
		return
	}
	// The server may have set deadlines; Raft sets its own per RPC.
	_ = raw.SetDeadline(time.Now().Add(handoffTimeout))
	resp := "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + raftUpgradeToken + "\r\n\r\n"
	if _, err := raw.Write([]byte(resp)); err != nil {
		glog.V(1).Infof("raft stream from %s: write 101: %v", r.RemoteAddr, err)
		_ = raw.Close()
		return
	}
	_ = raw.SetDeadline(time.Time{})
	c, err := s.track(raw, brw.Reader)
	if err != nil {
		return
	}
	timer := time.NewTimer(handoffTimeout)
	defer timer.Stop()
	select {
	case s.connCh <- c:
	case <-s.closed:
		_ = c.Close()
	case <-timer.C:
		glog.Warningf("raft stream from %s: not accepted within %v", r.RemoteAddr, handoffTimeout)
		_ = c.Close()
	}
}

// Accept waits for the next upgraded connection. After Close it returns
// ErrTransportClosed (wrapped with net.ErrClosed).
func (s *HTTPStreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.connCh:
		return c, nil
	case <-s.closed:
		return nil, fmt.Errorf("%w: %w", ErrTransportClosed, net.ErrClosed)
	}
}

// Close unblocks Accept and closes every connection of this layer. It is
// idempotent and always returns nil.
func (s *HTTPStreamLayer) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.mu.Lock()
		conns := make([]*streamConn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return nil
}

// Addr returns this master's advertised address (the -peers entry), which
// the Raft transport sends to its peers as ours.
func (s *HTTPStreamLayer) Addr() net.Addr { return peerAddr(s.self) }

// Dial connects to the master at address ("host:port", its HTTP address),
// upgrades the connection to a Raft stream and returns it. timeout bounds
// the connect and the upgrade handshake together.
func (s *HTTPStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if s.isClosed() {
		return nil, ErrTransportClosed
	}
	d := net.Dialer{Timeout: timeout}
	raw, err := d.Dial("tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("dial raft peer %s: %w", address, err)
	}
	if timeout > 0 {
		_ = raw.SetDeadline(time.Now().Add(timeout))
	}
	br, err := upgradeClient(raw, string(address))
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("raft stream to %s: %w", address, err)
	}
	_ = raw.SetDeadline(time.Time{})
	return s.track(raw, br)
}

// upgradeClient sends the upgrade request on raw and reads the 101 answer.
// The returned reader holds any bytes the peer sent after the answer.
func upgradeClient(raw net.Conn, host string) (*bufio.Reader, error) {
	req := "GET " + RaftPath + " HTTP/1.1\r\nHost: " + host +
		"\r\nConnection: Upgrade\r\nUpgrade: " + raftUpgradeToken + "\r\n\r\n"
	if _, err := raw.Write([]byte(req)); err != nil {
		return nil, fmt.Errorf("send upgrade: %w", err)
	}
	br := bufio.NewReader(raw)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return nil, fmt.Errorf("read upgrade answer: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("upgrade refused: %s", resp.Status)
	}
	if !headerHasToken(resp.Header, "Upgrade", raftUpgradeToken) {
		return nil, fmt.Errorf("upgrade answered with protocol %q", resp.Header.Get("Upgrade"))
	}
	return br, nil
}

// track wraps raw so that bytes already buffered in br are read first and
// registers it for Close. It fails, closing raw, if the layer is closed.
func (s *HTTPStreamLayer) track(raw net.Conn, br *bufio.Reader) (*streamConn, error) {
	c := &streamConn{Conn: raw, layer: s}
	if n := br.Buffered(); n > 0 {
		c.pending = make([]byte, n)
		_, _ = br.Read(c.pending)
	}
	s.mu.Lock()
	if s.isClosed() {
		s.mu.Unlock()
		_ = raw.Close()
		return nil, ErrTransportClosed
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return c, nil
}

func (s *HTTPStreamLayer) untrack(c *streamConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *HTTPStreamLayer) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// streamConn is an upgraded connection: reads drain bytes that were read
// ahead during the handshake before reading the socket.
type streamConn struct {
	net.Conn
	layer *HTTPStreamLayer

	readMu  sync.Mutex
	pending []byte

	closeOnce sync.Once
	closeErr  error
}

// Read returns read-ahead bytes first, then reads the connection. A read
// cut short because the layer was closed returns io.EOF, the way a peer
// going away looks, so that shutting down logs no errors.
func (c *streamConn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		c.readMu.Unlock()
		return n, nil
	}
	c.readMu.Unlock()
	n, err := c.Conn.Read(p)
	if err != nil && errors.Is(err, net.ErrClosed) && c.layer.isClosed() {
		err = io.EOF
	}
	return n, err
}

// Close closes the connection once and forgets it.
func (c *streamConn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.Conn.Close()
		c.layer.untrack(c)
	})
	return c.closeErr
}

// peerAddr is a net.Addr naming a master by its -peers entry.
type peerAddr string

func (a peerAddr) Network() string { return "tcp" }
func (a peerAddr) String() string  { return string(a) }

// headerHasToken reports whether the comma-separated header name contains
// token, compared case-insensitively.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
