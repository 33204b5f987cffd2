package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/master"
	"github.com/weedfs/weed/master/raftnode"
)

// masterFlags are the flags of `weed master`, shared with `weed server`
// (which prefixes them with "master.").
type masterFlags struct {
	port               *int
	ip                 *string
	bindIP             *string
	mdir               *string
	peers              *string
	defaultReplication *string
	volumeSizeLimitMB  *uint64
	pulseSeconds       *int
	garbageThreshold   *float64
	whiteList          *string
	conf               *string
	repairAfter        *time.Duration
	secret             *string
	rt                 runtimeFlags
	mon                *monitorFlags // -metricsPort, -accessLog (monitor.go)
}

// define adds the master's flags to c with prefix. Standalone defines the
// flags `weed server` shares between its parts (-ip, -pulseSeconds,
// -ip.bind, -whiteList, -secure.secret); the server sets those pointers
// itself.
func (f *masterFlags) define(c *command, prefix string, standalone bool) {
	fs := c.flags
	f.port = fs.Int(prefix+"port", master.DefaultPort, "http listen port")
	if standalone {
		f.ip = fs.String("ip", hostIP(), "ip address this master is reached at")
		f.bindIP = fs.String("ip.bind", "0.0.0.0", bindUsage)
		f.pulseSeconds = fs.Int("pulseSeconds", 5, "heartbeat interval of volume servers; a node silent for 3 pulses is dropped")
		f.whiteList = fs.String("whiteList", "", "comma list of IPs or CIDRs allowed to write and administer; empty allows all")
		f.secret = fs.String("secure.secret", "", secretUsage)
		f.rt.define(fs)
	}
	f.mdir = fs.String(prefix+"mdir", os.TempDir(), "directory for the Raft log, stable store and snapshots")
	f.peers = fs.String(prefix+"peers", "", "every master's HTTP address, this one included, the same list on each: h1:9333,h2:9334,h3:9335")
	f.defaultReplication = fs.String(prefix+"defaultReplication", "000", "replication of assigns that name none: xyz = x other data centers, y other racks, z other nodes")
	f.volumeSizeLimitMB = fs.Uint64(prefix+"volumeSizeLimitMB", 30000, "a volume stops taking writes at this size")
	f.garbageThreshold = fs.Float64(prefix+"garbageThreshold", 0.3, "vacuum volumes whose garbage ratio is above this")
	f.conf = fs.String(prefix+"conf", "", "Deprecating! xml configuration file")
	f.repairAfter = fs.Duration(prefix+"replication.repairAfter", master.DefaultRepairAfter, "copy the volumes of a volume server gone this long to other servers (0 disables)")
}

// masterDaemon is a running master: its Raft node and HTTP server.
type masterDaemon struct {
	node *raftnode.Node
	srv  *master.Server
	done chan error
}

// startMaster builds the Raft node and the HTTP server, starts serving on
// ip:port, then starts Raft and the background loops. It returns once the
// listener is open.
func startMaster(ctx context.Context, f *masterFlags, ip string) (*masterDaemon, error) {
	if *f.conf != "" {
		glog.Warningf("-conf=%s: Deprecating! the topology comes from heartbeats; the file is ignored", *f.conf)
	}
	if *f.pulseSeconds < 1 {
		return nil, badUsage("-pulseSeconds must be at least 1")
	}
	if err := os.MkdirAll(*f.mdir, 0o755); err != nil {
		return nil, fmt.Errorf("create -mdir: %w", err)
	}
	peers := splitList(*f.peers)
	self := net.JoinHostPort(ip, strconv.Itoa(*f.port))
	if len(peers) > 0 {
		var err error
		if self, err = selfInPeers(peers, ip, *f.port); err != nil {
			return nil, err
		}
	}
	if err := f.mon.open(*f.bindIP); err != nil {
		return nil, err
	}
	stores, err := raftnode.OpenBolt(*f.mdir, self)
	if err != nil {
		return nil, err
	}
	node, err := raftnode.New(raftnode.Config{Self: self, Peers: peers}, stores)
	if err != nil {
		return nil, err
	}
	srv, err := master.NewServer(master.Options{
		IP:                 ip,
		Port:               *f.port,
		VolumeSizeLimitMB:  *f.volumeSizeLimitMB,
		DefaultReplication: *f.defaultReplication,
		PulseSeconds:       *f.pulseSeconds,
		GarbageThreshold:   *f.garbageThreshold,
		WhiteList:          splitList(*f.whiteList),
		Routes:             node.Register,
		RepairAfter:        disabledAtZero(*f.repairAfter),
		Secret:             *f.secret,
		IdleTimeout:        f.rt.idle(),
		Metrics:            f.mon.registry(),
		AccessLog:          f.mon.accessLogger(),
	}, master.Deps{Sequencer: node, Leadership: node, Stale: node, Members: node, Ready: node, Term: node})
	if err != nil {
		_ = node.Shutdown()
		return nil, err
	}
	ln, err := net.Listen("tcp", listenAddr(*f.bindIP, *f.port))
	if err != nil {
		_ = node.Shutdown()
		return nil, fmt.Errorf("listen on port %d: %w", *f.port, err)
	}
	d := &masterDaemon{node: node, srv: srv, done: make(chan error, 1)}
	go func() { d.done <- srv.Serve(ln) }()
	if err := node.Start(); err != nil {
		_ = srv.Shutdown(context.Background())
		_ = node.Shutdown()
		return nil, err
	}
	go srv.Run(ctx)
	return d, nil
}

func (d *masterDaemon) served() <-chan error { return d.done }

// stop drains the HTTP server, then shuts Raft down.
func (d *masterDaemon) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := d.srv.Shutdown(ctx)
	if rerr := d.node.Shutdown(); err == nil {
		err = rerr
	}
	return err
}

// selfInPeers finds the entry of -peers that names this master: the one with
// this port whose host is -ip or an address of this machine.
func selfInPeers(peers []string, ip string, port int) (string, error) {
	var match []string
	for _, p := range peers {
		host, ps, err := net.SplitHostPort(p)
		if err != nil {
			return "", badUsage("-peers entry %q is not host:port", p)
		}
		if ps != strconv.Itoa(port) {
			continue
		}
		if host == ip {
			return p, nil
		}
		if isLocalHost(host) {
			match = append(match, p)
		}
	}
	if len(match) == 0 {
		return "", badUsage("-peers must name this master too (an entry with port %d on this host)", port)
	}
	return match[0], nil
}

func init() {
	var f masterFlags
	c := register(&command{
		name:   "master",
		server: true,
		short:  "start a master: topology, fid assignment, volume growth; -peers makes a Raft group",
		long: `Start a master server. It hands out file ids, keeps the topology of volume
servers (from their heartbeats), grows volumes under the replication policy and
runs vacuum. With -peers, masters form a Raft group that replicates the volume id
and file key high-water marks; any master answers, followers forward to the leader.`,
	})
	f.define(c, "", true)
	f.mon = new(monitorFlags)
	f.mon.define(c)
	c.run = func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return badUsage("unexpected arguments %q", args)
		}
		if err := f.rt.apply(); err != nil {
			return err
		}
		defer f.mon.close()
		d, err := startMaster(ctx, &f, *f.ip)
		if err != nil {
			return err
		}
		return waitDaemons(ctx, d)
	}
}
