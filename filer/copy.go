package filer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/glog"
	"golang.org/x/sync/errgroup"

	"github.com/weedfs/weed/client"
)

// DefaultCopyConcurrency is how many files Copy sends at once when
// CopyOptions.Concurrency is 0.
const DefaultCopyConcurrency = 8

// ErrCopyUsage means Copy refused its arguments before sending anything:
// a destination that is not an http(s) URL of a filer directory ending in
// "/", or a malformed include pattern. Commands report it as a usage error.
var ErrCopyUsage = errors.New("filer.copy: bad arguments")

// progressInterval is the least time between two progress lines written
// while bytes flow (a line is also written after every file).
const progressInterval = 200 * time.Millisecond

// CopyOptions configures Copy (`weed filer.copy`).
type CopyOptions struct {
	// Include, when set, is a glob (filepath.Match syntax) the base names
	// of files found in directory trees must match. Files named on the
	// command line are always copied.
	Include string
	// Concurrency is how many files are sent at once (0 means
	// DefaultCopyConcurrency).
	Concurrency int
	// Replication, Collection and TTL are passed to the filer with every
	// file (empty: the filer's defaults).
	Replication, Collection, TTL string
	// MaxMB, when positive, asks the filer for chunks of at most MaxMB.
	MaxMB int
	// Progress, when set, receives a progress line ("\r" files done/total,
	// bytes) as the copy goes and a summary at the end.
	Progress io.Writer
	// Summary, when set and Progress is not, receives the summary line
	// alone (a copy whose output is a log, not a terminal).
	Summary io.Writer
	// HTTPClient sends the requests; nil means a client on a clone of
	// http.DefaultTransport. Bound the copy with ctx.
	HTTPClient *http.Client
}

// copyJob is one local file and the filer path it goes to.
type copyJob struct {
	local  string
	remote string
	size   int64
}

// Copy copies local files and directory trees into a filer: sources are
// paths of files or directories, dest an http URL of a filer directory
// ending in "/" (http://filer:8888/path/). A file goes to dest plus its
// base name; a directory keeps its tree under dest plus its own name
// (copying ./a to http://f/x/ puts a/b/c.txt at /x/a/b/c.txt). Each file
// is one PUT to the filer, Concurrency at a time. Copy goes on after a
// failed file and returns, once every file has been tried, an error
// naming how many failed and wrapping the first failure.
func Copy(ctx context.Context, sources []string, dest string, opts CopyOptions) error {
	base, err := copyDest(dest)
	if err != nil {
		return err
	}
	if opts.Include != "" {
		if _, err := filepath.Match(opts.Include, ""); err != nil {
			return fmt.Errorf("%w: include pattern %q: %w", ErrCopyUsage, opts.Include, err)
		}
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultCopyConcurrency
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		defer hc.CloseIdleConnections()
	}
	jobs, failures := collectJobs(sources, base.Path, opts.Include)
	c := &copier{hc: hc, base: base, opts: opts, started: time.Now(), files: len(jobs) + len(failures)}
	for _, j := range jobs {
		c.totalBytes += j.size
	}
	for _, err := range failures {
		c.fail(err)
	}
	var g errgroup.Group
	g.SetLimit(opts.Concurrency)
	for _, j := range jobs {
		if ctx.Err() != nil {
			c.fail(fmt.Errorf("filer.copy: %s: %w", j.local, ctx.Err()))
			continue
		}
		g.Go(func() error {
			if err := c.copyFile(ctx, j); err != nil {
				c.fail(err)
				return nil
			}
			c.done.Add(1)
			c.progress(true)
			return nil
		})
	}
	_ = g.Wait()
	return c.finish(dest)
}

// copyDest checks that dest is an http(s) URL of a directory (a path
// ending in "/", which CleanPath accepts) and returns it parsed.
func copyDest(dest string) (*url.URL, error) {
	u, err := url.Parse(dest)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrCopyUsage, dest, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q is not an http URL like http://localhost:8888/path/", ErrCopyUsage, dest)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	clean, isDir, err := CleanPath(u.Path)
	if err != nil || !isDir {
		return nil, fmt.Errorf("%w: %q must name a directory, ending in \"/\"", ErrCopyUsage, dest)
	}
	u.Path = clean
	u.RawPath = ""
	u.RawQuery = ""
	u.Fragment = ""
	return u, nil
}

// collectJobs lists the files to copy: each source file, and every file of
// each source tree whose base name matches include. Sources that cannot
// be read, and files whose filer path would be refused, come back as
// failures.
func collectJobs(sources []string, destDir, include string) ([]copyJob, []error) {
	var jobs []copyJob
	var failures []error
	add := func(local, rel string) {
		remote := JoinPath(destDir, rel)
		if _, _, err := CleanPath(remote); err != nil {
			failures = append(failures, fmt.Errorf("filer.copy: %s: %w", local, err))
			return
		}
		fi, err := os.Stat(local)
		if err != nil {
			failures = append(failures, fmt.Errorf("filer.copy: %w", err))
			return
		}
		jobs = append(jobs, copyJob{local: local, remote: remote, size: fi.Size()})
	}
	for _, src := range sources {
		fi, err := os.Stat(src)
		if err != nil {
			failures = append(failures, fmt.Errorf("filer.copy: %w", err))
			continue
		}
		abs, err := filepath.Abs(src)
		if err != nil {
			failures = append(failures, fmt.Errorf("filer.copy: %w", err))
			continue
		}
		name := filepath.Base(abs)
		if !fi.IsDir() {
			add(src, name)
			continue
		}
		files, err := client.WalkFiles(src, include)
		if err != nil {
			failures = append(failures, fmt.Errorf("filer.copy: %w", err))
			continue
		}
		for _, f := range files {
			rel, err := filepath.Rel(src, f)
			if err != nil {
				failures = append(failures, fmt.Errorf("filer.copy: %w", err))
				continue
			}
			rel = filepath.ToSlash(rel)
			if name != string(filepath.Separator) && name != "." {
				rel = name + "/" + rel
			}
			add(f, rel)
		}
	}
	return jobs, failures
}

// copier is the state of one Copy call.
type copier struct {
	hc      *http.Client
	base    *url.URL
	opts    CopyOptions
	started time.Time

	files      int
	totalBytes int64
	done       atomic.Int64
	bytes      atomic.Int64

	mu        sync.Mutex
	failed    int
	firstErr  error
	lastPrint time.Time
}

// fail records a failed file.
func (c *copier) fail(err error) {
	glog.Warningf("%v", err)
	c.mu.Lock()
	c.failed++
	if c.firstErr == nil {
		c.firstErr = err
	}
	c.mu.Unlock()
	c.progress(true)
}

// progress writes the progress line: always when force is set, else only
// when progressInterval has passed since the last one.
func (c *copier) progress(force bool) {
	if c.opts.Progress == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if !force && now.Sub(c.lastPrint) < progressInterval {
		return
	}
	c.lastPrint = now
	fmt.Fprintf(c.opts.Progress, "\r%d/%d files, %d/%d bytes", c.done.Load(), c.files, c.bytes.Load(), c.totalBytes)
	if c.failed > 0 {
		fmt.Fprintf(c.opts.Progress, ", %d failed", c.failed)
	}
}

// finish writes the summary and returns the result of the copy.
func (c *copier) finish(dest string) error {
	c.mu.Lock()
	failed, firstErr := c.failed, c.firstErr
	c.mu.Unlock()
	summary := c.opts.Summary
	if c.opts.Progress != nil {
		c.progress(true)
		fmt.Fprintln(c.opts.Progress)
		summary = c.opts.Progress
	}
	if summary != nil {
		fmt.Fprintf(summary, "Copied %d of %d files (%d bytes) to %s in %v",
			c.done.Load(), c.files, c.bytes.Load(), dest, time.Since(c.started).Round(time.Millisecond))
		if failed > 0 {
			fmt.Fprintf(summary, "; %d failed", failed)
		}
		fmt.Fprintln(summary, ".")
	}
	if failed > 0 {
		return fmt.Errorf("filer.copy: %d of %d files failed, the first: %w", failed, c.files, firstErr)
	}
	return nil
}

// copyFile sends one file with PUT to its filer path.
func (c *copier) copyFile(ctx context.Context, j copyJob) error {
	f, err := os.Open(j.local)
	if err != nil {
		return fmt.Errorf("filer.copy: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("filer.copy: %w", err)
	}
	u := *c.base
	u.Path = j.remote
	q := url.Values{}
	for k, v := range map[string]string{"replication": c.opts.Replication, "collection": c.opts.Collection, "ttl": c.opts.TTL} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if c.opts.MaxMB > 0 {
		q.Set("maxMB", strconv.Itoa(c.opts.MaxMB))
	}
	u.RawQuery = q.Encode()
	var body io.Reader = http.NoBody
	if fi.Size() > 0 {
		body = &countingReader{r: f, c: c}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), body)
	if err != nil {
		return fmt.Errorf("filer.copy: %s: %w", j.local, err)
	}
	req.ContentLength = fi.Size()
	ct := mime.TypeByExtension(path.Ext(j.remote))
	if ct == "" {
		ct = "application/octet-stream"
	}
	req.Header.Set("Content-Type", ct)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("filer.copy: %s: %w", j.local, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated {
		var e struct {
			Error string `json:"error"`
		}
		msg := string(reply)
		if json.Unmarshal(reply, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return fmt.Errorf("filer.copy: %s to %s: %s: %s", j.local, j.remote, resp.Status, msg)
	}
	glog.V(1).Infof("filer.copy: %s -> %s", j.local, u.String())
	return nil
}

// countingReader counts the bytes read into the copy's total and writes
// progress lines as they flow.
type countingReader struct {
	r io.Reader
	c *copier
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	if n > 0 {
		cr.c.bytes.Add(int64(n))
		cr.c.progress(false)
	}
	return n, err
}
