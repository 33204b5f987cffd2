package redistest

import (
	"strings"
	"testing"
)

func TestStartAnswersPingAndStopsAtCleanup(t *testing.T) {
	var addr string
	t.Run("running", func(t *testing.T) {
		addr = Start(t)
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Fatalf("address %q is not on 127.0.0.1", addr)
		}
		if err := ping(addr); err != nil {
			t.Fatalf("PING %s: %v", addr, err)
		}
	})
	if addr == "" {
		t.Skip("redis-server unavailable")
	}
	if err := ping(addr); err == nil {
		t.Fatalf("redis-server on %s still answers after its test's cleanup", addr)
	}
}

func TestTwoServersAreIndependent(t *testing.T) {
	a, b := Start(t), Start(t)
	if a == b {
		t.Fatalf("two servers share address %s", a)
	}
	for _, addr := range []string{a, b} {
		if err := ping(addr); err != nil {
			t.Fatalf("PING %s: %v", addr, err)
		}
	}
}

func TestMissingServerSkips(t *testing.T) {
	var sub *testing.T
	t.Run("missing", func(t *testing.T) {
		sub = t
		t.Setenv("PATH", t.TempDir())
		t.Setenv(RequireEnv, "")
		Start(t)
		t.Errorf("Start returned without redis-server on PATH")
	})
	if !sub.Skipped() {
		t.Fatalf("Start did not skip when redis-server is missing and %s is unset", RequireEnv)
	}
}
