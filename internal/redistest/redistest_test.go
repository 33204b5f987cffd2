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

func TestSentinelsFailOverToTheReplica(t *testing.T) {
	s := StartSentinels(t)
	if len(s.Addrs) != 3 {
		t.Fatalf("%d sentinels, want 3", len(s.Addrs))
	}
	first, err := s.Master()
	if err != nil || first != s.master.addr {
		t.Fatalf("sentinels name master %q (%v), want %s", first, err, s.master.addr)
	}
	s.KillMaster()
	if err := ping(first); err == nil {
		t.Fatalf("killed master %s still answers", first)
	}
	if got := s.WaitFailover(); got == first {
		t.Fatalf("failover kept the dead master %s", first)
	}
	if err := roleIs(s.replica.addr, "master"); err != nil {
		t.Fatal(err)
	}
}

func TestClusterCoversEverySlot(t *testing.T) {
	c := StartCluster(t, 3)
	if len(c.Addrs) != 3 {
		t.Fatalf("%d nodes, want 3", len(c.Addrs))
	}
	for _, a := range c.Addrs {
		f, err := info(a, "cluster")
		if err != nil {
			t.Fatalf("CLUSTER INFO %s: %v", a, err)
		}
		if f["cluster_known_nodes"] != "3" || f["cluster_size"] != "3" {
			t.Fatalf("%s: %s known nodes, size %s; want 3 masters", a, f["cluster_known_nodes"], f["cluster_size"])
		}
	}
}
