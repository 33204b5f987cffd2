// Command weedfsclient is a second benchmark client, for measuring only. It
// does per request what weed-fs 0.70's `weed benchmark` did, with the
// standard library's general tools:
//
//   - assign: POST /dir/assign with a url.Values form (count, replication,
//     collection), the reply read whole and decoded with encoding/json;
//   - upload: a fresh mime/multipart body in a bytes.Buffer (random
//     boundary, one part "file" with an empty file name, filled byte by
//     byte from the file's number), POST to http://<url>/<fid>, the reply
//     read whole and decoded with encoding/json;
//   - read: the volume's locations from a lookup cache (ten minutes, one
//     GET /dir/lookup per volume on a miss), a GET of http://<url>/<fid>
//     read whole with io.ReadAll;
//   - ids handed to the workers through a channel, written fids through
//     another to a goroutine that writes the list file;
//   - one http.Client with the default transport's settings
//     (MaxIdleConnsPerHost 1024, compression asked for).
//
// `weed benchmark` is built to spend as little as it can per request; this
// one spends what such a general client spends. The SeaweedFS figures in
// issue 6 were measured with a client of this kind, whose own ceiling (a
// do-nothing server) was 10,800 writes/s and 28,400 reads/s on the test
// machine: with this client, weed's figures and that ceiling can be set
// next to those (benchmark/run.sh with CLIENT=weedfs). It prints the report
// of `weed benchmark` for each phase.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weedfs/weed/benchmark"
)

// config is what the flags ask for.
type config struct {
	server, collection, replication, list string
	concurrency, n, size                  int
	write, read                           bool
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "weedfsclient:", err)
		os.Exit(1)
	}
}

// run parses args and runs the phases they ask for, printing a report of
// each to out.
func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("weedfsclient", flag.ContinueOnError)
	var c config
	fs.StringVar(&c.server, "server", "localhost:9333", "master address")
	fs.IntVar(&c.concurrency, "c", 16, "requests in flight at once")
	fs.IntVar(&c.n, "n", 1024*1024, "files to write, and reads")
	fs.IntVar(&c.size, "size", 1024, "base file size; each file gets 0 to 63 more bytes")
	fs.StringVar(&c.collection, "collection", "benchmark", "collection of every assign")
	fs.StringVar(&c.replication, "replication", "", "replication of every assign")
	fs.StringVar(&c.list, "list", filepath.Join(os.TempDir(), "benchmark_list.txt"), "file of the written fids")
	fs.BoolVar(&c.write, "write", true, "run the write phase")
	fs.BoolVar(&c.read, "read", true, "run the read phase")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.concurrency < 1 || c.n < 1 || c.size < 0 {
		return errors.New("-c and -n must be at least 1, -size at least 0")
	}
	cl := &client{config: c, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}, cache: map[int]cached{}}
	defer cl.hc.CloseIdleConnections()
	if c.write {
		if err := cl.writePhase(out); err != nil {
			return err
		}
	}
	if c.read {
		if err := cl.readPhase(out); err != nil {
			return err
		}
	}
	return nil
}

// client is one run's state.
type client struct {
	config
	hc *http.Client
	// The lookup cache: a volume's locations for ten minutes.
	cacheMu sync.RWMutex
	cache   map[int]cached
}

// tally is one worker's share of a phase.
type tally struct {
	completed, failed, transferred int64
	latencies                      []time.Duration
}

// runPhase runs work on concurrency goroutines and prints the phase report.
func (cl *client) runPhase(out io.Writer, title string, work func(t *tally)) error {
	tallies := make([]*tally, cl.concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range tallies {
		t := &tally{}
		tallies[i] = t
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(t)
		}()
	}
	wg.Wait()
	p := benchmark.PhaseReport{Title: title, Concurrency: cl.concurrency, Elapsed: time.Since(start)}
	for _, t := range tallies {
		p.Completed += t.completed
		p.Failed += t.failed
		p.Transferred += t.transferred
		p.Latencies = append(p.Latencies, t.latencies...)
	}
	return benchmark.WriteReport(out, p)
}

func (t *tally) add(start time.Time, n int64, err error) {
	t.latencies = append(t.latencies, time.Since(start))
	if err != nil {
		t.failed++
		return
	}
	t.completed++
	t.transferred += n
}

func (cl *client) writePhase(out io.Writer) error {
	f, err := os.Create(cl.list)
	if err != nil {
		return fmt.Errorf("creating the list: %w", err)
	}
	ids := make(chan int)
	go func() {
		for i := 0; i < cl.n; i++ {
			ids <- i
		}
		close(ids)
	}()
	lines := make(chan string, cl.concurrency)
	saved := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(f)
		for fid := range lines {
			w.WriteString(fid)
			w.WriteByte('\n')
		}
		err := w.Flush()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		saved <- err
	}()
	err = cl.runPhase(out, "Writing Benchmark", func(t *tally) {
		for id := range ids {
			n := cl.size + rand.Intn(64)
			start := time.Now()
			fid, err := cl.writeOne(uint64(id), n)
			t.add(start, int64(n), err)
			if err == nil {
				lines <- fid
			}
		}
	})
	close(lines)
	if serr := <-saved; serr != nil {
		return fmt.Errorf("writing the list: %w", serr)
	}
	return err
}

type assignResult struct {
	Fid       string `json:"fid"`
	URL       string `json:"url"`
	PublicURL string `json:"publicUrl"`
	Count     int    `json:"count"`
	Error     string `json:"error"`
}

type uploadResult struct {
	Name  string `json:"name"`
	Size  int    `json:"size"`
	Error string `json:"error"`
}

func (cl *client) writeOne(id uint64, n int) (string, error) {
	form := url.Values{}
	form.Add("count", "1")
	if cl.replication != "" {
		form.Add("replication", cl.replication)
	}
	if cl.collection != "" {
		form.Add("collection", cl.collection)
	}
	resp, err := cl.hc.PostForm("http://"+cl.server+"/dir/assign", form)
	if err != nil {
		return "", err
	}
	var ar assignResult
	if err := decodeReply(resp, &ar); err != nil {
		return "", fmt.Errorf("assign: %w", err)
	}
	if ar.Error != "" {
		return "", fmt.Errorf("assign: %s", ar.Error)
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", `form-data; name="file"; filename=""`)
	part, err := mw.CreatePart(h)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(part, &fakeFile{id: id, left: n}); err != nil {
		return "", err
	}
	if err := mw.Close(); err != nil {
		return "", err
	}
	resp, err = cl.hc.Post("http://"+ar.URL+"/"+ar.Fid, mw.FormDataContentType(), &body)
	if err != nil {
		return "", err
	}
	var ur uploadResult
	if err := decodeReply(resp, &ur); err != nil {
		return "", fmt.Errorf("upload %s: %w", ar.Fid, err)
	}
	if ur.Error != "" {
		return "", fmt.Errorf("upload %s: %s", ar.Fid, ur.Error)
	}
	return ar.Fid, nil
}

// decodeReply reads a JSON reply whole and decodes it into v; a status of
// 300 or more is an error.
func decodeReply(resp *http.Response, v any) error {
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, v)
}

// fakeFile is a file's content made up on the fly: the bytes of its id, one
// at a time, as weed-fs's benchmark did.
type fakeFile struct {
	id   uint64
	left int
	pos  int
}

func (f *fakeFile) Read(p []byte) (int, error) {
	if f.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), f.left)
	for i := 0; i < n; i++ {
		p[i] = byte(f.id >> (8 * uint((f.pos+i)%8)))
	}
	f.pos += n
	f.left -= n
	return n, nil
}

func (cl *client) readPhase(out io.Writer) error {
	b, err := os.ReadFile(cl.list)
	if err != nil {
		return fmt.Errorf("reading the list: %w", err)
	}
	var fids []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && l[0] != '#' {
			fids = append(fids, l)
		}
	}
	if len(fids) == 0 {
		return errors.New("the list has no fid")
	}
	picks := make(chan string)
	go func() {
		for i := 0; i < cl.n; i++ {
			picks <- fids[rand.Intn(len(fids))]
		}
		close(picks)
	}()
	return cl.runPhase(out, "Randomly Reading Benchmark", func(t *tally) {
		for fid := range picks {
			start := time.Now()
			n, err := cl.readOne(fid)
			t.add(start, n, err)
		}
	})
}

func (cl *client) readOne(fid string) (int64, error) {
	vid := strings.SplitN(fid, ",", 2)[0]
	lr, err := cl.lookup(vid)
	if err != nil {
		return 0, err
	}
	if len(lr.Locations) == 0 {
		return 0, fmt.Errorf("volume %s: no location", vid)
	}
	u := "http://" + lr.Locations[rand.Intn(len(lr.Locations))].URL + "/" + fid
	resp, err := cl.hc.Get(u)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	return int64(len(body)), nil
}

type location struct {
	URL       string `json:"url"`
	PublicURL string `json:"publicUrl"`
}

type lookupResult struct {
	VolumeID  string     `json:"volumeId"`
	Locations []location `json:"locations"`
	Error     string     `json:"error"`
}

type cached struct {
	locations []location
	expires   time.Time
}

func (cl *client) lookup(vid string) (*lookupResult, error) {
	id, err := strconv.Atoi(vid)
	if err != nil {
		return nil, fmt.Errorf("volume id %q: %w", vid, err)
	}
	cl.cacheMu.RLock()
	c, ok := cl.cache[id]
	cl.cacheMu.RUnlock()
	if ok && time.Now().Before(c.expires) {
		return &lookupResult{VolumeID: vid, Locations: c.locations}, nil
	}
	resp, err := cl.hc.Get("http://" + cl.server + "/dir/lookup?volumeId=" + url.QueryEscape(vid))
	if err != nil {
		return nil, err
	}
	var lr lookupResult
	if err := decodeReply(resp, &lr); err != nil {
		return nil, fmt.Errorf("lookup %s: %w", vid, err)
	}
	if lr.Error != "" {
		return nil, fmt.Errorf("lookup %s: %s", vid, lr.Error)
	}
	cl.cacheMu.Lock()
	cl.cache[id] = cached{locations: lr.Locations, expires: time.Now().Add(10 * time.Minute)}
	cl.cacheMu.Unlock()
	return &lr, nil
}
