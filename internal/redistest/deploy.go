package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// MasterName is the name StartSentinels' sentinels know the master by.
const MasterName = "mymaster"

const (
	// sentinelDownAfter is how long the sentinels wait for a silent
	// master before voting it down; short, so that tests fail over fast.
	sentinelDownAfter = 1000 * time.Millisecond
	// deployTimeout bounds waits for a deployment to settle: a replica in
	// sync, a failover done, a cluster's slots covered.
	deployTimeout = 30 * time.Second
)

// Sentinels is a Redis master, one replica of it and three sentinels
// watching it (quorum 2), all on 127.0.0.1, started by StartSentinels and
// stopped at the test's cleanup.
type Sentinels struct {
	t       testing.TB
	master  *server
	replica *server
	// Addrs are the sentinels' "127.0.0.1:port" addresses.
	Addrs []string
}

// StartSentinels starts a master, a replica in sync with it and three
// sentinels that fail over once the master is silent for a second.
// Without redis-server or redis-sentinel on PATH the test is skipped, or
// failed when WEED_REQUIRE_REDIS=1. Call it from the test's goroutine.
func StartSentinels(t testing.TB) *Sentinels {
	t.Helper()
	serverBin := lookPath(t, "redis-server", "redis-server")
	sentinelBin := lookPath(t, "redis-sentinel", "redis-sentinel")
	s := &Sentinels{t: t}
	s.master = startServer(t, serverBin, t.TempDir())
	host, port := splitAddr(t, s.master.addr)
	s.replica = startServer(t, serverBin, t.TempDir(), "--replicaof", host, port)
	if err := waitFor(func() error { return replicaInSync(s.replica.addr) }); err != nil {
		t.Fatalf("redistest: replica %s of %s: %v", s.replica.addr, s.master.addr, err)
	}
	for i := 0; i < 3; i++ {
		dir := t.TempDir()
		srv := startProcess(t, func(p int) (*server, error) {
			conf := filepath.Join(dir, "sentinel.conf")
			text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n"+
				"sentinel monitor %s %s %s 2\n"+
				"sentinel down-after-milliseconds %s %d\n"+
				"sentinel failover-timeout %s 10000\n"+
				"sentinel parallel-syncs %s 1\n",
				p, dir, MasterName, host, port, MasterName, sentinelDownAfter.Milliseconds(), MasterName, MasterName)
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				return nil, err
			}
			return start(sentinelBin, []string{conf}, dir, p)
		})
		s.Addrs = append(s.Addrs, srv.addr)
	}
	// Every sentinel must know the replica and the other sentinels before
	// a failover can be voted.
	err := waitFor(func() error {
		for _, a := range s.Addrs {
			if err := sentinelReady(a); err != nil {
				return fmt.Errorf("sentinel %s: %w", a, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return s
}

// Master returns the address the sentinels give for the master now.
func (s *Sentinels) Master() (string, error) {
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Addrs[0]})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	hp, err := c.GetMasterAddrByName(ctx, MasterName).Result()
	if err != nil {
		return "", err
	}
	return strings.Join(hp, ":"), nil
}

// KillMaster kills the first master with SIGKILL (no chance to hand its
// last writes to the replica) and returns once it has exited.
func (s *Sentinels) KillMaster() {
	s.t.Helper()
	if err := s.master.kill(); err != nil {
		s.t.Fatalf("redistest: kill master %s: %v", s.master.addr, err)
	}
}

// WaitFailover waits until the sentinels name the replica as master and
// it answers as one, and returns its address.
func (s *Sentinels) WaitFailover() string {
	s.t.Helper()
	err := waitFor(func() error {
		m, err := s.Master()
		if err != nil {
			return err
		}
		if m != s.replica.addr {
			return fmt.Errorf("sentinels still name %s", m)
		}
		return roleIs(m, "master")
	})
	if err != nil {
		s.t.Fatalf("redistest: failover to %s: %v", s.replica.addr, err)
	}
	return s.replica.addr
}

// Cluster is a Redis Cluster of masters without replicas on 127.0.0.1,
// started by StartCluster and stopped at the test's cleanup.
type Cluster struct {
	// Addrs are the masters' "127.0.0.1:port" addresses.
	Addrs []string
}

// StartCluster starts n (at least 3) redis-servers with cluster mode on,
// joins them with `redis-cli --cluster create`, and waits until every
// node reports cluster_state:ok. Without redis-server or redis-cli on
// PATH the test is skipped, or failed when WEED_REQUIRE_REDIS=1.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	serverBin := lookPath(t, "redis-server", "redis-server")
	cli := lookPath(t, "redis-cli", "redis-tools")
	c := &Cluster{}
	for i := 0; i < n; i++ {
		dir := t.TempDir()
		srv := startServer(t, serverBin, dir,
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", "2000")
		c.Addrs = append(c.Addrs, srv.addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), deployTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	err = waitFor(func() error {
		for _, a := range c.Addrs {
			if err := clusterOK(a); err != nil {
				return fmt.Errorf("%s: %w", a, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("redistest: cluster %v: %v", c.Addrs, err)
	}
	return c
}

// waitFor calls check every 50ms until it returns nil or deployTimeout
// passes, and returns its last error then.
func waitFor(check func() error) error {
	deadline := time.Now().Add(deployTimeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", deployTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func splitAddr(t testing.TB, addr string) (host, port string) {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		t.Fatalf("redistest: address %q has no port", addr)
	}
	return addr[:i], addr[i+1:]
}

// info returns the fields of one INFO section of the server at addr.
func info(addr, section string) (map[string]string, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var text string
	var err error
	if section == "cluster" {
		text, err = c.ClusterInfo(ctx).Result()
	} else {
		text, err = c.Info(ctx, section).Result()
	}
	if err != nil {
		return nil, err
	}
	fields := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			fields[k] = v
		}
	}
	return fields, nil
}

func replicaInSync(addr string) error {
	f, err := info(addr, "replication")
	if err != nil {
		return err
	}
	if f["master_link_status"] != "up" {
		return fmt.Errorf("master link %q", f["master_link_status"])
	}
	return nil
}

func roleIs(addr, role string) error {
	f, err := info(addr, "replication")
	if err != nil {
		return err
	}
	if f["role"] != role {
		return fmt.Errorf("%s is a %s, not a %s", addr, f["role"], role)
	}
	return nil
}

func sentinelReady(addr string) error {
	c := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m, err := c.Master(ctx, MasterName).Result()
	if err != nil {
		return err
	}
	if n, _ := strconv.Atoi(m["num-slaves"]); n < 1 {
		return fmt.Errorf("knows %d replicas", n)
	}
	if n, _ := strconv.Atoi(m["num-other-sentinels"]); n < 2 {
		return fmt.Errorf("knows %d other sentinels", n)
	}
	return nil
}

func clusterOK(addr string) error {
	f, err := info(addr, "cluster")
	if err != nil {
		return err
	}
	if f["cluster_state"] != "ok" || f["cluster_slots_ok"] != "16384" {
		return fmt.Errorf("cluster_state %q, %s slots ok", f["cluster_state"], f["cluster_slots_ok"])
	}
	return nil
}
