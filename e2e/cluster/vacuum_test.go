package cluster

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/weedfs/weed/testcluster"
)

// TestVacuumWhileWriting vacuums a 001 cluster whose volumes are two-thirds
// garbage while a client keeps submitting files: every write acknowledged
// before, during or after the vacuum reads back from both replicas, every
// deleted file stays deleted on both, and the volumes shrink.
func TestVacuumWhileWriting(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{DefaultReplication: "001"})
	v1 := c.volume(testcluster.VolumeOptions{Masters: m.Addr()})
	v2 := c.volume(testcluster.VolumeOptions{Masters: m.Addr()})
	c.WaitForNodesOf(m, v1, v2)

	// Random bytes do not compress: stored sizes are the file sizes.
	content := func(i int) []byte {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		b := make([]byte, 2000+i)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		return b
	}
	live := map[string][]byte{}
	var deleted []string
	var deletedBytes int64
	for i := 0; i < 30; i++ {
		s := submit(t, m, "", fmt.Sprintf("f%d.bin", i), content(i))
		if i%3 == 0 {
			live[s.Fid] = content(i)
			continue
		}
		r := testcluster.Do(t, testcluster.NoFollow, http.MethodDelete, v1.URL("/"+s.Fid), nil, nil)
		if r.Status != http.StatusAccepted {
			t.Fatalf("DELETE %s: %s", s.Fid, r)
		}
		deleted = append(deleted, s.Fid)
		deletedBytes += int64(len(content(i)))
	}
	before := map[string]int64{}
	for _, v := range []*testcluster.Process{v1, v2} {
		before[v.Name] = totalDat(t, v)
	}

	// A writer submits files until told to stop; it must not see errors.
	var (
		mu      sync.Mutex
		written = map[string][]byte{}
		werr    error
	)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 100; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			data := content(i)
			sub, err := testcluster.Submit(m.Addr(), fmt.Sprintf("w%d.bin", i), data, "")
			mu.Lock()
			if err != nil && werr == nil {
				werr = err
			}
			if err == nil {
				written[sub.Fid] = data
			}
			mu.Unlock()
			if err != nil {
				return
			}
			// Paced, so that its files do not dilute every volume's
			// garbage below the threshold before the master checks it.
			time.Sleep(10 * time.Millisecond)
		}
	}()

	// A low threshold: the writer's files dilute the garbage of the
	// volumes the master checks last.
	r := testcluster.Get(t, m.URL("/vol/vacuum?garbageThreshold=0.01"))
	// A few more writes after the vacuum returned, then stop.
	testcluster.Eventually(testcluster.Settle, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(written) >= 10 || werr != nil
	})
	close(done)
	wg.Wait()
	if r.Status != http.StatusOK {
		t.Fatalf("vacuum: %s", r)
	}
	if werr != nil {
		t.Fatalf("a write during the vacuum failed: %v", werr)
	}
	t.Logf("%d writes went on around the vacuum", len(written))

	for fid, data := range written {
		live[fid] = data
	}
	for _, v := range []*testcluster.Process{v1, v2} {
		for fid, data := range live {
			if r := testcluster.Get(t, v.URL("/"+fid)); r.Status != http.StatusOK || !bytes.Equal(r.Body, data) {
				t.Errorf("GET %s from %s after the vacuum: %d, %d bytes, want %d", fid, v.Name, r.Status, len(r.Body), len(data))
			}
		}
		for _, fid := range deleted {
			if r := testcluster.Get(t, v.URL("/"+fid)); r.Status != http.StatusNotFound {
				t.Errorf("GET deleted %s from %s after the vacuum: %s", fid, v.Name, r)
			}
		}
	}
	var grown int64
	for _, data := range written {
		grown += int64(len(data))
	}
	for _, v := range []*testcluster.Process{v1, v2} {
		// The deleted files' bytes are reclaimed (half of them at least:
		// a volume under the threshold may be left alone).
		if after := totalDat(t, v); after > before[v.Name]+grown-deletedBytes/2 {
			t.Errorf("%s: .dat files total %d bytes after the vacuum: %d before, %d written, %d deleted",
				v.Name, after, before[v.Name], grown, deletedBytes)
		}
	}
}

// totalDat sums the sizes of the .dat files in v's directory.
func totalDat(t *testing.T, v *testcluster.Process) int64 {
	t.Helper()
	var n int64
	for _, base := range volumeIDs(t, v.Dir) {
		n += fileSize(v.Dir + "/" + base + ".dat")
	}
	return n
}
