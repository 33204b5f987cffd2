// Package benchmark is `weed benchmark`: a load test that writes files to a
// weed cluster through package client, then reads them back at random, and
// prints the report of weed-fs (requests per second, transfer rate,
// latency table and percentiles) for each phase. NullServer, a do-nothing
// weed, measures the ceiling of this client on a machine.
package benchmark

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/needle"
)

// Config is what `weed benchmark` is asked to do. DefaultConfig returns the
// command's defaults.
type Config struct {
	// Server is the master address ("host:port", or a comma list).
	Server string
	// Concurrency is how many requests are in flight at once (-c).
	Concurrency int
	// N is the number of files written, and of reads (-n).
	N int
	// Size is the base file size in bytes; each file gets 0 to 63 random
	// extra bytes (-size).
	Size int
	// Collection and Replication are used for every assign.
	Collection, Replication string
	// ListFile receives the written fids, one per line, and is where the
	// read phase takes them from (-list).
	ListFile string
	// Write and Read select the phases (-write, -read).
	Write, Read bool
	// DeletePercent is the chance, in percent, that a write is followed by
	// the delete of a file written earlier by the same worker
	// (-deletePercent). Deleted fids are left out of ListFile.
	DeletePercent int
	// ReadSequentially makes the read phase read the listed fids in list
	// order (wrapping around) instead of at random (-readSequentially).
	ReadSequentially bool
	// Secret is the cluster's -secure.secret: writes and deletes whose
	// assign carries no token are signed with it.
	Secret string
	// Progress, when not nil, receives a progress line about once a second,
	// rewritten in place with '\r' (the command passes os.Stderr).
	Progress io.Writer
	// HTTPClient, when not nil, replaces the keep-alive client sized for
	// Concurrency that Run builds.
	HTTPClient *http.Client
}

// DefaultConfig returns the defaults of `weed benchmark`.
func DefaultConfig() Config {
	return Config{
		Server:      "localhost:9333",
		Concurrency: 16,
		N:           1024 * 1024,
		Size:        1024,
		Collection:  "benchmark",
		ListFile:    filepath.Join(os.TempDir(), "benchmark_list.txt"),
		Write:       true,
		Read:        true,
	}
}

func (cfg Config) validate() error {
	switch {
	case cfg.Server == "":
		return errors.New("benchmark: no master address")
	case cfg.Concurrency < 1:
		return fmt.Errorf("benchmark: concurrency %d must be at least 1", cfg.Concurrency)
	case cfg.N < 1:
		return fmt.Errorf("benchmark: n %d must be at least 1", cfg.N)
	case cfg.Size < 0:
		return fmt.Errorf("benchmark: size %d is negative", cfg.Size)
	case cfg.DeletePercent < 0 || cfg.DeletePercent > 100:
		return fmt.Errorf("benchmark: deletePercent %d is not within 0..100", cfg.DeletePercent)
	case cfg.ListFile == "":
		return errors.New("benchmark: no list file")
	case !cfg.Write && !cfg.Read:
		return errors.New("benchmark: neither -write nor -read")
	}
	return nil
}

// NewHTTPClient returns the HTTP client Run uses by default: keep-alive
// connections, enough idle ones per host for concurrency workers, no
// compression, no proxy.
func NewHTTPClient(concurrency int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   2*concurrency + 2,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		DisableCompression:    true,
	}}
}

// Run runs the phases cfg asks for and writes each phase's report to out.
// Failed requests are counted, never fatal. When ctx is cancelled, the
// running phase stops promptly, its report (of what was done) is printed,
// the fids written so far are saved, and Run returns an error matching
// ctx.Err().
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = NewHTTPClient(cfg.Concurrency)
		defer hc.CloseIdleConnections()
	}
	cl, err := client.New(cfg.Server, client.WithHTTPClient(hc), client.WithSecret(cfg.Secret))
	if err != nil {
		return fmt.Errorf("benchmark: %w", err)
	}
	b := &bench{cfg: cfg, cl: cl, hc: hc}
	if cfg.Write {
		rep, fids := b.writePhase(ctx)
		if err := rep.write(out); err != nil {
			return fmt.Errorf("benchmark: printing the report: %w", err)
		}
		if err := writeList(cfg.ListFile, fids); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("benchmark: stopped: %w", ctx.Err())
		}
	}
	if cfg.Read {
		fids, err := readList(cfg.ListFile)
		if err != nil {
			return err
		}
		rep := b.readPhase(ctx, fids)
		if err := rep.write(out); err != nil {
			return fmt.Errorf("benchmark: printing the report: %w", err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("benchmark: stopped: %w", ctx.Err())
		}
	}
	return nil
}

type bench struct {
	cfg Config
	cl  *client.Client
	hc  *http.Client
}

// phase holds the live counters of a running phase; workers add to them
// without locks, and keep their latencies in their own slices.
type phase struct {
	completed, failed, transferred atomic.Int64
	total                          int64
}

// worker is one of the Concurrency request loops of a phase.
type worker struct {
	rng       *rand.Rand
	latencies []time.Duration
	buf       []byte
	fids      []string
	body      bytes.Reader
}

func (b *bench) newWorkers(seed uint64, bufSize int) []*worker {
	ws := make([]*worker, b.cfg.Concurrency)
	for i := range ws {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		buf := make([]byte, bufSize)
		for j := 0; j+8 <= len(buf); j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8; k++ {
				buf[j+k] = byte(v >> (8 * k))
			}
		}
		ws[i] = &worker{rng: rng, buf: buf, latencies: make([]time.Duration, 0, b.cfg.N/b.cfg.Concurrency+16)}
	}
	return ws
}

// run starts the workers, each calling op until it returns false, shows
// progress, and returns the phase's report.
func (b *bench) run(ctx context.Context, title string, ws []*worker, ph *phase, op func(*worker) bool) *report {
	start := time.Now()
	stopProgress := b.showProgress(ph, start)
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && op(w) {
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	rep := &report{
		title:       title,
		concurrency: b.cfg.Concurrency,
		elapsed:     elapsed,
		completed:   ph.completed.Load(),
		failed:      ph.failed.Load(),
		transferred: ph.transferred.Load(),
	}
	for _, w := range ws {
		rep.latencies = append(rep.latencies, w.latencies...)
	}
	return rep
}

// writePhase writes N files; it returns its report and the fids of the
// files written and not deleted.
func (b *bench) writePhase(ctx context.Context) (*report, []string) {
	const window = 4096
	ws := b.newWorkers(uint64(time.Now().UnixNano()), b.cfg.Size+64+window)
	ph := &phase{total: int64(b.cfg.N)}
	var next atomic.Int64
	n := int64(b.cfg.N)
	assign := client.AssignRequest{Count: 1, Collection: b.cfg.Collection, Replication: b.cfg.Replication}
	rep := b.run(ctx, "Writing Benchmark", ws, ph, func(w *worker) bool {
		if next.Add(1) > n {
			return false
		}
		size := b.cfg.Size + w.rng.IntN(64)
		off := w.rng.IntN(window)
		start := time.Now()
		fid, err := b.writeOne(ctx, w, assign, w.buf[off:off+size])
		if !b.record(ctx, w, ph, start, int64(size), err) {
			return false
		}
		if err == nil {
			w.fids = append(w.fids, fid)
		}
		if b.cfg.DeletePercent > 0 && len(w.fids) > 0 && w.rng.IntN(100) < b.cfg.DeletePercent {
			i := w.rng.IntN(len(w.fids))
			victim := w.fids[i]
			w.fids[i] = w.fids[len(w.fids)-1]
			w.fids = w.fids[:len(w.fids)-1]
			start := time.Now()
			_, err := b.cl.Delete(ctx, victim)
			if !b.record(ctx, w, ph, start, 0, err) {
				// Cut short by cancellation: whether it is gone is
				// unknown, so it stays out of the list.
				return false
			}
			if err != nil {
				w.fids = append(w.fids, victim)
			}
		}
		return true
	})
	var fids []string
	for _, w := range ws {
		fids = append(fids, w.fids...)
	}
	return rep, fids
}

func (b *bench) writeOne(ctx context.Context, w *worker, ar client.AssignRequest, data []byte) (string, error) {
	a, err := b.cl.Assign(ctx, ar)
	if err != nil {
		return "", err
	}
	w.body.Reset(data)
	_, err = b.cl.Upload(ctx, a.URL, a.Fid, client.UploadRequest{
		Filename: "benchmark", MimeType: "application/octet-stream", Body: &w.body, Size: int64(len(data)),
		JWT: a.JWT,
	})
	if err != nil {
		return "", err
	}
	return a.Fid, nil
}

// record counts one finished request. A request cut short by the
// cancellation of ctx is not counted, and record returns false.
func (b *bench) record(ctx context.Context, w *worker, ph *phase, start time.Time, size int64, err error) bool {
	d := time.Since(start)
	if err != nil && ctx.Err() != nil {
		return false
	}
	w.latencies = append(w.latencies, d)
	if err != nil {
		ph.failed.Add(1)
		glog.V(2).Infof("benchmark: %v", err)
		return true
	}
	ph.completed.Add(1)
	ph.transferred.Add(size)
	return true
}

type listedFid struct {
	fid string
	vid needle.VolumeID
}

// readPhase reads N files picked at random among fids, or taken in list
// order with ReadSequentially.
func (b *bench) readPhase(ctx context.Context, fids []listedFid) *report {
	ws := b.newWorkers(uint64(time.Now().UnixNano())+1, 32<<10)
	ph := &phase{total: int64(b.cfg.N)}
	var next atomic.Int64
	n := int64(b.cfg.N)
	title := "Randomly Reading Benchmark"
	if b.cfg.ReadSequentially {
		title = "Sequentially Reading Benchmark"
	}
	return b.run(ctx, title, ws, ph, func(w *worker) bool {
		i := next.Add(1)
		if i > n {
			return false
		}
		f := fids[w.rng.IntN(len(fids))]
		if b.cfg.ReadSequentially {
			f = fids[(i-1)%int64(len(fids))]
		}
		start := time.Now()
		got, err := b.readOne(ctx, w, f)
		return b.record(ctx, w, ph, start, got, err)
	})
}

// readOne GETs one file from one of its volume's servers (cached lookup)
// and checks that the whole body arrived.
func (b *bench) readOne(ctx context.Context, w *worker, f listedFid) (int64, error) {
	locs, err := b.cl.Lookup(ctx, f.vid)
	if err != nil {
		return 0, err
	}
	loc := locs[0]
	if len(locs) > 1 {
		loc = locs[w.rng.IntN(len(locs))]
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+loc.URL+"/"+f.fid, nil)
	if err != nil {
		return 0, err
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.cl.Invalidate(f.vid)
		return 0, err
	}
	defer resp.Body.Close()
	var got int64
	for {
		k, rerr := resp.Body.Read(w.buf)
		got += int64(k)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return got, rerr
		}
	}
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode >= 500 {
			b.cl.Invalidate(f.vid)
		}
		return got, fmt.Errorf("GET %s: status %d", f.fid, resp.StatusCode)
	}
	if resp.ContentLength >= 0 && got != resp.ContentLength {
		return got, fmt.Errorf("GET %s: %d of %d bytes", f.fid, got, resp.ContentLength)
	}
	return got, nil
}

// showProgress rewrites a progress line about once a second until the
// returned function is called, which prints the final line.
func (b *bench) showProgress(ph *phase, start time.Time) (stop func()) {
	if b.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	show := func() {
		c, f, t := ph.completed.Load(), ph.failed.Load(), ph.transferred.Load()
		secs := time.Since(start).Seconds()
		pct := 100 * float64(c+f) / float64(ph.total)
		fmt.Fprintf(b.cfg.Progress, "\rCompleted %d of %d requests, %.1f%%, %d failed, %.1f/s %.2fMB/s   ",
			c, ph.total, pct, f, float64(c)/secs, float64(t)/secs/(1<<20))
	}
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				show()
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		show()
		fmt.Fprintln(b.cfg.Progress)
	}
}

// writeList saves fids, one per line.
func writeList(path string, fids []string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("benchmark: list file: %w", err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	for _, fid := range fids {
		bw.WriteString(fid)
		bw.WriteByte('\n')
	}
	err = bw.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("benchmark: list file: %w", err)
	}
	return nil
}

// readList loads the fids of a list file, skipping blank lines; a line that
// is not a fid is an error.
func readList(path string) ([]listedFid, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("benchmark: list file: %w", err)
	}
	defer f.Close()
	var out []listedFid
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		id, err := needle.ParseFileID(s)
		if err != nil {
			return nil, fmt.Errorf("benchmark: %s:%d: %w", path, line, err)
		}
		out = append(out, listedFid{fid: s, vid: id.Volume})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("benchmark: list file: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("benchmark: no fids to read in %s", path)
	}
	return out, nil
}
