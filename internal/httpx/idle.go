package httpx

import (
	"net"
	"time"
)

// IdleTimeoutListener wraps ln so that every read and every write on its
// connections must make progress within d, as weed-fs 0.70's -idleTimeout
// did: a connection silent for d (a stalled client, a keep-alive connection
// left idle) is closed, while a slow transfer that keeps moving is not cut
// off. d <= 0 returns ln unchanged.
func IdleTimeoutListener(ln net.Listener, d time.Duration) net.Listener {
	if d <= 0 {
		return ln
	}
	return &idleListener{Listener: ln, timeout: d}
}

type idleListener struct {
	net.Listener
	timeout time.Duration
}

func (l *idleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &idleConn{Conn: c, timeout: l.timeout}, nil
}

// idleConn sets a deadline before each read and write.
type idleConn struct {
	net.Conn
	timeout time.Duration
}

func (c *idleConn) Read(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *idleConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}
