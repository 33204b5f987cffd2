package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/replication"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/volume/volumeserver"
)

// volumeFlags are the flags of `weed volume`, shared with `weed server`
// (which prefixes some of them with "volume.").
type volumeFlags struct {
	port         *int
	ip           *string
	bindIP       *string
	publicURL    *string
	dir          *string
	max          *string
	mserver      *string
	dataCenter   *string
	rack         *string
	pulseSeconds *int
	index        *string
	fsync        *bool
	readRedirect *bool
	readMode     *string
	whiteList    *string
	antiEntropy  *time.Duration
	copyRateMB   *int
	secret       *string
	minFreeSpace *string

	fileSizeLimitMB *int
	uploadLimitMB   *int
	uploadWait      *time.Duration

	publicPort     *int
	fixOrientation *bool
	rt             runtimeFlags
}

func (f *volumeFlags) define(c *command, prefix string, standalone bool) {
	fs := c.flags
	f.port = fs.Int(prefix+"port", 8080, "http listen port")
	f.publicPort = fs.Int(prefix+"port.public", 0, "a second port serving reads only (GET and HEAD of files; writes, deletes and admin answer 405 or 404 there); 0: none. Clients are sent there unless -publicUrl says otherwise")
	f.publicURL = fs.String(prefix+"publicUrl", "", "address clients are sent to for this server's files (default ip:port, or ip:port.public)")
	f.max = fs.String(prefix+"max", "7", "maximum number of volumes per -dir, comma list matching -dir; 0 sizes the dir from its free space and the master's -volumeSizeLimitMB")
	f.index = fs.String(prefix+"index", "memory", indexUsage)
	f.fixOrientation = fs.Bool(prefix+"images.fix.orientation", true, "turn JPEG uploads upright by their EXIF orientation (weed-fs 0.70's flag; re-encodes only a JPEG whose EXIF orientation is not upright)")
	f.fsync = fs.Bool(prefix+"fsync", false, "fsync every write before acknowledging it (concurrent writers share one fsync)")
	f.readRedirect = fs.Bool(prefix+"read.redirect", true, "answer reads of volumes held elsewhere with a 301 to a holder")
	f.readMode = fs.String(prefix+"readMode", "", "reads of volumes held elsewhere: redirect (301 to a holder), proxy (fetch from a holder and stream it) or local (404); empty: redirect, or local with -read.redirect=false")
	f.antiEntropy = fs.Duration(prefix+"replication.antiEntropyInterval", replication.DefaultAntiEntropyInterval, "time between passes comparing this server's replicated volumes with their other replicas (0 disables)")
	f.minFreeSpace = fs.String(prefix+"minFreeSpace", "1", "free disk space of a -dir below which its volumes turn read-only and no volume is created there: a percentage (1, 5%) or, above 100, a size (10GiB, 500MB); 0 leaves only a full disk to stop writes")
	f.copyRateMB = fs.Int(prefix+"replication.copyRateMB", replication.DefaultCopyBytesPerSecond>>20, "MB per second this server sends when a volume is copied from it (re-replication, weed backup)")
	f.fileSizeLimitMB = fs.Int(prefix+"fileSizeLimitMB", volumeserver.DefaultMaxUploadBytes>>20, "largest upload body in MB; larger ones get 413")
	f.uploadLimitMB = fs.Int(prefix+"concurrentUploadLimitMB", volumeserver.DefaultConcurrentUploadBytes>>20, "MB of upload bodies held in memory at once; past it an upload waits, then gets 503 with Retry-After (0: no limit)")
	f.uploadWait = fs.Duration(prefix+"inflightUploadDataTimeout", volumeserver.DefaultUploadWait, "how long an upload waits for room under -concurrentUploadLimitMB before its 503")
	if standalone {
		f.ip = fs.String("ip", "", "ip address this server is reached at (empty: the address the master sees its heartbeats come from)")
		f.bindIP = fs.String("ip.bind", "0.0.0.0", bindUsage)
		f.dir = fs.String("dir", os.TempDir(), "directories to store volumes in, comma separated")
		f.mserver = fs.String("mserver", "localhost:9333", "masters, comma separated; heartbeats follow the leader")
		f.dataCenter = fs.String("dataCenter", "", "data center of this server")
		f.rack = fs.String("rack", "", "rack of this server")
		f.pulseSeconds = fs.Int("pulseSeconds", 5, "heartbeat interval")
		f.whiteList = fs.String("whiteList", "", "comma list of IPs or CIDRs allowed to write, delete and administer; empty allows all")
		f.secret = fs.String("secure.secret", "", secretUsage)
		f.rt.define(fs)
	}
}

// volumeDaemon is a running volume server.
type volumeDaemon struct {
	srv    *volumeserver.Server
	public *httpx.Server // the -port.public listener's, or nil
	done   chan error
}

// startVolume opens the store, starts serving on the port and starts the
// heartbeat loop. It returns once the listener is open.
func startVolume(ctx context.Context, f *volumeFlags, ip string, masters []string) (*volumeDaemon, error) {
	dirs := splitList(*f.dir)
	if len(dirs) == 0 {
		return nil, badUsage("-dir is empty")
	}
	maxes, err := splitInts(*f.max)
	if err != nil {
		return nil, err
	}
	if len(maxes) == 1 && len(dirs) > 1 {
		for len(maxes) < len(dirs) {
			maxes = append(maxes, maxes[0])
		}
	}
	if len(maxes) != len(dirs) {
		return nil, badUsage("-max has %d values for %d directories", len(maxes), len(dirs))
	}
	mapKind, note, err := indexKind(*f.index)
	if err != nil {
		return nil, err
	}
	if note != "" {
		glog.Infof("%s", note)
	}
	publicPort := *f.publicPort
	if publicPort < 0 || publicPort > 65535 {
		return nil, badUsage("-port.public must be a port number")
	}
	if publicPort == *f.port {
		publicPort = 0 // weed-fs 0.70: the same port serves everything
	}
	if *f.pulseSeconds < 1 {
		return nil, badUsage("-pulseSeconds must be at least 1")
	}
	if len(masters) == 0 {
		return nil, badUsage("-mserver is empty")
	}
	if *f.fileSizeLimitMB < 1 {
		return nil, badUsage("-fileSizeLimitMB must be at least 1")
	}
	if *f.uploadLimitMB < 0 {
		return nil, badUsage("-concurrentUploadLimitMB must not be negative")
	}
	if *f.uploadWait <= 0 {
		return nil, badUsage("-inflightUploadDataTimeout must be positive")
	}
	uploadLimit := int64(*f.uploadLimitMB) << 20
	if uploadLimit == 0 {
		uploadLimit = -1 // no limit
	}
	minFree, err := volume.ParseMinFreeSpace(*f.minFreeSpace)
	if err != nil {
		return nil, badUsage("-minFreeSpace: %v", err)
	}
	start := time.Now()
	store, err := volume.NewStore(dirs, maxes, volume.Options{MapKind: mapKind, Fsync: *f.fsync, MinFreeSpace: minFree})
	if err != nil {
		return nil, err
	}
	glog.Infof("Store started on dir: %v with %d volumes max %v in %v", dirs, len(store.Volumes()), maxes, time.Since(start).Round(time.Millisecond))
	srv, err := volumeserver.NewServer(store, volumeserver.ServerOptions{
		IP:           ip,
		Port:         *f.port,
		PublicURL:    *f.publicURL,
		PublicPort:   publicPort,
		Masters:      masters,
		DataCenter:   *f.dataCenter,
		Rack:         *f.rack,
		PulseSeconds: *f.pulseSeconds,
		ReadRedirect: f.readRedirect,
		ReadMode:     *f.readMode,
		WhiteList:    splitList(*f.whiteList),

		AntiEntropyInterval: disabledAtZero(*f.antiEntropy),
		CopyBytesPerSecond:  int64(*f.copyRateMB) << 20,
		Secret:              *f.secret,

		MaxUploadBytes:        int64(*f.fileSizeLimitMB) << 20,
		ConcurrentUploadBytes: uploadLimit,
		UploadWait:            *f.uploadWait,

		FixJPEGOrientation: *f.fixOrientation,
		IdleTimeout:        f.rt.idle(),
	})
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", listenAddr(*f.bindIP, *f.port))
	if err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("listen on port %d: %w", *f.port, err)
	}
	d := &volumeDaemon{srv: srv, done: make(chan error, 2)}
	if publicPort != 0 {
		pln, err := net.Listen("tcp", listenAddr(*f.bindIP, publicPort))
		if err != nil {
			_ = ln.Close()
			_ = store.Close()
			return nil, fmt.Errorf("listen on -port.public %d: %w", publicPort, err)
		}
		d.public = httpx.NewServer("volume public port", srv.PublicHandler(), func(ln net.Listener) {
			glog.Infof("volume server public port (reads only) at %s", ln.Addr())
		})
		d.public.SetIdleTimeout(f.rt.idle())
		go func() { d.done <- d.public.Serve(pln) }()
	}
	go func() { d.done <- srv.Serve(ln) }()
	go srv.Run(ctx)
	return d, nil
}

func (d *volumeDaemon) served() <-chan error { return d.done }

// stop drains in-flight requests and closes the store.
func (d *volumeDaemon) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var perr error
	if d.public != nil {
		perr = d.public.Shutdown(ctx)
	}
	return errors.Join(perr, d.srv.Shutdown(ctx))
}

func init() {
	var f volumeFlags
	c := register(&command{
		name:   "volume",
		server: true,
		short:  "start a volume server: stores needles in volumes, replicates writes, heartbeats to the masters",
		long: `Start a volume server. It keeps volumes (N.dat + N.idx, or collection_N.*) in
each -dir, up to -max per dir, serves reads with one disk read, replicates writes and
deletes to the other replicas, and reports to the master leader every -pulseSeconds.
Copying a .dat/.idx pair into -dir and restarting migrates a volume here.`,
	})
	f.define(c, "", true)
	c.run = func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return badUsage("unexpected arguments %q", args)
		}
		if err := f.rt.apply(); err != nil {
			return err
		}
		d, err := startVolume(ctx, &f, *f.ip, splitList(*f.mserver))
		if err != nil {
			return err
		}
		return waitDaemons(ctx, d)
	}
}

// daemon is anything cmd starts and stops: master, volume server, filer.
type daemon interface {
	// stop drains in-flight requests and releases the daemon's resources.
	stop() error
	// served delivers the error its HTTP server stopped with.
	served() <-chan error
}

// waitDaemons blocks until ctx is cancelled (SIGINT/SIGTERM) or one daemon's
// server stops by itself, then stops them all in reverse start order.
func waitDaemons(ctx context.Context, ds ...daemon) error {
	failed := make(chan error, len(ds))
	for _, d := range ds {
		go func(done <-chan error) {
			if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
				failed <- err
			}
		}(d.served())
	}
	var err error
	select {
	case <-ctx.Done():
		glog.Infof("shutting down")
	case err = <-failed:
		glog.Errorf("server stopped: %v", err)
	}
	for i := len(ds) - 1; i >= 0; i-- {
		if serr := ds[i].stop(); serr != nil && err == nil {
			err = serr
		}
	}
	return err
}
