package benchmark

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
)

// nullChildEnv makes the test binary serve a NullServer instead of running
// tests: the benchmarks run the server in a process of its own, so that
// allocs/op and req/s are the benchmark client's alone.
const nullChildEnv = "WEED_BENCHMARK_NULLSERVER_CHILD"

func TestMain(m *testing.M) {
	if size := os.Getenv(nullChildEnv); size != "" {
		serveNullChild(size)
		return
	}
	os.Exit(m.Run())
}

// serveNullChild serves a NullServer on 127.0.0.1, prints its address, and
// exits when its standard input is closed.
func serveNullChild(size string) {
	n, err := strconv.Atoi(size)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	srv := &http.Server{Handler: &NullServer{Size: n}}
	go func() { _ = srv.Serve(l) }()
	fmt.Println(l.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
	os.Exit(0)
}

// startNullProcess runs a NullServer in a child process for the duration
// of b and returns its address.
func startNullProcess(b *testing.B, size int) string {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), nullChildEnv+"="+strconv.Itoa(size))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("null server child: %v", err)
	}
	return strings.TrimSpace(line)
}

func ceilingConfig(b *testing.B, addr string) Config {
	cfg := DefaultConfig()
	cfg.Server = addr
	cfg.Concurrency = 16
	cfg.Size = 1024
	cfg.N = b.N
	cfg.ListFile = filepath.Join(b.TempDir(), "list.txt")
	return cfg
}

// BenchmarkCeilingWrite runs the write phase (assign + upload of 1 KiB, 16
// at a time) against a NullServer in another process: the most writes per
// second this client can do on the machine. One op is one file written.
func BenchmarkCeilingWrite(b *testing.B) {
	addr := startNullProcess(b, 1024)
	cfg := ceilingConfig(b, addr)
	cfg.Read = false
	b.ReportAllocs()
	b.ResetTimer()
	if err := Run(context.Background(), cfg, io.Discard); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkCeilingRead runs the read phase (random GETs of 1 KiB through
// the cached lookup, 16 at a time) against a NullServer in another
// process. One op is one file read.
func BenchmarkCeilingRead(b *testing.B) {
	addr := startNullProcess(b, 1024)
	cfg := ceilingConfig(b, addr)
	cfg.Write = false
	f, err := os.Create(cfg.ListFile)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := 1; i <= 10000; i++ {
		fmt.Fprintf(w, "%d,%s\n", i%7+1, needle.FormatKeyCookie(needle.Key(i), 0x2c4a5e6f))
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.ReportAllocs()
	b.ResetTimer()
	if err := Run(context.Background(), cfg, io.Discard); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

// BenchmarkReport measures the end-of-phase statistics over one million
// latencies.
func BenchmarkReport(b *testing.B) {
	lat := make([]int64, 1<<20)
	for i := range lat {
		lat[i] = int64(i*7919) % 50_000_000
	}
	r := &report{title: "Writing Benchmark", concurrency: 16}
	b.ReportAllocs()
	for b.Loop() {
		r.latencies = r.latencies[:0]
		for _, v := range lat {
			r.latencies = append(r.latencies, time.Duration(v))
		}
		if err := r.write(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
