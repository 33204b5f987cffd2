package consistency

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/testcluster"
)

// chaosFor is how long the randomized test mixes operations and failures.
const chaosFor = 40 * time.Second

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

// TestRandomized mixes writes, deletes, reads, volume server stops, kills,
// restarts, pauses (SIGSTOP) and full disks, and pauses of the leader
// master, for a
// bounded time (seeded: WEED_SEED replays a run), over three masters and
// three volume servers with replication 001. Then it lets the cluster
// settle and checks that every replica of every volume holds the same live
// set, that every acknowledged write that was not deleted reads back from
// every replica, and that every acknowledged delete reads 404 everywhere.
// During the run, no read of a file whose delete was acknowledged may
// succeed by any path.
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
	// Each volume server on a small disk of its own, which the chaos fills.
	disks := []string{testcluster.MountTmpfs(t, 64), testcluster.MountTmpfs(t, 64), testcluster.MountTmpfs(t, 64)}
	e := newEnvGroup(t, "001", 3, disks, []string{"-replication.repairAfter=8s"})
	l := &ledger{live: map[string][]byte{}, deleted: map[string]bool{}, uncertain: map[string]bool{}}
	ch := newChaos(e)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		rng := rand.New(rand.NewPCG(seed, uint64(w)+1))
		wg.Go(func() { l.work(rng, ch, stop) })
	}

	crng := rand.New(rand.NewPCG(seed, 99))
	start := time.Now()
	for time.Since(start) < chaosFor {
		time.Sleep(time.Duration(1500+crng.IntN(2500)) * time.Millisecond)
		ch.step(crng, time.Since(start))
	}
	close(stop)
	ch.resumeAll(time.Since(start)) // a client may wait on a paused process
	wg.Wait()
	ch.startAll(time.Since(start))
	ch.emptyAll(time.Since(start))
	t.Logf("events: %v", ch.events)
	t.Logf("faults: %d (%d volume server kills, %d stops, %d pauses, %d full disks, %d leader pauses)",
		ch.kills+ch.stops+ch.pauses+ch.fills+ch.leaderPauses, ch.kills, ch.stops, ch.pauses, ch.fills, ch.leaderPauses)
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
			got, err := testcluster.ReadDirect(r.URL, fid)
			if err != nil || got.Status != http.StatusOK || string(got.Body) != string(data) {
				t.Errorf("acknowledged %s on %s: %v %v", fid, r.URL, got, err)
			}
		}
	}
	for fid := range l.deleted {
		for _, r := range e.replicas(volumeOf(fid)) {
			if got, err := testcluster.ReadDirect(r.URL, fid); err != nil || got.Status != http.StatusNotFound {
				t.Errorf("deleted %s on %s: %v %v", fid, r.URL, got, err)
			}
		}
		if got, err := testcluster.ReadFollow(e.master.Addr(), fid); err == nil && got.Status == http.StatusOK {
			t.Errorf("deleted %s through the master: %v", fid, got)
		}
	}
	t.Logf("checked %d live and %d deleted files on every replica", len(l.live), len(l.deleted))
}

// work is one client of the randomized test until stop closes: it writes,
// deletes and reads deleted files through the chaos's front master, and
// records what was acknowledged in l.
func (l *ledger) work(rng *rand.Rand, ch *chaos, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		master := ch.frontMaster().Addr()
		switch p := rng.IntN(100); {
		case p < 55:
			data := make([]byte, 20+rng.IntN(3000))
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			sub, err := testcluster.Submit(master, "x.bin", data, "")
			l.mu.Lock()
			if err != nil {
				l.writeFails++
			} else {
				l.writes++
				l.live[sub.Fid] = data
			}
			l.mu.Unlock()
		case p < 80:
			fid, _, ok := l.pickLive(rng)
			if !ok {
				continue
			}
			r, err := testcluster.DeleteThroughMaster(master, fid)
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
			for _, addr := range append([]string{master}, ch.answering()...) {
				if r, err := testcluster.ReadFollow(addr, fid); err == nil && r.Status == http.StatusOK {
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
}

// chaos injects the randomized test's faults: it stops, kills, restarts
// and pauses volume servers, and pauses the leader master, keeping at
// least one volume server answering. Clients talk to the front master,
// which is never a paused one.
type chaos struct {
	e      *env
	mu     sync.Mutex                             // guards paused, full and the processes' running state
	paused map[*testcluster.Process]time.Duration // paused process -> when to resume it
	full   map[string]time.Duration               // filler file -> when to remove it
	front  atomic.Pointer[testcluster.Process]
	events []string

	kills, stops, pauses, fills, leaderPauses int
}

func newChaos(e *env) *chaos {
	ch := &chaos{e: e, paused: map[*testcluster.Process]time.Duration{}, full: map[string]time.Duration{}}
	ch.front.Store(e.master)
	return ch
}

// frontMaster returns the master clients talk to.
func (ch *chaos) frontMaster() *testcluster.Process { return ch.front.Load() }

// answering returns the volume servers that run and are not paused.
func (ch *chaos) answering() []string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	var out []string
	for _, v := range ch.e.vols {
		if _, p := ch.paused[v]; !p && v.Running() {
			out = append(out, v.Addr())
		}
	}
	return out
}

// leader returns the leader that the answering masters name, or nil.
func (ch *chaos) leader() *testcluster.Process {
	for _, m := range ch.e.masters {
		if _, p := ch.paused[m]; p {
			continue
		}
		st, err := m.Status()
		if err != nil || st.Leader == "" {
			continue
		}
		for _, l := range ch.e.masters {
			if l.Addr() == st.Leader {
				return l
			}
		}
	}
	return nil
}

func (ch *chaos) logf(at time.Duration, format string, args ...any) {
	ch.events = append(ch.events, at.Round(time.Second).String()+" "+fmt.Sprintf(format, args...))
}

// step resumes the processes whose pause is over, then injects one fault
// or repairs one.
func (ch *chaos) step(rng *rand.Rand, at time.Duration) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for p, until := range ch.paused {
		if at >= until {
			p.Resume()
			delete(ch.paused, p)
			ch.logf(at, "resume %s", p.Name)
		}
	}
	for filler, until := range ch.full {
		if at >= until {
			ch.empty(at, filler)
		}
	}
	var up, down []*testcluster.Process
	for _, v := range ch.e.vols {
		_, p := ch.paused[v]
		switch {
		case p:
		case v.Running():
			up = append(up, v)
		default:
			down = append(down, v)
		}
	}
	act := rng.IntN(6)
	switch {
	case len(down) > 0 && (act == 0 || len(up) == 1):
		v := down[rng.IntN(len(down))]
		v.Start()
		ch.logf(at, "start %s", v.Name)
	case len(up) == 1:
		// Nothing to do but wait for a pause to end.
	case act == 1:
		v := up[rng.IntN(len(up))]
		v.Kill()
		ch.kills++
		ch.logf(at, "kill -9 %s", v.Name)
	case act == 2:
		v := up[rng.IntN(len(up))]
		v.Stop()
		ch.stops++
		ch.logf(at, "stop %s", v.Name)
	case act == 3:
		v := up[rng.IntN(len(up))]
		v.Pause()
		ch.paused[v] = at + time.Duration(2000+rng.IntN(4000))*time.Millisecond
		ch.pauses++
		ch.logf(at, "pause %s", v.Name)
	case act == 4:
		v := up[rng.IntN(len(up))]
		filler, err := testcluster.FillDisk(v.Dir, 0)
		if err != nil {
			ch.logf(at, "fill the disk of %s: %v", v.Name, err)
		}
		if filler != "" {
			ch.full[filler] = at + time.Duration(3000+rng.IntN(5000))*time.Millisecond
			ch.fills++
			ch.logf(at, "fill the disk of %s", v.Name)
		}
	default:
		ch.pauseLeader(rng, at)
	}
}

// empty removes a filler file, giving its disk's space back.
func (ch *chaos) empty(at time.Duration, filler string) {
	if err := os.Remove(filler); err != nil && !os.IsNotExist(err) {
		ch.logf(at, "remove %s: %v", filler, err)
	}
	delete(ch.full, filler)
	ch.logf(at, "free the disk %s", filepath.Dir(filler))
}

// emptyAll gives every filled disk its space back.
func (ch *chaos) emptyAll(at time.Duration) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for filler := range ch.full {
		ch.empty(at, filler)
	}
}

// pauseLeader pauses the leader master for 4 to 10 s (an election takes
// place meanwhile), first moving the clients to another master. It does
// nothing while a master is paused already.
func (ch *chaos) pauseLeader(rng *rand.Rand, at time.Duration) {
	for _, m := range ch.e.masters {
		if _, p := ch.paused[m]; p {
			return
		}
	}
	l := ch.leader()
	if l == nil {
		return
	}
	for _, m := range ch.e.masters {
		if m != l {
			ch.front.Store(m)
			break
		}
	}
	l.Pause()
	ch.paused[l] = at + time.Duration(4000+rng.IntN(6000))*time.Millisecond
	ch.leaderPauses++
	ch.logf(at, "pause leader %s", l.Name)
}

// resumeAll resumes every paused process.
func (ch *chaos) resumeAll(at time.Duration) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for p := range ch.paused {
		p.Resume()
		delete(ch.paused, p)
		ch.logf(at, "resume %s", p.Name)
	}
}

// startAll starts every volume server that is down.
func (ch *chaos) startAll(at time.Duration) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for _, v := range ch.e.vols {
		if !v.Running() {
			v.Start()
			ch.logf(at, "start %s", v.Name)
		}
	}
}
