package main

import (
	"flag"
	"net"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/weedfs/weed/volume"
)

// secretUsage is the help of -secure.secret, the same on every daemon.
const secretUsage = "shared secret of the cluster (the same on masters, volume servers and filers): masters sign a short-lived token (JWT) for each fid they assign, volume servers refuse writes and deletes without a valid one; empty disables"

// bindUsage is the help of -ip.bind, weed-fs 0.70's flag.
const bindUsage = "ip address to bind to (0.0.0.0: every interface)"

// listenAddr is the address a daemon listens on for -ip.bind and its port:
// "0.0.0.0" and "" mean every interface (IPv4 and IPv6).
func listenAddr(bind string, port int) string {
	if bind == "0.0.0.0" {
		bind = ""
	}
	return net.JoinHostPort(bind, strconv.Itoa(port))
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// disabledAtZero maps a duration flag where 0 disables
// (-replication.repairAfter, -replication.antiEntropyInterval) to an option
// where negative disables and 0 means the default.
func disabledAtZero(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// splitInts parses a comma-separated list of non-negative integers.
func splitInts(s string) ([]int, error) {
	var out []int
	for _, p := range splitList(s) {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, badUsage("%q is not a non-negative integer", p)
		}
		out = append(out, n)
	}
	return out, nil
}

// hostIP guesses this host's address for the -ip default: the first
// non-loopback IPv4 address of an interface that is up, else 127.0.0.1.
func hostIP() string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "127.0.0.1"
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// isLocalHost reports whether host names this machine: a loopback name or
// address, or an address of one of its interfaces.
func isLocalHost(host string) bool {
	if host == "" || host == "localhost" {
		return true
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return false
	}
	local := map[string]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				local[ipn.IP.String()] = true
			}
		}
	}
	for _, ip := range ips {
		if ip.IsLoopback() || local[ip.String()] {
			return true
		}
	}
	return false
}

// runtimeFlags are weed-fs 0.70's -maxCpu and -idleTimeout, which every
// server command takes.
type runtimeFlags struct {
	maxCPU      *int
	idleTimeout *int
}

func (r *runtimeFlags) define(fs *flag.FlagSet) {
	r.maxCPU = fs.Int("maxCpu", 0, "maximum number of CPUs used (GOMAXPROCS); 0 means all available CPUs")
	r.idleTimeout = fs.Int("idleTimeout", 0, "connection idle seconds: a connection that sends no request for this long (between requests, or before its first) is closed; a request being served is not cut off. 0 keeps the defaults: 30 s for a request's headers, 2 min idle between requests (weed-fs 0.70 defaulted to 10)")
}

// apply sets GOMAXPROCS from -maxCpu.
func (r *runtimeFlags) apply() error {
	if *r.maxCPU < 0 {
		return badUsage("-maxCpu must not be negative")
	}
	if *r.idleTimeout < 0 {
		return badUsage("-idleTimeout must not be negative")
	}
	if *r.maxCPU > 0 {
		runtime.GOMAXPROCS(*r.maxCPU)
	}
	return nil
}

// idle is -idleTimeout as a duration (0: none).
func (r *runtimeFlags) idle() time.Duration {
	if r == nil || r.idleTimeout == nil {
		return 0
	}
	return time.Duration(*r.idleTimeout) * time.Second
}

// indexUsage is the help of -index.
const indexUsage = "needle map: memory (compact, in RAM) or bolt (on disk, for volumes larger than RAM wants); weed-fs 0.70 and SeaweedFS names are taken too: leveldb, leveldbMedium, leveldbLarge, boltdb (bolt), btree (memory)"

// indexKind maps an -index name, weed's or weed-fs 0.70's and SeaweedFS's,
// to a needle map kind. note, when not empty, says how a foreign name was
// mapped, for the log.
func indexKind(name string) (kind volume.MapKind, note string, err error) {
	switch name {
	case string(volume.MapMemory):
		return volume.MapMemory, "", nil
	case string(volume.MapBolt):
		return volume.MapBolt, "", nil
	case "btree":
		return volume.MapMemory, "-index=btree: weed's in-memory needle map (memory) serves it", nil
	case "leveldb", "leveldbMedium", "leveldbLarge", "boltdb":
		return volume.MapBolt, "-index=" + name + ": weed's on-disk needle map (bolt) serves it", nil
	}
	return "", "", badUsage("-index must be memory or bolt (or leveldb, leveldbMedium, leveldbLarge, boltdb, btree), not %q", name)
}
