package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

func init() {
	var (
		m masterFlags
		v volumeFlags
		f filerFlags
	)
	c := register(&command{
		name:   "server",
		server: true,
		short:  "start a master, a volume server and optionally a filer in one process",
		long: `Start a master, a volume server and (with -filer) a filer in one process: the
embedded default for a first try. Volumes are kept in -dir, the master's Raft state
in -dir/master and the filer's index in -dir/filer unless told otherwise.`,
	})
	fs := c.flags
	ip := fs.String("ip", hostIP(), "ip address the servers are reached at")
	bindIP := fs.String("ip.bind", "0.0.0.0", bindUsage+", for the master, the volume server and the filer")
	dir := fs.String("dir", os.TempDir(), "data directory: volumes, and the master's and filer's state in subdirectories")
	dataCenter := fs.String("dataCenter", "", "data center of the volume server")
	rack := fs.String("rack", "", "rack of the volume server")
	pulseSeconds := fs.Int("pulseSeconds", 5, "heartbeat interval")
	whiteList := fs.String("whiteList", "", "comma list of IPs or CIDRs allowed to write and administer; empty allows all")
	secret := fs.String("secure.secret", "", secretUsage)
	withFiler := fs.Bool("filer", false, "also start a filer")
	m.define(c, "master.", false)
	v.define(c, "volume.", false)
	f.define(c, "filer.", false)
	var mon monitorFlags
	mon.define(c)
	m.mon, f.mon = &mon, &mon
	c.run = func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return badUsage("unexpected arguments %q", args)
		}
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			return fmt.Errorf("create -dir: %w", err)
		}
		explicit := map[string]bool{}
		fs.Visit(func(fl *flag.Flag) { explicit[fl.Name] = true })
		if !explicit["master.mdir"] {
			*m.mdir = filepath.Join(*dir, "master")
		}
		if !explicit["filer.dir"] {
			*f.dir = filepath.Join(*dir, "filer")
		}
		m.ip, m.pulseSeconds, m.whiteList, m.secret = ip, pulseSeconds, whiteList, secret
		v.ip, v.dir, v.dataCenter, v.rack, v.pulseSeconds, v.whiteList, v.secret = ip, dir, dataCenter, rack, pulseSeconds, whiteList, secret
		m.bindIP, v.bindIP, f.bindIP = bindIP, bindIP, bindIP
		// The volume server and the filer reach the master where it listens.
		masterHost := "localhost"
		if *bindIP != "" && *bindIP != "0.0.0.0" {
			masterHost = *bindIP
		}
		masterAddr := net.JoinHostPort(masterHost, strconv.Itoa(*m.port))
		v.mserver = &masterAddr
		f.ip, f.master, f.secret = new(string), &masterAddr, secret

		defer mon.close()
		md, err := startMaster(ctx, &m, *ip)
		if err != nil {
			return err
		}
		vd, err := startVolume(ctx, &v, *ip, []string{masterAddr})
		if err != nil {
			_ = md.stop()
			return err
		}
		ds := []daemon{md, vd}
		if *withFiler {
			fd, err := startFiler(&f)
			if err != nil {
				_ = vd.stop()
				_ = md.stop()
				return err
			}
			ds = append(ds, fd)
		}
		return waitDaemons(ctx, ds...)
	}
}
