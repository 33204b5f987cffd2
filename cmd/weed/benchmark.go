package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/golang/glog"

	"github.com/weedfs/weed/benchmark"
	"github.com/weedfs/weed/internal/version"
)

func init() {
	def := benchmark.DefaultConfig()
	c := register(&command{
		name:  "benchmark",
		short: "load test a cluster: concurrent writes, then random reads",
		long: `Benchmark a weed cluster: -n writes of -size bytes (plus 0-63 random bytes),
-c at a time, each an assign plus an upload; the fids go to -list; then -n random
reads of those fids. Prints the report of each phase; Ctrl-C prints what was done.`,
	})
	fs := c.flags
	server := fs.String("server", "localhost:9333", "master address (or a comma list of masters)")
	conc := fs.Int("c", def.Concurrency, "number of concurrent requests")
	n := fs.Int("n", def.N, "number of files to write and of reads")
	size := fs.Int("size", def.Size, "base file size in bytes")
	collection := fs.String("collection", def.Collection, "collection of the written files")
	replication := fs.String("replication", "", "replication of the written files (empty: the master's default)")
	list := fs.String("list", filepath.Join(os.TempDir(), "benchmark_list.txt"), "file that receives the written fids and feeds the reads")
	write := fs.Bool("write", true, "run the write phase")
	read := fs.Bool("read", true, "run the read phase")
	deletePercent := fs.Int("deletePercent", 0, "percent of writes followed by a delete of an earlier file")
	fs.StringVar(server, "master", "localhost:9333", "the same as -server")
	sequential := fs.Bool("readSequentially", false, "read the fids in -list order instead of at random")
	secret := fs.String("secure.secret", "", "the cluster's -secure.secret: sign the writes and deletes whose assign carries no token with it")
	fs.StringVar(cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (as the global -cpuprofile)")
	fs.Bool("debug", false, "verbose logging on standard error (glog -v=4)")
	var rt runtimeFlags
	rt.define(fs)
	c.run = func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return badUsage("unexpected arguments %q", args)
		}
		if err := rt.apply(); err != nil {
			return err
		}
		fmt.Printf("This is weed version %s %s %s\n\n", version.Version, runtime.GOOS, runtime.GOARCH)
		cfg := benchmark.Config{
			Server: *server, Concurrency: *conc, N: *n, Size: *size,
			Collection: *collection, Replication: *replication, ListFile: *list,
			Write: *write, Read: *read, DeletePercent: *deletePercent,
			ReadSequentially: *sequential, Secret: *secret,
			Progress: os.Stderr,
		}
		err := benchmark.Run(ctx, cfg, os.Stdout)
		if errors.Is(err, context.Canceled) {
			return nil // interrupted: the report of what was done is printed
		}
		return err
	}
}

func init() {
	c := register(&command{
		name:   "nullserver",
		server: true,
		hidden: true, // a benchmarking aid (benchmark/run.sh), not a user command
		short:  "a do-nothing weed (master and volume in one), to measure the benchmark client's ceiling",
		long: `Serve a do-nothing weed: assigns, lookups, uploads, reads and deletes are answered
without storing anything. "weed benchmark -server=localhost:<port>" against it measures
the ceiling of the benchmark client on this machine; see docs/performance.md.
With -volumes it is a do-nothing master that sends clients to the do-nothing
volume servers listed (nullservers on other ports): the three processes measure
what splitting a store into a master and volume servers costs by itself.`,
	})
	port := c.flags.Int("port", 9333, "http listen port")
	size := c.flags.Int("size", 1024, "bytes returned by every read")
	volumes := c.flags.String("volumes", "", "act as a do-nothing master whose assigns and lookups name these do-nothing volume servers (comma list of host:port)")
	c.run = func(ctx context.Context, args []string) error {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(*port))
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: &benchmark.NullServer{Size: *size, Volumes: splitList(*volumes)}}
		go func() {
			<-ctx.Done()
			_ = srv.Close()
		}()
		glog.Infof("Start weed null server at %s", ln.Addr())
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
