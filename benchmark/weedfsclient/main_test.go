package main

import (
	"bytes"
	"io"
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

	"github.com/weedfs/weed/benchmark"
	"github.com/weedfs/weed/testcluster"
)

// checker is a NullServer that also checks each request has the shape of
// weed-fs's client, counting what it saw.
type checker struct {
	t                       *testing.T
	null                    benchmark.NullServer
	failUploads             bool
	assigns, uploads, reads atomic.Int64
	lookups                 atomic.Int64
	mu                      sync.Mutex
	sizes                   map[int]bool
	collection, replication string
}

func (c *checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/dir/assign":
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			c.t.Errorf("assign: %s with Content-Type %q, want a POSTed form", r.Method, r.Header.Get("Content-Type"))
		}
		if err := r.ParseForm(); err != nil {
			c.t.Errorf("assign form: %v", err)
		}
		if r.PostForm.Get("count") != "1" || r.PostForm.Get("collection") != c.collection ||
			r.PostForm.Get("replication") != c.replication {
			c.t.Errorf("assign form %v", r.PostForm)
		}
		c.assigns.Add(1)
	case r.URL.Path == "/dir/lookup":
		c.lookups.Add(1)
	case r.Method == http.MethodPost:
		c.uploads.Add(1)
		mr, err := r.MultipartReader()
		if err != nil {
			c.t.Errorf("upload: %v", err)
			break
		}
		part, err := mr.NextPart()
		if err != nil {
			c.t.Errorf("upload: %v", err)
			break
		}
		data, _ := io.ReadAll(part)
		if part.FormName() != "file" || part.FileName() != "" || len(data) < 100 || len(data) > 163 {
			c.t.Errorf("upload: part %q, file %q of %d bytes, want part file, no name and 100 to 163 bytes",
				part.FormName(), part.FileName(), len(data))
		}
		if _, err := mr.NextPart(); err != io.EOF {
			c.t.Errorf("upload: after the file part: %v, want the end", err)
		}
		c.mu.Lock()
		c.sizes[len(data)] = true
		c.mu.Unlock()
		if c.failUploads {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"error":"disk on fire"}`)
			return
		}
	case r.Method == http.MethodGet:
		c.reads.Add(1)
	}
	c.null.ServeHTTP(w, r)
}

var fieldRe = regexp.MustCompile(`(?m)^(Complete requests|Failed requests|Total transferred):\s+(\d+)`)

// phases returns the Complete / Failed / Total transferred figures of each
// report in out.
func phases(t *testing.T, out string) []map[string]int64 {
	t.Helper()
	var ps []map[string]int64
	for _, part := range strings.Split(out, "\n------------ ")[1:] {
		p := map[string]int64{}
		for _, m := range fieldRe.FindAllStringSubmatch(part, -1) {
			v, _ := strconv.ParseInt(m[2], 10, 64)
			p[m[1]] = v
		}
		ps = append(ps, p)
	}
	return ps
}

func TestWritesThenReadsAsWeedFSClients(t *testing.T) {
	c := &checker{t: t, null: benchmark.NullServer{Size: 130}, sizes: map[int]bool{}, collection: "pics", replication: "001"}
	srv := httptest.NewServer(c)
	defer srv.Close()
	list := filepath.Join(t.TempDir(), "list.txt")
	var out bytes.Buffer
	err := run([]string{"-server=" + srv.Listener.Addr().String(), "-c=4", "-n=300", "-size=100",
		"-collection=pics", "-replication=001", "-list=" + list}, &out)
	if err != nil {
		t.Fatal(err)
	}
	ps := phases(t, out.String())
	if len(ps) != 2 {
		t.Fatalf("%d reports, want 2:\n%s", len(ps), out.String())
	}
	if ps[0]["Complete requests"] != 300 || ps[0]["Failed requests"] != 0 || ps[0]["Total transferred"] < 300*100 {
		t.Errorf("write report %v", ps[0])
	}
	if ps[1]["Complete requests"] != 300 || ps[1]["Failed requests"] != 0 || ps[1]["Total transferred"] != 300*130 {
		t.Errorf("read report %v", ps[1])
	}
	if c.assigns.Load() != 300 || c.uploads.Load() != 300 || c.reads.Load() != 300 {
		t.Errorf("server saw %d assigns, %d uploads, %d reads; want 300 each", c.assigns.Load(), c.uploads.Load(), c.reads.Load())
	}
	// One volume: looked up once, or a few times when the first reads
	// miss the cache together.
	if n := c.lookups.Load(); n < 1 || n > 4 {
		t.Errorf("%d lookups of one volume", n)
	}
	if len(c.sizes) < 10 {
		t.Errorf("only %d distinct sizes in 300 uploads of 100 + 0..63 bytes", len(c.sizes))
	}
	data, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(strings.Fields(string(data))); got != 300 {
		t.Errorf("the list has %d fids, want 300", got)
	}
}

func TestFailedUploadsAreCounted(t *testing.T) {
	c := &checker{t: t, null: benchmark.NullServer{}, sizes: map[int]bool{}, collection: "benchmark", failUploads: true}
	srv := httptest.NewServer(c)
	defer srv.Close()
	list := filepath.Join(t.TempDir(), "list.txt")
	var out bytes.Buffer
	if err := run([]string{"-server=" + srv.Listener.Addr().String(), "-c=2", "-n=20", "-size=100",
		"-list=" + list, "-read=false"}, &out); err != nil {
		t.Fatal(err)
	}
	ps := phases(t, out.String())
	if len(ps) != 1 || ps[0]["Complete requests"] != 0 || ps[0]["Failed requests"] != 20 {
		t.Fatalf("reports %v, want one with 20 failed:\n%s", ps, out.String())
	}
	// Nothing written, so nothing to read.
	if err := run([]string{"-server=" + srv.Listener.Addr().String(), "-n=5", "-list=" + list, "-write=false"}, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "no fid") {
		t.Errorf("read of an empty list: %v, want an error saying the list has no fid", err)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-c=0"}, {"-n=0"}, {"-size=-1"}, {"-nosuchflag"}} {
		if err := run(args, io.Discard); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

// TestAgainstAWeedCluster runs the client against one master and two
// volume servers (replication 001): a weed-fs style client (form POSTed
// assigns, multipart uploads of unnamed files) works unchanged, nothing
// fails, and every listed file reads the same from both replicas.
func TestAgainstAWeedCluster(t *testing.T) {
	c := testcluster.New(t)
	m := c.StartMaster(testcluster.MasterOptions{})
	v1 := c.StartVolume(testcluster.VolumeOptions{Masters: m.Addr()})
	v2 := c.StartVolume(testcluster.VolumeOptions{Masters: m.Addr()})
	c.WaitForNodes(m, 2)
	list := filepath.Join(t.TempDir(), "list.txt")
	var out bytes.Buffer
	if err := run([]string{"-server=" + m.Addr(), "-c=8", "-n=1000", "-size=200", "-replication=001", "-list=" + list}, &out); err != nil {
		t.Fatal(err)
	}
	ps := phases(t, out.String())
	if len(ps) != 2 {
		t.Fatalf("%d reports, want 2:\n%s", len(ps), out.String())
	}
	for i, p := range ps {
		if p["Complete requests"] != 1000 || p["Failed requests"] != 0 {
			t.Fatalf("report %d: %v\n%s", i, p, out.String())
		}
	}
	data, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	fids := strings.Fields(string(data))
	if len(fids) != 1000 {
		t.Fatalf("the list has %d fids, want 1000", len(fids))
	}
	for _, fid := range fids[:50] {
		a := testcluster.Get(t, v1.URL("/"+fid))
		b := testcluster.Get(t, v2.URL("/"+fid))
		if a.Status != http.StatusOK || b.Status != http.StatusOK || !bytes.Equal(a.Body, b.Body) ||
			len(a.Body) < 200 || len(a.Body) > 263 {
			t.Fatalf("%s: %d (%d bytes) on %s, %d (%d bytes) on %s", fid, a.Status, len(a.Body), v1.Name,
				b.Status, len(b.Body), v2.Name)
		}
	}
}
