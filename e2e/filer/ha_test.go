package filer

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weedfs/weed/internal/redistest"
	"github.com/weedfs/weed/testcluster"
)

// TestSentinelFailoverKeepsAcknowledgedWrites is issue 20's failover: two
// filers on a Redis master with one replica behind three sentinels, each
// filer taking a stream of writes; the master is killed with SIGKILL in
// the middle. Every write a filer acknowledged (201: the replica had its
// entry, -redis.waitReplicas defaulting to 1 with sentinels) is listed
// and readable through both filers after the failover; every other answer
// was a 503 with a JSON reason, never a 500 or a hang. Right after the
// kill, reads and listings are still served, from the replica.
func TestSentinelFailoverKeepsAcknowledgedWrites(t *testing.T) {
	sent := redistest.StartSentinels(t)
	cl := startCluster(t)
	extra := []string{"-redis.sentinel=" + strings.Join(sent.Addrs, ","), "-redis.masterName=" + redistest.MasterName}
	filers := []*testcluster.Process{
		cl.startFiler(testcluster.FilerOptions{Extra: extra}),
		cl.startFiler(testcluster.FilerOptions{Extra: extra}),
	}
	var (
		mu       sync.Mutex
		acked    = map[string][]byte{}
		statuses = map[int]int{}
		stop     atomic.Bool
		total    atomic.Int64
		wg       sync.WaitGroup
	)
	errs := make(chan error, len(filers))
	for i, f := range filers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load() && n < 2000; n++ {
				name := fmt.Sprintf("f%d-%04d", i, n)
				data := []byte(fmt.Sprintf("written through filer %d as %s\n", i, name))
				r, err := testcluster.Send(testcluster.Plain, http.MethodPut, f.URL("/ha/"+name), bytes.NewReader(data),
					map[string]string{"Content-Type": "text/plain"})
				if err != nil {
					errs <- fmt.Errorf("PUT %s: %w", name, err)
					return
				}
				total.Add(1)
				mu.Lock()
				statuses[r.Status]++
				if r.Status == http.StatusCreated {
					acked[name] = data
				}
				mu.Unlock()
				switch r.Status {
				case http.StatusCreated:
				case http.StatusServiceUnavailable:
					if !strings.Contains(string(r.Body), `"error"`) {
						errs <- fmt.Errorf("PUT %s: 503 without a JSON reason: %v", name, r)
						return
					}
					time.Sleep(50 * time.Millisecond)
				default:
					errs <- fmt.Errorf("PUT %s: %v, want 201 or 503", name, r)
					return
				}
			}
		}()
	}
	waitUntil(t, "40 writes before the kill", func() bool { return total.Load() >= 40 })
	sent.KillMaster()
	killedAt := total.Load()
	// Reads go on while the sentinels have not yet voted: from the replica.
	mu.Lock()
	var someName string
	for name := range acked {
		someName = name
		break
	}
	someData := acked[someName]
	mu.Unlock()
	for i, f := range filers {
		requireBytes(t, fmt.Sprintf("filer %d: GET %s with the master dead", i, someName), get(t, f.URL("/ha/"+someName)), someData)
		if l := list(t, f.URL("/ha/?pretty=y&limit=2")); len(l.Files) != 2 {
			t.Errorf("filer %d: listing with the master dead: %+v", i, l)
		}
	}
	sent.WaitFailover()
	// Writes go on through the failover and a while after it.
	waitUntil(t, "20 writes after the failover", func() bool { return total.Load() >= killedAt+20 })
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d writes: statuses %v, %d acknowledged (%d before the kill)", total.Load(), statuses, len(acked), killedAt)
	if len(acked) < int(killedAt)/2 {
		t.Fatalf("only %d writes acknowledged", len(acked))
	}
	want := make([]string, 0, len(acked))
	for name := range acked {
		want = append(want, name)
	}
	slices.Sort(want)
	for i, f := range filers {
		names := listAll(t, f.URL("/ha/"))
		for _, name := range want {
			if _, found := slices.BinarySearch(names, name); !found {
				t.Errorf("filer %d: acknowledged %s is not listed after the failover", i, name)
			}
		}
		for _, name := range want {
			requireBytes(t, fmt.Sprintf("filer %d: GET %s", i, name), get(t, f.URL("/ha/"+name)), acked[name])
		}
	}
}

// TestRedisClusterTwoFilersShareOneNamespace: two filers on a Redis
// Cluster of three masters see one namespace: what one writes, moves or
// deletes the other lists and reads at once, and deleted files' needles go.
func TestRedisClusterTwoFilersShareOneNamespace(t *testing.T) {
	rc := redistest.StartCluster(t, 3)
	cl := startCluster(t)
	extra := []string{"-redis.cluster=" + strings.Join(rc.Addrs, ",")}
	a := cl.startFiler(testcluster.FilerOptions{Extra: extra})
	b := cl.startFiler(testcluster.FilerOptions{Extra: extra})

	for i := range 30 {
		data := []byte(fmt.Sprintf("file %d\n", i))
		requireWritten(t, put(t, a.URL(fmt.Sprintf("/c/d%d/f%02d.txt", i%3, i)), data), fmt.Sprintf("f%02d.txt", i), len(data))
	}
	for i := range 30 {
		requireBytes(t, "GET through B", get(t, b.URL(fmt.Sprintf("/c/d%d/f%02d.txt", i%3, i))), []byte(fmt.Sprintf("file %d\n", i)))
	}
	if l := list(t, b.URL("/c/")); strings.Join(l.Subdirectories, ",") != "d0,d1,d2" {
		t.Fatalf("listing of /c/ through B: %+v", l)
	}
	// Pages of 4 through A hold d1's 10 files in order.
	if got := listAll(t, a.URL("/c/d1/")); len(got) != 10 || !slices.IsSorted(got) {
		t.Fatalf("paged listing of /c/d1/ through A = %q", got)
	}

	// B moves d1 under another directory; A sees it there at once.
	if r := testcluster.Do(t, testcluster.Plain, http.MethodPost, b.URL("/moved/d1?mv.from=/c/d1"), nil, nil); r.Status != http.StatusNoContent {
		t.Fatalf("move through B: %v, want 204", r)
	}
	requireBytes(t, "GET of a moved file through A", get(t, a.URL("/moved/d1/f01.txt")), []byte("file 1\n"))
	if r := get(t, a.URL("/c/d1/f01.txt")); r.Status != http.StatusNotFound {
		t.Fatalf("GET of the old path through A: %v, want 404", r)
	}

	requireDeleted(t, del(t, a.URL("/moved/?recursive=true")))
	requireDeleted(t, del(t, b.URL("/c/?recursive=true")))
	if l := list(t, b.URL("/")); len(l.Subdirectories)+len(l.Files) != 0 {
		t.Fatalf("root after the deletes through both filers: %+v", l)
	}
	cl.requireNoLiveNeedles()
}

// listAll pages through the directory at dirURL with lastFileName, 4 names a
// page, and returns every name (files and directories) in order.
func listAll(t testing.TB, dirURL string) []string {
	t.Helper()
	var names []string
	after := ""
	for range 100000 {
		l := list(t, dirURL+"?pretty=y&limit=4&lastFileName="+url.QueryEscape(after))
		page := append(l.Subdirectories, l.fileNames()...)
		slices.Sort(page)
		names = append(names, page...)
		if !l.ShouldDisplayLoadMore {
			return names
		}
		after = l.LastFileName
	}
	t.Fatalf("listing %s does not end", dirURL)
	return nil
}

// waitUntil polls cond every 20ms for up to a minute.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within a minute", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// requireNoLiveNeedles checks that the volume servers hold no live needle.
func (cl *cluster) requireNoLiveNeedles() {
	cl.t.Helper()
	// Deletes reach the volume servers' counts at once; allow a heartbeat.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := cl.counts()
		if c.Live == 0 {
			return
		}
		if time.Now().After(deadline) {
			cl.t.Fatalf("volume servers hold %d live needles after every file was deleted", c.Live)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMoveUnderConcurrentWrites moves a directory through one filer while
// two writers keep putting files into it through the other, both on one
// Redis Cluster: every acknowledged file ends up in exactly one place,
// moved with the directory if written before the move or under the old
// path (created again) if after, with its bytes; nothing else appears.
func TestMoveUnderConcurrentWrites(t *testing.T) {
	rc := redistest.StartCluster(t, 3)
	cl := startCluster(t)
	extra := []string{"-redis.cluster=" + strings.Join(rc.Addrs, ",")}
	a := cl.startFiler(testcluster.FilerOptions{Extra: extra})
	b := cl.startFiler(testcluster.FilerOptions{Extra: extra})
	requireWritten(t, put(t, a.URL("/src/first"), []byte("first")), "first", 5)

	var (
		mu    sync.Mutex
		acked = map[string][]byte{"first": []byte("first")}
		wg    sync.WaitGroup
		stop  atomic.Bool
		n     atomic.Int64
	)
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load() && i < 500; i++ {
				name := fmt.Sprintf("w%d-%03d", w, i)
				data := []byte("bytes of " + name)
				r, err := testcluster.Send(testcluster.Plain, http.MethodPut, a.URL("/src/"+name), bytes.NewReader(data), nil)
				if err != nil || r.Status != http.StatusCreated {
					errs <- fmt.Errorf("PUT %s: %v %v", name, r, err)
					return
				}
				mu.Lock()
				acked[name] = data
				mu.Unlock()
				n.Add(1)
			}
		}()
	}
	waitUntil(t, "20 writes before the move", func() bool { return n.Load() >= 20 })
	if r := testcluster.Do(t, testcluster.Plain, http.MethodPost, b.URL("/dst?mv.from=/src"), nil, nil); r.Status != http.StatusNoContent {
		t.Fatalf("move through B: %v, want 204", r)
	}
	movedAt := n.Load()
	waitUntil(t, "20 writes after the move", func() bool { return n.Load() >= movedAt+20 })
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	moved, after := listAll(t, b.URL("/dst/")), listAll(t, b.URL("/src/"))
	all := append(slices.Clone(moved), after...)
	slices.Sort(all)
	want := make([]string, 0, len(acked))
	for name := range acked {
		want = append(want, name)
	}
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Fatalf("%d files acknowledged; %d moved and %d under the old path: one is lost or in both places", len(want), len(moved), len(after))
	}
	if len(moved) == 0 || len(after) == 0 {
		t.Fatalf("%d files moved and %d written after the move: the move did not fall among the writes", len(moved), len(after))
	}
	for _, name := range moved {
		requireBytes(t, "GET of a moved file through A", get(t, a.URL("/dst/"+name)), acked[name])
	}
	for _, name := range after {
		requireBytes(t, "GET of a file written after the move through A", get(t, a.URL("/src/"+name)), acked[name])
	}
	t.Logf("%d files moved with the directory, %d written after the move", len(moved), len(after))
}
