package volume

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// replicaNeedle is the test needle of key k, generation gen, stamped ts, as
// a primary would send it.
func replicaNeedle(k needle.Key, gen int, ts uint64) *needle.Needle {
	n := makeNeedle(k, gen, sizeOf(k))
	n.AppendAtNs = ts
	return n
}

// TestRolledBackWriteOrders is issue 15's first fault where it lives: a
// replica receives a failed write (stamped sec(2)) and its rollback
// (tombstone sec(3)) in either order, possibly around other writes of the
// same key; the write must end absent, as on the primary, and a later
// write of the key must not be hidden.
func TestRolledBackWriteOrders(t *testing.T) {
	const k = needle.Key(7)
	type step struct {
		op  string // "write" (WriteReplica), "rollback" (DeleteRolledBack of the sec(2) write), "primary" (Write)
		gen int
		ts  uint64
		err error // wanted error, matched with errors.Is
	}
	cases := []struct {
		name    string
		steps   []step
		wantGen int // generation served at the end, -1: gone
		awaited int // rolled-back writes remembered at the end
	}{
		{"write then rollback, then the write again", []step{
			{op: "write", gen: 1, ts: sec(2)},
			{op: "rollback"},
			{op: "write", gen: 1, ts: sec(2), err: ErrRolledBack}, // the fan-out's resend
		}, -1, 1},
		{"rollback then write, twice", []step{
			{op: "rollback", err: needle.ErrNotFound},
			{op: "write", gen: 1, ts: sec(2), err: ErrRolledBack},
			{op: "write", gen: 1, ts: sec(2), err: ErrRolledBack},
		}, -1, 1},
		{"rollback of an overwrite, then the write", []step{
			{op: "primary", gen: 0, ts: sec(1)},
			{op: "rollback"},
			{op: "write", gen: 1, ts: sec(2), err: ErrRolledBack},
		}, -1, 1},
		{"rollback, a newer write, then the late write", []step{
			{op: "rollback", err: needle.ErrNotFound},
			{op: "write", gen: 2, ts: sec(4)},
			{op: "write", gen: 1, ts: sec(2), err: ErrRolledBack},
		}, 2, 1},
		{"rollback, then another write of the key at another time", []step{
			{op: "rollback", err: needle.ErrNotFound},
			{op: "write", gen: 3, ts: sec(5)},
		}, 3, 1},
		{"a primary's own write is never refused", []step{
			{op: "rollback", err: needle.ErrNotFound},
			{op: "primary", gen: 1, ts: sec(2)},
		}, 1, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEachMap(t, func(t *testing.T, opts Options) {
				dir := t.TempDir()
				v := createVolIn(t, dir, opts)
				for i, s := range c.steps {
					var err error
					switch s.op {
					case "write":
						_, err = v.WriteReplica(replicaNeedle(k, s.gen, s.ts))
					case "primary":
						_, err = v.Write(replicaNeedle(k, s.gen, s.ts))
					case "rollback":
						_, err = v.DeleteRolledBack(k, cookieOf(k), sec(2), sec(3))
					}
					if !errors.Is(err, s.err) || (err != nil && s.err == nil) {
						t.Fatalf("step %d (%s): %v, want %v", i, s.op, err, s.err)
					}
				}
				check := func(v *Volume) {
					t.Helper()
					if c.wantGen < 0 {
						expectGone(t, v, k)
					} else {
						expectNeedle(t, v, k, payload(k, c.wantGen, sizeOf(k)))
					}
				}
				check(v)
				if n := v.rolledBackN; n != c.awaited {
					t.Errorf("%d rolled-back writes remembered, want %d", n, c.awaited)
				}
				if err := v.Close(); err != nil {
					t.Fatal(err)
				}
				mustCheck(t, dir)
				v2, err := Open(dir, "", 1, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer v2.Close()
				check(v2)
			})
		})
	}
}

// TestRolledBackWriteRace runs the late write and its rollback
// concurrently, many times: whichever the volume applies first, the write
// ends absent, and a second copy of it is refused.
func TestRolledBackWriteRace(t *testing.T) {
	v := createVolIn(t, t.TempDir(), Options{})
	const rounds = 200
	for i := range rounds {
		k := needle.Key(i + 1)
		start := make(chan struct{})
		var wg sync.WaitGroup
		var werr, derr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			_, werr = v.WriteReplica(replicaNeedle(k, 1, sec(2)))
		}()
		go func() {
			defer wg.Done()
			<-start
			_, derr = v.DeleteRolledBack(k, cookieOf(k), sec(2), sec(3))
		}()
		close(start)
		wg.Wait()
		switch {
		case werr == nil && derr == nil: // the write first
		case errors.Is(werr, ErrRolledBack) && errors.Is(derr, needle.ErrNotFound): // the rollback first
		default:
			t.Fatalf("round %d: write %v, rollback %v", i, werr, derr)
		}
		expectGone(t, v, k)
		if _, err := v.WriteReplica(replicaNeedle(k, 1, sec(2))); !errors.Is(err, ErrRolledBack) {
			t.Fatalf("round %d: a second copy of the write: %v", i, err)
		}
	}
}

// TestRolledBackWriteBound: a volume remembers at most maxRolledBack
// rollbacks (the oldest forgotten first) and forgets each after
// rolledBackKeep, so that the check costs nothing again.
func TestRolledBackWriteBound(t *testing.T) {
	v := createVolIn(t, t.TempDir(), Options{})
	start := time.Now().Add(-rolledBackKeep / 2)
	v.mu.Lock()
	for i := range maxRolledBack + 10 {
		v.rememberRolledBackLocked(needle.Key(i+1), rolledBackWrite{writeAt: sec(float64(i)), tombAt: sec(float64(i) + 0.5), at: start.Add(time.Duration(i))})
	}
	n, oldest, newest := v.rolledBackN, len(v.rolledBack[1]), len(v.rolledBack[maxRolledBack+10])
	v.mu.Unlock()
	if n != maxRolledBack || oldest != 0 || newest != 1 {
		t.Fatalf("%d remembered (key 1: %d, last key: %d), want %d with the oldest dropped", n, oldest, newest, maxRolledBack)
	}
	if _, err := v.WriteReplica(replicaNeedle(maxRolledBack+10, 1, sec(maxRolledBack+9))); !errors.Is(err, ErrRolledBack) {
		t.Fatalf("a remembered rollback's write: %v", err)
	}
	// Once they are older than rolledBackKeep, the next replicated write
	// forgets them all.
	v.mu.Lock()
	for _, ws := range v.rolledBack {
		for i := range ws {
			ws[i].at = ws[i].at.Add(-rolledBackKeep)
		}
	}
	v.rolledBackExpiry = v.rolledBackExpiry.Add(-rolledBackKeep)
	v.mu.Unlock()
	if _, err := v.WriteReplica(replicaNeedle(1, 0, sec(10000))); err != nil {
		t.Fatal(err)
	}
	v.mu.Lock()
	n, left := v.rolledBackN, len(v.rolledBack)
	v.mu.Unlock()
	if n != 0 || left != 0 {
		t.Fatalf("%d rolled-back writes (%d keys) remembered past rolledBackKeep", n, left)
	}
}

// TestRollbackEndpoint: a replicated delete naming a rollback
// (rollback=<the write's append time>) makes the replica refuse that write
// when it arrives afterwards (409), and a malformed one is a 400.
func TestRollbackEndpoint(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 1, "001")
	n := needle.Needle{Cookie: 0x12345678, Key: 9, Data: []byte("given up on"), AppendAtNs: 1234567890}
	rec, err := n.AppendRecord(nil, needle.Version3)
	if err != nil {
		t.Fatal(err)
	}
	fid := fidOf(1, 9, 0x12345678)
	for _, c := range []struct{ query string }{
		{"ts=1234567999&rollback=x"},
		{"ts=1234567999&rollback=0"},
		{"ts=1234567999&rollback=1234567999"},
	} {
		r := do(t, http.MethodDelete, ts.url+"/"+fid+"?type=replicate&"+c.query, nil, nil)
		if r.status != http.StatusBadRequest {
			t.Errorf("DELETE ?%s = %d %s, want 400", c.query, r.status, r.body)
		}
	}
	r := do(t, http.MethodDelete, ts.url+"/"+fid+"?type=replicate&ts=1234567999&rollback=1234567890", nil, nil)
	if r.status != http.StatusNotFound {
		t.Fatalf("rollback before the write = %d %s, want 404", r.status, r.body)
	}
	r = do(t, http.MethodPost, ts.url+"/"+fid+"?type=replicate", bytes.NewReader(rec), map[string]string{"Content-Type": wire.NeedleContentType})
	if r.status != http.StatusConflict {
		t.Fatalf("the rolled-back write arriving late = %d %s, want 409", r.status, r.body)
	}
	assertEmpty404(t, do(t, http.MethodGet, ts.url+"/"+fid, nil, nil), "GET of the rolled-back write")
	if _, err := ts.stored(t, 1, 9, 0x12345678); !isMissing(err) {
		t.Fatalf("the rolled-back write was stored: %v", err)
	}
}

// TestRejoinResolvesRolledBackSplit: the state the fault used to leave (the
// primary holds the write then its rollback tombstone; the replica the
// tombstone then the late write, live) is resolved by a rejoin sync of
// either side to absent on both: the tombstone is newer than the write.
func TestRejoinResolvesRolledBackSplit(t *testing.T) {
	const k = needle.Key(5)
	rejoining := sideRole{Trusted: true, Receives: true} // restarted, not marked stale
	for _, c := range []struct {
		name          string
		primaryRejoin bool
	}{{"the replica restarts", false}, {"the primary restarts", true}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			primary := createVolIn(t, filepath.Join(dir, "primary"), Options{})
			replica := createVolIn(t, filepath.Join(dir, "replica"), Options{})
			for _, v := range []*Volume{primary, replica} {
				for key := needle.Key(1); key < k; key++ {
					writeAt(t, v, key, sec(float64(key)/10))
				}
			}
			writeAt(t, primary, k, sec(2))
			deleteAt(t, primary, k, sec(3))
			if _, err := replica.DeleteReplica(k, cookieOf(k), sec(3)); !errors.Is(err, needle.ErrNotFound) {
				t.Fatal(err)
			}
			writeAt(t, replica, k, sec(2)) // what Write did with the late write
			local, peer := replica, primary
			if c.primaryRejoin {
				local, peer = primary, replica
			}
			if st, err := reconcile(context.Background(), localSide{local}, localSide{peer}, rejoining, peerRole, reconcileOptions{}); err != nil {
				t.Fatalf("reconcile: %v (%v)", err, st)
			}
			for _, v := range []*Volume{primary, replica} {
				expectGone(t, v, k)
				for key := needle.Key(1); key < k; key++ {
					expectNeedle(t, v, key, payload(key, 0, sizeOf(key)))
				}
			}
		})
	}
}
