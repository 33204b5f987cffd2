package consistency

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/testcluster"
)

// chaosFor is how long the randomized test mixes operations and failures.
const chaosFor = 35 * time.Second

// ledger records what the cluster acknowledged.
type ledger struct {
	mu         sync.Mutex
	live       map[string][]byte // acknowledged writes not deleted
	deleted    map[string]bool   // acknowledged deletes
	uncertain  map[string]bool   // a delete that failed: either state is fine
	violations []string
	writes     int
	writeFails int
	deletes    int
	delFails   int
	reads      int
}

func (l *ledger) pickLive(rng *rand.Rand) (string, []byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.live) == 0 {
		return "", nil, false
	}
	keys := make([]string, 0, len(l.live))
	for k := range l.live {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	k := keys[rng.IntN(len(keys))]
	return k, l.live[k], true
}

func (l *ledger) pickDeleted(rng *rand.Rand) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.deleted) == 0 {
		return "", false
	}
	keys := make([]string, 0, len(l.deleted))
	for k := range l.deleted {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys[rng.IntN(len(keys))], true
}

// TestRandomized mixes writes, deletes, reads, volume server stops, kills
// and restarts for a bounded time (seeded: WEED_SEED replays a run), then
// lets the cluster settle and checks that every replica of every volume
// holds the same live set, that every acknowledged write that was not
// deleted reads back from every replica, and that every acknowledged
// delete reads 404 everywhere. During the run, no read of a file whose
// delete was acknowledged may succeed by any path.
func TestRandomized(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("WEED_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("WEED_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with WEED_SEED=%d)", seed, seed)
	e := newEnv(t, "001", 3, []string{"-replication.repairAfter=8s"})
	l := &ledger{live: map[string][]byte{}, deleted: map[string]bool{}, uncertain: map[string]bool{}}

	var chaosMu sync.Mutex // guards the processes' running state
	running := func() []*testcluster.Process {
		chaosMu.Lock()
		defer chaosMu.Unlock()
		var out []*testcluster.Process
		for _, v := range e.vols {
			if v.Running() {
				out = append(out, v)
			}
		}
		return out
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		rng := rand.New(rand.NewPCG(seed, uint64(w)+1))
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				switch p := rng.IntN(100); {
				case p < 55:
					data := make([]byte, 20+rng.IntN(3000))
					for j := range data {
						data[j] = byte(rng.Uint32())
					}
					fid, err := submit(e.master.Addr(), "x.bin", data)
					l.mu.Lock()
					if err != nil {
						l.writeFails++
					} else {
						l.writes++
						l.live[fid] = data
					}
					l.mu.Unlock()
				case p < 80:
					fid, _, ok := l.pickLive(rng)
					if !ok {
						continue
					}
					r, err := deleteThroughMaster(e.master.Addr(), fid)
					l.mu.Lock()
					if _, still := l.live[fid]; still {
						delete(l.live, fid)
						if err == nil && r.Status == http.StatusAccepted {
							l.deleted[fid] = true
							l.deletes++
						} else {
							l.uncertain[fid] = true
							l.delFails++
						}
					}
					l.mu.Unlock()
				default:
					fid, ok := l.pickDeleted(rng)
					if !ok {
						continue
					}
					targets := []string{e.master.Addr()}
					for _, v := range running() {
						targets = append(targets, v.Addr())
					}
					for _, addr := range targets {
						if r, err := readFollow(addr, fid); err == nil && r.Status == http.StatusOK {
							l.mu.Lock()
							l.violations = append(l.violations, fmt.Sprintf("%s returned the deleted %s", addr, fid))
							l.mu.Unlock()
						}
					}
					l.mu.Lock()
					l.reads++
					l.mu.Unlock()
				}
				time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
			}
		})
	}

	crng := rand.New(rand.NewPCG(seed, 99))
	start := time.Now()
	var events []string
	for time.Since(start) < chaosFor {
		time.Sleep(time.Duration(1500+crng.IntN(2500)) * time.Millisecond)
		chaosMu.Lock()
		var up, down []*testcluster.Process
		for _, v := range e.vols {
			if v.Running() {
				up = append(up, v)
			} else {
				down = append(down, v)
			}
		}
		chaosMu.Unlock()
		act := crng.IntN(3)
		switch {
		case len(down) > 0 && (act == 0 || len(up) == 1):
			v := down[crng.IntN(len(down))]
			v.Start()
			events = append(events, fmt.Sprintf("%v start %s", time.Since(start).Round(time.Second), v.Name))
		case act == 1:
			v := up[crng.IntN(len(up))]
			chaosMu.Lock()
			v.Kill()
			chaosMu.Unlock()
			events = append(events, fmt.Sprintf("%v kill -9 %s", time.Since(start).Round(time.Second), v.Name))
		default:
			v := up[crng.IntN(len(up))]
			chaosMu.Lock()
			v.Stop()
			chaosMu.Unlock()
			events = append(events, fmt.Sprintf("%v stop %s", time.Since(start).Round(time.Second), v.Name))
		}
	}
	close(stop)
	wg.Wait()
	for _, v := range e.vols {
		if !v.Running() {
			v.Start()
			events = append(events, fmt.Sprintf("%v start %s", time.Since(start).Round(time.Second), v.Name))
		}
	}
	t.Logf("events: %v", events)
	t.Logf("acknowledged: %d writes (%d failed), %d deletes (%d failed), %d checks of deleted files", l.writes, l.writeFails, l.deletes, l.delFails, l.reads)
	for _, v := range l.violations {
		t.Error(v)
	}

	// Settle: every volume with exactly two healthy copies.
	vols := func() []needle.VolumeID {
		var out []needle.VolumeID
		for _, v := range e.vols {
			held, err := heldBy(v)
			if err != nil {
				return nil
			}
			for _, vid := range held {
				if !slices.Contains(out, vid) {
					out = append(out, vid)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	settled := time.Now()
	if !testcluster.Eventually(testcluster.Settle, func() bool {
		vs := vols()
		return len(vs) > 0 && e.allHealthy(vs, 2)
	}) {
		for _, vid := range vols() {
			t.Logf("volume %d: %v", vid, e.replicas(vid))
		}
		t.Fatal("the cluster did not settle")
	}
	t.Logf("MEASURED settled %v after the last restart", time.Since(settled).Round(time.Millisecond))

	// Same live set on every replica.
	for _, vid := range vols() {
		reps := e.replicas(vid)
		var first string
		var d0 any
		for _, r := range reps {
			d, err := digest(r.URL, vid)
			if err != nil {
				t.Errorf("volume %d on %s: %v", vid, r.URL, err)
				continue
			}
			if first == "" {
				first, d0 = r.URL, d
			} else if d0 != any(d) {
				t.Errorf("volume %d: %s and %s hold different live sets", vid, first, r.URL)
			}
		}
	}
	// Acknowledged writes on every replica, acknowledged deletes nowhere.
	for fid, data := range l.live {
		for _, r := range e.replicas(volumeOf(fid)) {
			got, err := readDirect(r.URL, fid)
			if err != nil || got.Status != http.StatusOK || string(got.Body) != string(data) {
				t.Errorf("acknowledged %s on %s: %v %v", fid, r.URL, got, err)
			}
		}
	}
	for fid := range l.deleted {
		for _, r := range e.replicas(volumeOf(fid)) {
			if got, err := readDirect(r.URL, fid); err != nil || got.Status != http.StatusNotFound {
				t.Errorf("deleted %s on %s: %v %v", fid, r.URL, got, err)
			}
		}
		if got, err := readFollow(e.master.Addr(), fid); err == nil && got.Status == http.StatusOK {
			t.Errorf("deleted %s through the master: %v", fid, got)
		}
	}
	t.Logf("checked %d live and %d deleted files on every replica", len(l.live), len(l.deleted))
}
