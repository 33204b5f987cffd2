package main

import (
	"context"
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
in -dir/master (-master.mdir) and the filer's index in -dir/filer (-filer.dir)
unless told otherwise. -dir defaults to the system's temporary directory, which a
reboot may empty: give it a lasting directory for data you keep.`,
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
	var rt runtimeFlags
	rt.define(fs)
	fs.StringVar(cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (as the global -cpuprofile)")
	m.define(c, "master.", false)
	v.define(c, "volume.", false)
	f.define(c, "filer.", false)
	filerMaster := fs.String("filer.master", "", "masters the filer talks to (default: this server's master)")
	// weed-fs 0.70's names of the same settings.
	fs.StringVar(m.mdir, "master.dir", "", "the same as -master.mdir (weed-fs 0.70's name)")
	fs.StringVar(m.defaultReplication, "master.defaultReplicaPlacement", "000", "the same as -master.defaultReplication (weed-fs 0.70's name)")
	fs.Float64Var(m.garbageThreshold, "garbageThreshold", 0.3, "the same as -master.garbageThreshold (weed-fs 0.70's name)")
	// The master's and filer's state go under -dir unless told otherwise.
	for _, name := range []string{"master.mdir", "master.dir", "filer.dir"} {
		fl := fs.Lookup(name)
		_ = fl.Value.Set("")
		fl.DefValue = ""
	}
	fs.Lookup("master.mdir").Usage = "directory for the Raft log, stable store and snapshots (empty: -dir/master)"
	fs.Lookup("filer.dir").Usage = "directory of the filer's bolt index (empty: -dir/filer)"
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
		if err := rt.apply(); err != nil {
			return err
		}
		if *m.mdir == "" {
			*m.mdir = filepath.Join(*dir, "master")
		}
		if *f.dir == "" {
			*f.dir = filepath.Join(*dir, "filer")
		}
		m.rt, v.rt, f.idle = rt, rt, &rt
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
		if *filerMaster != "" {
			f.master = filerMaster
		}

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
