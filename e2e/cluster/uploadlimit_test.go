package cluster

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weedfs/weed/testcluster"
)

// TestUploadMemoryBound: a volume server started with
// -concurrentUploadLimitMB=8 -fileSizeLimitMB=64 keeps at most one large
// upload body in memory at a time. While an upload whose body is still
// arriving holds the budget, another upload waits
// -inflightUploadDataTimeout and gets 503 with Retry-After; four concurrent
// 40 MB uploads, retried on 503, are all stored and read back intact; a
// 65 MB upload gets 413; and the server's resident memory (VmRSS) grows by
// far less than the four bodies together.
func TestUploadMemoryBound(t *testing.T) {
	const fileMB = 40
	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{})
	v := c.volume(testcluster.VolumeOptions{Masters: m.Addr(), Extra: []string{
		"-concurrentUploadLimitMB=8", "-fileSizeLimitMB=64", "-inflightUploadDataTimeout=1s"}})
	c.WaitForNodesOf(m, v)
	hc := &http.Client{Timeout: 2 * time.Minute}

	// One upload holds the budget while its body trickles in.
	held := randomBytes(t, fileMB<<20)
	heldFid, heldURL := assignFid(t, m)
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, "http://"+heldURL+"/"+heldFid, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(held))
	req.Header.Set("Content-Type", "application/octet-stream")
	heldDone := make(chan error, 1)
	go func() {
		resp, err := hc.Do(req)
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b, _ := io.ReadAll(resp.Body)
				err = fmt.Errorf("held upload: %d %s", resp.StatusCode, b)
			}
		}
		heldDone <- err
	}()
	if _, err := pw.Write(held[:1<<20]); err != nil {
		t.Fatal(err)
	}
	busy := false
	for range 10 {
		fid, url := assignFid(t, m)
		r, err := testcluster.Send(hc, http.MethodPost, "http://"+url+"/"+fid, bytes.NewReader([]byte("small")), map[string]string{"Content-Type": "application/octet-stream"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == http.StatusServiceUnavailable {
			if r.Header.Get("Retry-After") == "" {
				t.Fatalf("503 without Retry-After: %s", r)
			}
			busy = true
			break
		}
		if r.Status != http.StatusCreated {
			t.Fatalf("small upload beside the held one: %s", r)
		}
	}
	if !busy {
		t.Fatal("10 uploads beside one that holds the whole budget were all taken; want 503 with Retry-After")
	}
	if _, err := pw.Write(held[1<<20:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-heldDone; err != nil {
		t.Fatal(err)
	}
	if r := testcluster.GetFollow(t, "http://"+heldURL+"/"+heldFid); r.Status != http.StatusOK || !bytes.Equal(r.Body, held) {
		t.Fatalf("held upload read back: %d, %d bytes, want 200 and %d bytes", r.Status, len(r.Body), len(held))
	}

	// Four concurrent large uploads, retried on 503 as Retry-After says.
	base := vmRSS(t, v.PID())
	var peak atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			if kb, err := readVmRSS(v.PID()); err == nil && kb > peak.Load() {
				peak.Store(kb)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	type stored struct {
		fid, url string
		data     []byte
		refused  int
		err      error
	}
	files := make([]stored, 4)
	var wg sync.WaitGroup
	for i := range files {
		files[i].fid, files[i].url = assignFid(t, m)
		files[i].data = randomBytes(t, fileMB<<20)
		wg.Add(1)
		go func(f *stored) {
			defer wg.Done()
			for attempt := 0; attempt < 30; attempt++ {
				r, err := testcluster.Send(hc, http.MethodPost, "http://"+f.url+"/"+f.fid, bytes.NewReader(f.data), map[string]string{"Content-Type": "application/octet-stream"})
				switch {
				case err != nil:
					f.err = err
					return
				case r.Status == http.StatusCreated:
					f.err = nil
					return
				case r.Status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") != "":
					f.refused++
					f.err = fmt.Errorf("still 503 after %d attempts", attempt+1)
					secs, _ := strconv.Atoi(r.Header.Get("Retry-After"))
					time.Sleep(time.Duration(secs) * time.Second)
				default:
					f.err = fmt.Errorf("upload: %s", r)
					return
				}
			}
		}(&files[i])
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	refused := 0
	for _, f := range files {
		if f.err != nil {
			t.Fatalf("%s: %v", f.fid, f.err)
		}
		refused += f.refused
		if r := testcluster.GetFollow(t, "http://"+f.url+"/"+f.fid); r.Status != http.StatusOK || !bytes.Equal(r.Body, f.data) {
			t.Fatalf("%s read back: %d, %d bytes, want 200 and %d bytes", f.fid, r.Status, len(r.Body), len(f.data))
		}
	}
	growthMB := (peak.Load() - base) >> 10
	t.Logf("4 concurrent %d MB uploads: %d answers 503 (retried); VmRSS %d MB before, peak %d MB (+%d MB)",
		fileMB, refused, base>>10, peak.Load()>>10, growthMB)
	// Four bodies held together, each also copied into a record, would be
	// over 300 MB; one at a time stays well under it.
	if growthMB > 3*fileMB*2 {
		t.Errorf("VmRSS grew by %d MB during 4 concurrent %d MB uploads under an 8 MB budget", growthMB, fileMB)
	}

	tooBig := randomBytes(t, 65<<20)
	fid, url := assignFid(t, m)
	if r, err := testcluster.Send(hc, http.MethodPost, "http://"+url+"/"+fid, bytes.NewReader(tooBig), nil); err != nil || r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("65 MB upload over -fileSizeLimitMB=64: %v %v, want 413", r, err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// vmRSS returns pid's resident set in kB, failing t when it cannot be read.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	kb, err := readVmRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	return kb
}

func readVmRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
