package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/weedfs/weed/filer"
)

// filerFlags are the flags of `weed filer`, shared with `weed server`
// (which prefixes them with "filer.").
type filerFlags struct {
	port          *int
	ip            *string
	bindIP        *string
	dir           *string
	master        *string
	replication   *string
	collection    *string
	redisServer   *string
	redisPassword *string
	redisDatabase *int
	maxMB         *int
	secret        *string
	mon           *monitorFlags // -metricsPort, -accessLog (monitor.go)
}

func (f *filerFlags) define(c *command, prefix string, standalone bool) {
	fs := c.flags
	f.port = fs.Int(prefix+"port", 8888, "http listen port")
	f.dir = fs.String(prefix+"dir", os.TempDir(), "directory of the embedded bolt index (filer.db)")
	f.replication = fs.String(prefix+"defaultReplicaPlacement", "000", "replication of files written without ?replication=")
	f.collection = fs.String(prefix+"collection", "", "collection of files written without ?collection=")
	f.redisServer = fs.String(prefix+"redis.server", "", "keep the index in this Redis server (host:port), shared by every filer pointed at it")
	f.redisPassword = fs.String(prefix+"redis.password", "", "Redis password")
	f.redisDatabase = fs.Int(prefix+"redis.database", 0, "Redis database number")
	f.maxMB = fs.Int(prefix+"maxMB", filer.DefaultMaxMB, "files larger than this many MB are stored as several chunks")
	if standalone {
		f.ip = fs.String("ip", "", "ip address to listen on (empty: every interface)")
		f.bindIP = fs.String("ip.bind", "", bindUsage+"; empty: -ip")
		f.master = fs.String("master", "localhost:9333", "masters, comma separated")
		f.secret = fs.String("secure.secret", "", secretUsage)
	}
}

// filerDaemon is a running filer.
type filerDaemon struct {
	srv  *filer.Server
	done chan error
}

func (d *filerDaemon) served() <-chan error { return d.done }

// stop drains in-flight requests and closes the index.
func (d *filerDaemon) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return d.srv.Shutdown(ctx)
}

// startFiler opens the index (bolt in -dir, or Redis) and starts serving.
func startFiler(f *filerFlags) (*filerDaemon, error) {
	if *f.maxMB < 1 || *f.maxMB > filer.MaxMaxMB {
		return nil, badUsage("-maxMB must be between 1 and %d", filer.MaxMaxMB)
	}
	if err := f.mon.open(*f.bindIP); err != nil {
		return nil, err
	}
	srv, err := filer.NewServer(filer.FilerOptions{
		IP:                 *f.ip,
		Port:               *f.port,
		Dir:                *f.dir,
		Master:             *f.master,
		DefaultReplication: *f.replication,
		Collection:         *f.collection,
		RedisServer:        *f.redisServer,
		RedisPassword:      *f.redisPassword,
		RedisDatabase:      *f.redisDatabase,
		MaxMB:              *f.maxMB,
		Secret:             *f.secret,
		Metrics:            f.mon.registry(),
		AccessLog:          f.mon.accessLogger(),
	})
	if err != nil {
		return nil, err
	}
	bind := *f.bindIP
	if bind == "" {
		bind = *f.ip
	}
	ln, err := net.Listen("tcp", listenAddr(bind, *f.port))
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		return nil, fmt.Errorf("listen on port %d: %w", *f.port, err)
	}
	d := &filerDaemon{srv: srv, done: make(chan error, 1)}
	go func() { d.done <- srv.Serve(ln) }()
	return d, nil
}

func init() {
	var f filerFlags
	c := register(&command{
		name:   "filer",
		server: true,
		short:  "start a filer: maps paths to fids (bolt index by default, Redis to share one namespace)",
		long: `Start a filer server. It stores files under paths (POST /dir/ multipart, PUT
/dir/name), serves them back, lists directories as JSON or HTML, and deletes them
with their needles. The index is a bolt file in -dir, or a Redis server shared by
several filers (-redis.server).`,
	})
	f.define(c, "", true)
	f.mon = new(monitorFlags)
	f.mon.define(c)
	c.run = func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return badUsage("unexpected arguments %q", args)
		}
		defer f.mon.close()
		d, err := startFiler(&f)
		if err != nil {
			return err
		}
		return waitDaemons(ctx, d)
	}
}

func init() {
	c := register(&command{
		name:  "filer.copy",
		args:  "local_file_or_dir... http://filer:8888/path/",
		short: "copy files or whole directory trees into a filer, keeping the tree",
	})
	fs := c.flags
	include := fs.String("include", "", "in directory trees, only files whose name matches this glob, e.g. *.jpg")
	concurrency := fs.Int("c", filer.DefaultCopyConcurrency, "files sent at once")
	replication := fs.String("replication", "", "replication (empty: the filer's default)")
	collection := fs.String("collection", "", "collection (empty: the filer's default)")
	ttl := fs.String("ttl", "", "time to live, e.g. 3m, 4h, 5d")
	maxMB := fs.Int("maxMB", 0, "split files into chunks of at most this many MB (0: the filer's -maxMB)")
	c.run = func(ctx context.Context, args []string) error {
		if len(args) < 2 {
			return badUsage("name the local files or directories, then the filer URL ending in /")
		}
		if *concurrency < 1 || *maxMB < 0 {
			return badUsage("-c must be at least 1 and -maxMB not negative")
		}
		err := filer.Copy(ctx, args[:len(args)-1], args[len(args)-1], filer.CopyOptions{
			Include: *include, Concurrency: *concurrency,
			Replication: *replication, Collection: *collection, TTL: *ttl,
			MaxMB: *maxMB, Progress: os.Stderr,
		})
		if errors.Is(err, filer.ErrCopyUsage) {
			return badUsage("%s", strings.TrimPrefix(err.Error(), "filer.copy: "))
		}
		return err
	}
}
