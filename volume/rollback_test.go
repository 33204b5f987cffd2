package volume

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume/volumetest"
)

// replicaNeedle is the test needle of key k, generation gen, stamped ts, as
// a primary would send it.
func replicaNeedle(k needle.Key, gen int, ts uint64) *needle.Needle {
	n := volumetest.Needle(k, gen, volumetest.SizeOf(k))
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
						_, err = v.DeleteRolledBack(k, volumetest.CookieOf(k), sec(2), sec(3))
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
						expectNeedle(t, v, k, volumetest.Payload(k, c.wantGen, volumetest.SizeOf(k)))
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
			_, derr = v.DeleteRolledBack(k, volumetest.CookieOf(k), sec(2), sec(3))
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
