package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	redisSentinel *string
	redisMaster   *string
	redisCluster  *string
	redisPassword *string
	redisDatabase *int
	redisWait     *int
	redisWaitTime *time.Duration
	maxMB         *int
	secret        *string

	redirectOnRead    *bool
	disableDirListing *bool
	cassandraServer   *string
	cassandraKeyspace *string
	// idle is -idleTimeout: weed server's; the standalone filer has none.
	idle *runtimeFlags
	mon  *monitorFlags // -metricsPort, -accessLog (monitor.go)
}

func (f *filerFlags) define(c *command, prefix string, standalone bool) {
	fs := c.flags
	f.port = fs.Int(prefix+"port", 8888, "http listen port")
	f.dir = fs.String(prefix+"dir", os.TempDir(), "directory of the embedded bolt index (filer.db)")
	f.replication = fs.String(prefix+"defaultReplicaPlacement", "000", "replication of files written without ?replication=")
	f.collection = fs.String(prefix+"collection", "", "collection of files written without ?collection=")
	f.redisServer = fs.String(prefix+"redis.server", "", "keep the index in this Redis server (host:port), shared by every filer pointed at it")
	f.redisSentinel = fs.String(prefix+"redis.sentinel", "", "keep the index in the Redis master these sentinels (host:port,...) know as -redis.masterName, following failovers")
	f.redisMaster = fs.String(prefix+"redis.masterName", "", "the master's name known to -redis.sentinel")
	f.redisCluster = fs.String(prefix+"redis.cluster", "", "keep the index in the Redis Cluster reached through these nodes (host:port,...)")
	f.redisWait = fs.Int(prefix+"redis.waitReplicas", -1, "acknowledge a write only once this many Redis replicas have it (WAIT); -1: 1 with -redis.sentinel, else 0")
	f.redisWaitTime = fs.Duration(prefix+"redis.waitTimeout", filer.DefaultRedisWaitTimeout, "how long a write waits for -redis.waitReplicas before failing with 503")
	f.redisPassword = fs.String(prefix+"redis.password", "", "Redis password")
	f.redisDatabase = fs.Int(prefix+"redis.database", 0, "Redis database number")
	f.maxMB = fs.Int(prefix+"maxMB", filer.DefaultMaxMB, "files larger than this many MB are stored as several chunks")
	f.redirectOnRead = fs.Bool(prefix+"redirectOnRead", false, "answer a read of a file with a 302 to a volume server holding it instead of proxying its bytes (files stored as one needle; chunked files are still served)")
	f.disableDirListing = fs.Bool(prefix+"disableDirListing", false, "answer a GET of a directory with 405 instead of its listing")
	f.cassandraServer = fs.String(prefix+"cassandra.server", "", "weed-fs 0.70's Cassandra store: not supported, refused at start; the index is bolt in -dir, or -redis.server to share one namespace")
	f.cassandraKeyspace = fs.String(prefix+"cassandra.keyspace", "seaweed", "weed-fs 0.70's Cassandra keyspace: ignored (see -cassandra.server)")
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
	if *f.cassandraServer != "" {
		return nil, refuse("-cassandra.server: weed has no Cassandra store; keep the index in bolt (the default, in -dir) or share one namespace between filers with -redis.server=host:port")
	}
	if *f.redisWait < -1 || *f.redisWaitTime <= 0 {
		return nil, badUsage("-redis.waitReplicas must be -1 or more and -redis.waitTimeout positive")
	}
	if (*f.redisSentinel == "") != (*f.redisMaster == "") {
		return nil, badUsage("-redis.sentinel and -redis.masterName go together")
	}
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
		RedisSentinels:     *f.redisSentinel,
		RedisMasterName:    *f.redisMaster,
		RedisCluster:       *f.redisCluster,
		RedisWaitReplicas:  *f.redisWait,
		RedisWaitTimeout:   *f.redisWaitTime,
		RedisPassword:      *f.redisPassword,
		RedisDatabase:      *f.redisDatabase,
		MaxMB:              *f.maxMB,
		Secret:             *f.secret,
		RedirectOnRead:     *f.redirectOnRead,
		DisableDirListing:  *f.disableDirListing,
		IdleTimeout:        f.idle.idle(),
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
several filers: one Redis server (-redis.server), a master and replicas watched by
Redis Sentinel (-redis.sentinel, -redis.masterName), or a Redis Cluster
(-redis.cluster). Writes can wait for Redis replicas (-redis.waitReplicas).`,
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
			MaxMB: *maxMB, Progress: progressWriter(), Summary: os.Stderr,
		})
		if errors.Is(err, filer.ErrCopyUsage) {
			return badUsage("%s", strings.TrimPrefix(err.Error(), "filer.copy: "))
		}
		return err
	}
}

// progressWriter is where "\r" progress lines go: standard error when it is
// a terminal, nowhere otherwise (cron logs, pipes).
func progressWriter() io.Writer {
	if stderrIsTerminal() {
		return os.Stderr
	}
	return nil
}
