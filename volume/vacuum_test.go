package volume

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume/volumetest"
)

// genNeedle is generation gen of key k: its name records gen, so a reader
// can tell which bytes it must hold.
func genNeedle(k needle.Key, gen int) *needle.Needle {
	n := volumetest.Needle(k, gen, genSize(k, gen))
	n.Name = []byte(fmt.Sprintf("k%d-g%d", k, gen))
	return n
}

func genSize(k needle.Key, gen int) int { return int(k*13+needle.Key(gen)*7)%200 + 1 }

// checkGen verifies that a needle read for k holds exactly the bytes of the
// generation its name names.
func checkGen(k needle.Key, n needle.Needle) error {
	var gk needle.Key
	var gen int
	if _, err := fmt.Sscanf(string(n.Name), "k%d-g%d", &gk, &gen); err != nil || gk != k {
		return fmt.Errorf("key %d: name %q", k, n.Name)
	}
	if !bytes.Equal(n.Data, volumetest.Payload(k, gen, genSize(k, gen))) {
		return fmt.Errorf("key %d generation %d: wrong bytes", k, gen)
	}
	return nil
}

// TestVacuumConcurrent compacts a half-deleted volume while one goroutine
// writes, overwrites and deletes and others read, then checks that every
// acknowledged write survives, every delete sticks and the .dat shrank.
func TestVacuumConcurrent(t *testing.T) {
	forEachMap(t, func(t *testing.T, opts Options) {
		dir := t.TempDir()
		v := createVol(t, dir, opts)
		const base = 2000
		for k := needle.Key(1); k <= base; k++ {
			mustWrite(t, v, genNeedle(k, 0))
		}
		for k := needle.Key(2); k <= base; k += 2 {
			if _, err := v.Delete(k, volumetest.CookieOf(k), 0); err != nil {
				t.Fatal(err)
			}
		}
		if r := v.GarbageRatio(); r < 0.3 {
			t.Fatalf("garbage ratio %v after deleting half", r)
		}
		sizeBefore := v.Size()

		// state: generation of every acknowledged live key; -1 = deleted.
		// The writer owns keys 1 mod 4 (overwrites, deletes) and keys
		// above base; keys 3 mod 4 are never touched and must always read.
		var (
			mu    sync.Mutex
			state = map[needle.Key]int{}
			ops   atomic.Int64
			added atomic.Int64 // bytes the writer appended
			stop  atomic.Bool
			wg    sync.WaitGroup
		)
		for k := needle.Key(1); k <= base; k++ {
			if k%2 == 0 {
				state[k] = -1
			} else {
				state[k] = 0
			}
		}
		wg.Add(1)
		go func() { // writer
			defer wg.Done()
			r := rand.New(rand.NewPCG(1, 2))
			next := needle.Key(base + 1)
			for !stop.Load() {
				switch op := r.IntN(4); {
				case op == 0: // new key
					n := genNeedle(next, 0)
					if _, err := v.Write(n); err != nil {
						t.Error(err)
						return
					}
					added.Add(needle.RecordLen(n.Size, needle.Version3))
					mu.Lock()
					state[next] = 0
					mu.Unlock()
					next++
				case op == 1: // overwrite a 1 mod 4 key
					k := needle.Key(r.IntN(base/4))*4 + 1
					mu.Lock()
					gen := state[k] + 2
					mu.Unlock()
					n := genNeedle(k, gen)
					if _, err := v.Write(n); err != nil {
						t.Error(err)
						return
					}
					added.Add(needle.RecordLen(n.Size, needle.Version3))
					mu.Lock()
					state[k] = gen
					mu.Unlock()
				default: // delete a 1 mod 4 key or a new one
					k := needle.Key(r.IntN(base/4))*4 + 1
					if op == 3 && next > base+1 {
						k = base + 1 + needle.Key(r.IntN(int(next-base-1)))
					}
					_, err := v.Delete(k, volumetest.CookieOf(k), 0)
					mu.Lock()
					was := state[k]
					mu.Unlock()
					if was >= 0 && err != nil || was < 0 && !errors.Is(err, needle.ErrNotFound) {
						t.Errorf("delete %d (state %d): %v", k, was, err)
						return
					}
					if err == nil {
						added.Add(needle.RecordLen(0, needle.Version3))
					}
					mu.Lock()
					state[k] = -1
					mu.Unlock()
				}
				ops.Add(1)
			}
		}()
		for i := 0; i < 3; i++ {
			wg.Add(1)
			go func() { // reader
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(i), 9))
				buf := make([]byte, 0, 4096)
				for !stop.Load() {
					k := needle.Key(r.IntN(base+200)) + 1
					n, b, err := v.Read(k, volumetest.CookieOf(k), buf)
					buf = b[:0]
					switch {
					case err == nil:
						if err := checkGen(k, n); err != nil {
							t.Error(err)
							return
						}
					case k%4 == 3 && k <= base:
						t.Errorf("untouched key %d: %v", k, err)
						return
					case !errors.Is(err, needle.ErrNotFound):
						t.Errorf("key %d: %v", k, err)
						return
					}
				}
			}()
		}
		waitOps := func(n int64) {
			start := ops.Load()
			for ops.Load() < start+n && !t.Failed() {
				time.Sleep(time.Millisecond)
			}
		}
		waitOps(200)
		if err := v.Compact(); err != nil {
			t.Error(err)
		}
		waitOps(300)
		if err := v.CommitCompact(); err != nil {
			t.Error(err)
		}
		waitOps(200)
		stop.Store(true)
		wg.Wait()
		if t.Failed() {
			return
		}

		verify := func(v *Volume) {
			t.Helper()
			for k, gen := range state {
				n, _, err := v.Read(k, volumetest.CookieOf(k), nil)
				if gen < 0 {
					if !errors.Is(err, needle.ErrNotFound) {
						t.Fatalf("deleted key %d: %v", k, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("key %d generation %d: %v", k, gen, err)
				}
				if err := checkGen(k, n); err != nil || !strings.HasSuffix(string(n.Name), "-g"+strconv.Itoa(gen)) {
					t.Fatalf("key %d: want generation %d, got %q (%v)", k, gen, n.Name, err)
				}
			}
		}
		verify(v)
		// Without the vacuum the .dat would be sizeBefore+added bytes; the
		// deleted half of the first needles alone is more than 1000 records.
		if uncompacted := int64(sizeBefore) + added.Load(); int64(v.Size()) > uncompacted-1000*needle.RecordLen(0, needle.Version3) {
			t.Errorf(".dat is %d bytes after vacuum, %d without", v.Size(), uncompacted)
		}
		if info := v.Info(); info.CompactRevision != 1 {
			t.Errorf("compaction revision %d", info.CompactRevision)
		}
		if v.MaxFileKey() < base {
			t.Errorf("MaxFileKey %d went down", v.MaxFileKey())
		}
		t.Logf("%d ops during vacuum; %d+%d -> %d bytes, garbage ratio now %.3f", ops.Load(), sizeBefore, added.Load(), v.Size(), v.GarbageRatio())
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
		mustCheck(t, dir)
		v = openVol(t, dir, opts)
		verify(v)
		v.Close()
		mustCheck(t, dir)
	})
}

func TestVacuumStates(t *testing.T) {
	forEachMap(t, func(t *testing.T, opts Options) {
		dir := t.TempDir()
		v := createVol(t, dir, opts)
		for k := needle.Key(1); k <= 50; k++ {
			mustWrite(t, v, genNeedle(k, 0))
		}
		for k := needle.Key(1); k <= 50; k += 3 {
			v.Delete(k, volumetest.CookieOf(k), 0)
		}
		if err := v.CommitCompact(); !errors.Is(err, ErrCompacting) {
			t.Errorf("commit without compact: %v", err)
		}
		var inner []error
		hookFailpoint(t, func(point string) error {
			if point == "compact:done" {
				inner = append(inner, v.Compact(), v.CommitCompact())
			}
			return nil
		})
		if err := v.Compact(); err != nil {
			t.Fatal(err)
		}
		failpoint.Store(nil)
		for _, err := range inner {
			if !errors.Is(err, ErrCompacting) {
				t.Errorf("compact or commit during a compact: %v", err)
			}
		}
		for _, ext := range []string{".cpd", ".cpx"} {
			if _, err := os.Stat(filepath.Join(dir, "1"+ext)); err != nil {
				t.Errorf("after Compact: %v", err)
			}
		}
		if err := v.CleanupCompact(); err != nil {
			t.Fatal(err)
		}
		for _, ext := range []string{".cpd", ".cpx", ".cpb"} {
			if _, err := os.Stat(filepath.Join(dir, "1"+ext)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("1%s after CleanupCompact: %v", ext, err)
			}
		}
		if err := v.CommitCompact(); !errors.Is(err, ErrCompacting) {
			t.Errorf("commit after cleanup: %v", err)
		}
		if err := v.CleanupCompact(); err != nil {
			t.Errorf("second cleanup: %v", err)
		}
		for k := needle.Key(1); k <= 50; k++ {
			if k%3 == 1 {
				expectGone(t, v, k)
			} else if n, _, err := v.Read(k, volumetest.CookieOf(k), nil); err != nil || checkGen(k, n) != nil {
				t.Fatalf("key %d after cleanup: %v", k, err)
			}
		}
		if v.Info().CompactRevision != 0 {
			t.Errorf("revision %d after cleanup", v.Info().CompactRevision)
		}
		v.Close()
		mustCheck(t, dir)
	})
}

// TestVacuumDropsExpired checks that compaction leaves expired needles out.
func TestVacuumDropsExpired(t *testing.T) {
	dir := t.TempDir()
	ttl, _ := needle.ParseTTL("1m")
	v, err := Create(dir, "", 1, needle.Placement{}, ttl, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for k := needle.Key(1); k <= 10; k++ {
		n := volumetest.Needle(k, 0, 1000)
		if k <= 5 {
			n.LastModified = uint64(time.Now().Add(-time.Hour).Unix())
		}
		mustWrite(t, v, n)
	}
	before := v.Size()
	if err := v.Compact(); err != nil {
		t.Fatal(err)
	}
	if err := v.CommitCompact(); err != nil {
		t.Fatal(err)
	}
	if got := v.Size(); got >= before-5*1000 {
		t.Errorf("size %d after dropping 5 expired needles, was %d", got, before)
	}
	for k := needle.Key(6); k <= 10; k++ {
		expectNeedle(t, v, k, volumetest.Payload(k, 0, 1000))
	}
	v.Close()
	mustCheck(t, dir)
}

// TestGarbageRatio checks the ratio against a volume of equal needles, half
// of them deleted, and that a vacuum resets it and the counters.
func TestGarbageRatio(t *testing.T) {
	forEachMap(t, func(t *testing.T, opts Options) {
		dir := t.TempDir()
		v := createVol(t, dir, opts)
		if v.GarbageRatio() != 0 {
			t.Errorf("empty volume: ratio %v", v.GarbageRatio())
		}
		for k := needle.Key(1); k <= 100; k++ {
			mustWrite(t, v, volumetest.Needle(k, 0, 1000))
		}
		for k := needle.Key(1); k <= 100; k += 2 {
			v.Delete(k, volumetest.CookieOf(k), 0)
		}
		// Dead: 50 records of about 1090 bytes and 50 tombstones of 32,
		// out of 100 records and the tombstones.
		if r := v.GarbageRatio(); r < 0.5 || r > 0.53 {
			t.Errorf("ratio %v with half deleted", r)
		}
		if err := v.Compact(); err != nil {
			t.Fatal(err)
		}
		if err := v.CommitCompact(); err != nil {
			t.Fatal(err)
		}
		info := v.Info()
		if r := v.GarbageRatio(); r != 0 || info.FileCount != 50 || info.DeleteCount != 0 || info.DeletedByteCount != 0 {
			t.Errorf("after vacuum: ratio %v, info %+v", r, info)
		}
		if v.MaxFileKey() != 100 {
			t.Errorf("MaxFileKey %d after vacuum", v.MaxFileKey())
		}
		v.Close()
		mustCheck(t, dir)
	})
}
