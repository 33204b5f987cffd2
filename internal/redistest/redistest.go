// Package redistest starts a throwaway redis-server for tests that need a
// real Redis: the filer's Redis store and end-to-end tests of shared filers.
package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireEnv is the environment variable that, set to "1", turns a missing
// redis-server from a skipped test into a failed one (CI and `make test` set it).
const RequireEnv = "WEED_REQUIRE_REDIS"

const (
	startAttempts = 5                // fresh ports tried when one is taken meanwhile
	readyTimeout  = 10 * time.Second // how long one start may take to answer PING
	stopTimeout   = 5 * time.Second  // how long SIGTERM gets before SIGKILL
)

// Start runs redis-server on a free 127.0.0.1 port with persistence off and
// its working directory in t.TempDir(), waits until it answers PING, and
// returns its "127.0.0.1:port" address. The server is stopped in t.Cleanup.
// Without redis-server on PATH the test is skipped, or failed when
// WEED_REQUIRE_REDIS=1. Start must be called from the test's goroutine.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("redis-server not found on PATH and %s=1: %v (install the redis-server package, or run `make deps`)", RequireEnv, err)
		}
		t.Skipf("redis-server not found on PATH, skipping (install the redis-server package, or set %s=1 to make this a failure)", RequireEnv)
	}
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: find a free port: %v", err)
		}
		srv, err := start(bin, dir, port)
		if err == nil {
			t.Cleanup(func() {
				if err := srv.stop(); err != nil {
					t.Errorf("redistest: stop redis-server on %s: %v", srv.addr, err)
				}
			})
			return srv.addr
		}
		lastErr = err
	}
	t.Fatalf("redistest: redis-server did not start after %d attempts: %v", startAttempts, lastErr)
	return ""
}

// server is one running redis-server.
type server struct {
	addr   string
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd.Wait returns
	output *lockedBuffer
}

// start launches redis-server on port and waits for its PONG. On failure the
// process is gone when start returns.
func start(bin, dir string, port int) (*server, error) {
	out := &lockedBuffer{}
	cmd := exec.Command(bin,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
	)
	cmd.Dir = dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	srv := &server{
		addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		cmd:    cmd,
		exited: make(chan struct{}),
		output: out,
	}
	go func() {
		cmd.Wait()
		close(srv.exited)
	}()
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-srv.exited:
			return nil, fmt.Errorf("redis-server on port %d exited early: %s", port, out.String())
		default:
		}
		if ping(srv.addr) == nil {
			return srv, nil
		}
		if time.Now().After(deadline) {
			srv.stop()
			return nil, fmt.Errorf("redis-server on port %d gave no PONG within %v: %s", port, readyTimeout, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM, then SIGKILL if the server has not exited in stopTimeout.
func (s *server) stop() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		select {
		case <-s.exited:
			return nil
		default:
			return fmt.Errorf("signal: %w", err)
		}
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-s.exited:
		return nil
	case <-timer.C:
	}
	if err := s.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("kill: %w", err)
	}
	timer.Reset(stopTimeout)
	select {
	case <-s.exited:
		return nil
	case <-timer.C:
		return fmt.Errorf("still running %v after SIGKILL", stopTimeout)
	}
}

// ping sends one inline PING and expects +PONG.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// freePort asks the kernel for a free 127.0.0.1 port. Another process may take
// it before redis-server binds it; Start then tries again with another.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects the server's output; os/exec writes it from its own
// goroutine while Start may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
