package benchmark

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
)

// phaseReport is a printed phase report read back.
type phaseReport struct {
	title                          string
	concurrency                    int
	completed, failed, transferred int64
	rps                            float64
	percentiles                    int
}

var (
	titleRe = regexp.MustCompile(`^------------ (.+) ----------$`)
	fieldRe = regexp.MustCompile(`^([A-Za-z ]+):\s+([0-9.]+)`)
	tableRe = regexp.MustCompile(`^Total:\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+$`)
	pctRe   = regexp.MustCompile(`^\s+(\d+)%\s+[0-9.]+ ms$`)
)

// parseReports reads the phase reports printed by Run, failing the test on
// anything out of shape.
func parseReports(t *testing.T, out string) []phaseReport {
	t.Helper()
	var reps []phaseReport
	var cur *phaseReport
	tables := 0
	for _, line := range strings.Split(out, "\n") {
		if m := titleRe.FindStringSubmatch(line); m != nil {
			reps = append(reps, phaseReport{title: m[1]})
			cur = &reps[len(reps)-1]
			continue
		}
		if line == "" || cur == nil {
			continue
		}
		switch {
		case tableRe.MatchString(line):
			tables++
		case pctRe.MatchString(line):
			cur.percentiles++
		case fieldRe.MatchString(line):
			m := fieldRe.FindStringSubmatch(line)
			v, _ := strconv.ParseFloat(m[2], 64)
			switch m[1] {
			case "Concurrency Level":
				cur.concurrency = int(v)
			case "Complete requests":
				cur.completed = int64(v)
			case "Failed requests":
				cur.failed = int64(v)
			case "Total transferred":
				cur.transferred = int64(v)
			case "Requests per second":
				cur.rps = v
			}
		}
	}
	if tables != len(reps) {
		t.Fatalf("%d latency tables for %d phases in:\n%s", tables, len(reps), out)
	}
	for _, r := range reps {
		if r.percentiles != len(percentiles) {
			t.Fatalf("phase %q has %d percentile rows in:\n%s", r.title, r.percentiles, out)
		}
	}
	return reps
}

// readLines returns the lines of a list file.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}

func startNull(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

func testConfig(t *testing.T, server string, n int) Config {
	cfg := DefaultConfig()
	cfg.Server = server
	cfg.Concurrency = 8
	cfg.N = n
	cfg.ListFile = filepath.Join(t.TempDir(), "list.txt")
	return cfg
}

func TestRunAgainstNullServer(t *testing.T) {
	const n = 2000
	addr := startNull(t, &NullServer{Size: 1024})
	cfg := testConfig(t, addr, n)
	var progress syncBuffer
	cfg.Progress = &progress
	var out bytes.Buffer
	if err := Run(context.Background(), cfg, &out); err != nil {
		t.Fatal(err)
	}
	reps := parseReports(t, out.String())
	if len(reps) != 2 || reps[0].title != "Writing Benchmark" || reps[1].title != "Randomly Reading Benchmark" {
		t.Fatalf("phases %+v", reps)
	}
	for _, r := range reps {
		if r.concurrency != 8 || r.completed != n || r.failed != 0 || r.rps <= 0 {
			t.Fatalf("phase %+v", r)
		}
	}
	if w := reps[0].transferred; w < n*1024 || w > n*(1024+63) {
		t.Fatalf("wrote %d bytes for %d files of 1024..1087 bytes", w, n)
	}
	if reps[1].transferred != n*1024 {
		t.Fatalf("read %d bytes, want %d", reps[1].transferred, n*1024)
	}
	fids := readLines(t, cfg.ListFile)
	seen := map[string]bool{}
	for _, f := range fids {
		if _, err := needle.ParseFileID(f); err != nil || seen[f] {
			t.Fatalf("list line %q: %v, duplicate %v", f, err, seen[f])
		}
		seen[f] = true
	}
	if len(fids) != n {
		t.Fatalf("list has %d fids, want %d", len(fids), n)
	}
	if p := progress.String(); !strings.Contains(p, "\rCompleted 2000 of 2000 requests, 100.0%, 0 failed") {
		t.Fatalf("progress output %q", p)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestFailuresAreCountedNotFatal(t *testing.T) {
	const n = 1000
	null := &NullServer{}
	var uploads, reads atomic.Int64
	addr := startNull(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/1,"):
			if uploads.Add(1)%10 == 0 {
				http.Error(w, `{"error":"disk full"}`, http.StatusInternalServerError)
				return
			}
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/1,"):
			if reads.Add(1)%5 == 0 {
				// A short body: the connection closes before
				// Content-Length bytes were sent.
				w.Header().Set("Content-Length", "1024")
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(make([]byte, 10))
				return
			}
		}
		null.ServeHTTP(w, r)
	}))
	cfg := testConfig(t, addr, n)
	var out bytes.Buffer
	if err := Run(context.Background(), cfg, &out); err != nil {
		t.Fatal(err)
	}
	reps := parseReports(t, out.String())
	if len(reps) != 2 {
		t.Fatalf("phases %+v", reps)
	}
	if w := reps[0]; w.failed != n/10 || w.completed != n-n/10 {
		t.Fatalf("write phase %+v, want %d failed", w, n/10)
	}
	if r := reps[1]; r.failed != n/5 || r.completed != n-n/5 {
		t.Fatalf("read phase %+v, want %d short reads failed", r, n/5)
	}
	if got := len(readLines(t, cfg.ListFile)); got != n-n/10 {
		t.Fatalf("list has %d fids, want %d", got, n-n/10)
	}
}

func TestCancelPrintsPartialReport(t *testing.T) {
	const n = 100000
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	null := &NullServer{}
	var uploads atomic.Int64
	addr := startNull(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && uploads.Add(1) == 300 {
			cancel()
		}
		null.ServeHTTP(w, r)
	}))
	cfg := testConfig(t, addr, n)
	var out bytes.Buffer
	err := Run(ctx, cfg, &out)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	reps := parseReports(t, out.String())
	if len(reps) != 1 || reps[0].title != "Writing Benchmark" {
		t.Fatalf("phases %+v", reps)
	}
	w := reps[0]
	if w.completed < 250 || w.completed >= n || w.failed != 0 {
		t.Fatalf("cancelled write phase %+v", w)
	}
	if got := int64(len(readLines(t, cfg.ListFile))); got != w.completed {
		t.Fatalf("list has %d fids, report says %d written", got, w.completed)
	}
}

func TestReadOnlyUsesExistingList(t *testing.T) {
	addr := startNull(t, &NullServer{Size: 100})
	cfg := testConfig(t, addr, 500)
	var list strings.Builder
	for i := 1; i <= 50; i++ {
		fmt.Fprintf(&list, "%d,%s\n", i%3+1, needle.FormatKeyCookie(needle.Key(i), 0x12345678))
	}
	if err := os.WriteFile(cfg.ListFile, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Write = false
	var out bytes.Buffer
	if err := Run(context.Background(), cfg, &out); err != nil {
		t.Fatal(err)
	}
	reps := parseReports(t, out.String())
	if len(reps) != 1 || reps[0].title != "Randomly Reading Benchmark" || reps[0].completed != 500 || reps[0].transferred != 500*100 {
		t.Fatalf("phases %+v", reps)
	}

	if err := os.WriteFile(cfg.ListFile, []byte("not a fid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Run(context.Background(), cfg, &out); !errors.Is(err, needle.ErrBadFileID) {
		t.Fatalf("bad list: err = %v", err)
	}
}

func TestDeletePercentMixesDeletes(t *testing.T) {
	const n = 1000
	null := &NullServer{}
	var deletes atomic.Int64
	addr := startNull(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			deletes.Add(1)
		}
		null.ServeHTTP(w, r)
	}))
	cfg := testConfig(t, addr, n)
	cfg.Read = false
	cfg.DeletePercent = 30
	var out bytes.Buffer
	if err := Run(context.Background(), cfg, &out); err != nil {
		t.Fatal(err)
	}
	d := deletes.Load()
	if d == 0 || d >= n {
		t.Fatalf("%d deletes for %d writes at 30%%", d, n)
	}
	reps := parseReports(t, out.String())
	if reps[0].completed != n+d || reps[0].failed != 0 {
		t.Fatalf("write phase %+v with %d deletes", reps[0], d)
	}
	if got := int64(len(readLines(t, cfg.ListFile))); got != n-d {
		t.Fatalf("list has %d fids, want %d written minus %d deleted", got, n, d)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, mod := range []func(*Config){
		func(c *Config) { c.Server = "" },
		func(c *Config) { c.Concurrency = 0 },
		func(c *Config) { c.N = 0 },
		func(c *Config) { c.Size = -1 },
		func(c *Config) { c.DeletePercent = 101 },
		func(c *Config) { c.ListFile = "" },
		func(c *Config) { c.Write, c.Read = false, false },
	} {
		cfg := DefaultConfig()
		mod(&cfg)
		if err := Run(context.Background(), cfg, &bytes.Buffer{}); err == nil {
			t.Fatalf("config %+v accepted", cfg)
		}
	}
}

func TestReportShape(t *testing.T) {
	r := &report{
		title: "Writing Benchmark", concurrency: 16, elapsed: 2 * time.Second,
		completed: 4, failed: 1, transferred: 4096,
	}
	for _, ms := range []float64{4, 1, 3, 2, 10} {
		r.latencies = append(r.latencies, time.Duration(ms*float64(time.Millisecond)))
	}
	var out bytes.Buffer
	if err := r.write(&out); err != nil {
		t.Fatal(err)
	}
	want := `
------------ Writing Benchmark ----------
Concurrency Level:      16
Time taken for tests:   2.000 seconds
Complete requests:      4
Failed requests:        1
Total transferred:      4096 bytes
Requests per second:    2.00 [#/sec]
Transfer rate:          2.00 [Kbytes/sec]

Connection Times (ms)
              min      avg        max      std
Total:        1.0      4.0       10.0      3.2

Percentage of the requests served within a certain time (ms)
   50%      3.0 ms
   66%      4.0 ms
   75%      4.0 ms
   80%      4.0 ms
   90%     10.0 ms
   95%     10.0 ms
   98%     10.0 ms
   99%     10.0 ms
  100%     10.0 ms
`
	if out.String() != want {
		t.Fatalf("report:\n%s\nwant:\n%s", out.String(), want)
	}
	empty := &report{title: "Randomly Reading Benchmark"}
	out.Reset()
	if err := empty.write(&out); err != nil {
		t.Fatal(err)
	}
	if len(parseReports(t, out.String())) != 1 {
		t.Fatal("an empty phase prints no report")
	}
}

func TestNullServer(t *testing.T) {
	addr := startNull(t, &NullServer{Size: 10})
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	_, a1 := get("/dir/assign?count=5")
	_, a2 := get("/dir/assign")
	re := regexp.MustCompile(`^\{"fid":"(1,[0-9a-f]+)","url":"` + regexp.QuoteMeta(addr) + `","publicUrl":"` + regexp.QuoteMeta(addr) + `","count":(\d+)\}$`)
	m1, m2 := re.FindStringSubmatch(a1), re.FindStringSubmatch(a2)
	if m1 == nil || m2 == nil || m1[2] != "5" || m2[2] != "1" {
		t.Fatalf("assign replies %s / %s", a1, a2)
	}
	f1, _ := needle.ParseFileID(m1[1])
	f2, _ := needle.ParseFileID(m2[1])
	if f2.Key != f1.Key+5 {
		t.Fatalf("keys %d then %d, want +5", f1.Key, f2.Key)
	}
	if code, body := get("/dir/lookup?volumeId=7"); code != 200 || !strings.Contains(body, `"url":"`+addr+`"`) {
		t.Fatalf("lookup %d %s", code, body)
	}
	if code, body := get("/" + m1[1]); code != 200 || len(body) != 10 {
		t.Fatalf("read %d %q", code, body)
	}
	if code, _ := get("/nonsense"); code != 400 {
		t.Fatalf("bad path answered %d", code)
	}
	resp, err := http.Post("http://"+addr+"/"+m1[1], "application/octet-stream", strings.NewReader("12345"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Scan()
	resp.Body.Close()
	if resp.StatusCode != 201 || sc.Text() != `{"name":"","size":5}` {
		t.Fatalf("upload %d %s", resp.StatusCode, sc.Text())
	}
	req, _ := http.NewRequest(http.MethodDelete, "http://"+addr+"/"+m1[1], nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete %d", resp.StatusCode)
	}
}

// TestNullCluster runs the benchmark against a NullServer master sending
// clients to two NullServer volume servers: the writes and reads are spread
// over both, and none reaches the master.
func TestNullCluster(t *testing.T) {
	var hits [2]atomic.Int64
	var vols []string
	for i := range hits {
		null := &NullServer{Size: 100}
		vols = append(vols, startNull(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			null.ServeHTTP(w, r)
		})))
	}
	master := &NullServer{Volumes: vols}
	var masterFiles atomic.Int64
	addr := startNull(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/dir/") {
			masterFiles.Add(1)
		}
		master.ServeHTTP(w, r)
	}))
	const n = 400
	cfg := testConfig(t, addr, n)
	var out bytes.Buffer
	if err := Run(context.Background(), cfg, &out); err != nil {
		t.Fatal(err)
	}
	for _, r := range parseReports(t, out.String()) {
		if r.completed != n || r.failed != 0 {
			t.Fatalf("phase %+v", r)
		}
	}
	if masterFiles.Load() != 0 || hits[0].Load() < n/2 || hits[1].Load() < n/2 || hits[0].Load()+hits[1].Load() != 2*n {
		t.Fatalf("master got %d file requests, volume servers %d and %d", masterFiles.Load(), hits[0].Load(), hits[1].Load())
	}
}
