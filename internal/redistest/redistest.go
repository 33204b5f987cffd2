// Package redistest starts throwaway Redis deployments for tests that need
// a real Redis: one redis-server (Start), a master with a replica watched
// by three sentinels (StartSentinels), or a cluster of masters
// (StartCluster), for the filer's Redis store and end-to-end tests of
// shared filers.
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
	return startServer(t, lookPath(t, "redis-server", "redis-server"), t.TempDir()).addr
}

// lookPath finds the program name of the Debian package pkg on PATH, or
// skips t (fails it when WEED_REQUIRE_REDIS=1).
func lookPath(t testing.TB, name, pkg string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s not found on PATH and %s=1: %v (install the %s package, or run `make deps`)", name, RequireEnv, err, pkg)
		}
		t.Skipf("%s not found on PATH, skipping (install the %s package, or set %s=1 to make this a failure)", name, pkg, RequireEnv)
	}
	return bin
}

// startServer starts one redis-server (see Start) in dir, with extra
// arguments, stopped in t.Cleanup.
func startServer(t testing.TB, bin, dir string, extra ...string) *server {
	t.Helper()
	return startProcess(t, func(port int) (*server, error) {
		args := append([]string{
			"--port", strconv.Itoa(port),
			"--bind", "127.0.0.1",
			"--save", "",
			"--appendonly", "no",
			"--dir", dir,
		}, extra...)
		return start(bin, args, dir, port)
	})
}

// startProcess runs launch on fresh free ports until one start succeeds,
// and stops the process in t.Cleanup.
func startProcess(t testing.TB, launch func(port int) (*server, error)) *server {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: find a free port: %v", err)
		}
		srv, err := launch(port)
		if err == nil {
			t.Cleanup(func() {
				if err := srv.stop(); err != nil {
					t.Errorf("redistest: stop redis on %s: %v", srv.addr, err)
				}
			})
			return srv
		}
		lastErr = err
	}
	t.Fatalf("redistest: redis did not start after %d attempts: %v", startAttempts, lastErr)
	return nil
}

// server is one running redis-server.
type server struct {
	addr   string
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd.Wait returns
	output *lockedBuffer
}

// start launches bin with args, a server listening on port, and waits
// for its PONG. On failure the process is gone when start returns.
func start(bin string, args []string, dir string, port int) (*server, error) {
	out := &lockedBuffer{}
	cmd := exec.Command(bin, args...)
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
			return nil, fmt.Errorf("%s on port %d exited early: %s", bin, port, out.String())
		default:
		}
		if ping(srv.addr) == nil {
			return srv, nil
		}
		if time.Now().After(deadline) {
			srv.stop()
			return nil, fmt.Errorf("%s on port %d gave no PONG within %v: %s", bin, port, readyTimeout, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to exit.
func (s *server) kill() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	if err := s.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("kill: %w", err)
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("still running %v after SIGKILL", stopTimeout)
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

// Server is one redis-server started by StartServer.
type Server struct {
	// Addr is its "127.0.0.1:port" address.
	Addr string
	srv  *server
}

// StartServer starts a redis-server like Start and returns it, so that
// the test can kill it.
func StartServer(t testing.TB) *Server {
	t.Helper()
	srv := startServer(t, lookPath(t, "redis-server", "redis-server"), t.TempDir())
	return &Server{Addr: srv.addr, srv: srv}
}

// Kill kills the server with SIGKILL and returns once it has exited.
func (s *Server) Kill() error { return s.srv.kill() }
