package volume

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume/volumetest"
)

// skipBolt leaves bolt files out of a crash snapshot: copying one while it
// commits may tear it, and a missing map is rebuilt.
func skipBolt(name string) bool {
	return strings.HasSuffix(name, ".bdb") || strings.HasSuffix(name, ".cpb")
}

// crashBase writes needles 1..5 (the last one 300 bytes) into a closed
// volume in dir and returns where the last record starts and ends.
func crashBase(t *testing.T, dir string, opts Options) (start, end int64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	v := createVol(t, dir, opts)
	for k := needle.Key(1); k <= 4; k++ {
		mustWrite(t, v, volumetest.Needle(k, 0, volumetest.SizeOf(k)))
	}
	start = int64(v.Size())
	mustWrite(t, v, volumetest.Needle(5, 0, 300))
	end = int64(v.Size())
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	return start, end
}

// replaceFiles makes dst's files exactly those of src, with .dat patched.
func replaceFiles(t *testing.T, src, dst string, patch func(dat []byte) []byte, keepIdxEntries int) {
	t.Helper()
	os.RemoveAll(dst)
	copyFiles(t, src, dst, nil)
	datPath := filepath.Join(dst, "1.dat")
	b, err := os.ReadFile(datPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(datPath, patch(b), 0o644); err != nil {
		t.Fatal(err)
	}
	if keepIdxEntries >= 0 {
		if err := os.Truncate(filepath.Join(dst, "1.idx"), int64(keepIdxEntries)*needle.IdxEntrySize); err != nil {
			t.Fatal(err)
		}
	}
}

// expectRecovered opens dir and checks needles 1..4 are served and needle
// 5 is either served intact or (gone set) not at all; then writes, closes
// and checks.
func expectRecovered(t *testing.T, dir string, opts Options, what string, gone bool) {
	t.Helper()
	v, err := Open(dir, "", 1, opts)
	if err != nil {
		t.Fatalf("%s: open: %v", what, err)
	}
	for k := needle.Key(1); k <= 4; k++ {
		n, _, err := v.Read(k, volumetest.CookieOf(k), nil)
		if err != nil || !bytes.Equal(n.Data, volumetest.Payload(k, 0, volumetest.SizeOf(k))) {
			v.Close()
			t.Fatalf("%s: needle %d lost: %v", what, k, err)
		}
	}
	if n, _, err := v.Read(5, volumetest.CookieOf(5), nil); err == nil && (gone || !bytes.Equal(n.Data, volumetest.Payload(5, 0, 300))) {
		v.Close()
		t.Fatalf("%s: the damaged needle is served", what)
	}
	// The volume takes writes after recovery.
	mustWrite(t, v, volumetest.Needle(6, 0, 64))
	if err := v.Close(); err != nil {
		t.Fatalf("%s: close: %v", what, err)
	}
	if err := Check(dir); err != nil {
		t.Fatalf("%s: Check: %v", what, err)
	}
}

// TestCrashTornTail truncates the .dat at every byte of the last record,
// with and without that record's .idx entry.
func TestCrashTornTail(t *testing.T) {
	forEachMap(t, func(t *testing.T, opts Options) {
		base := filepath.Join(t.TempDir(), "base")
		start, end := crashBase(t, base, opts)
		work := filepath.Join(t.TempDir(), "work")
		for _, keep := range []int{-1, 4} { // .idx has the entry / lost it
			for cut := start; cut < end; cut++ {
				replaceFiles(t, base, work, func(b []byte) []byte { return b[:cut] }, keep)
				what := fmt.Sprintf("cut at %d (record %d..%d), idx entries %d", cut, start, end, keep)
				expectRecovered(t, work, opts, what, true)
				// The torn record was cut and needle 6 written in its place.
				if fi, _ := os.Stat(filepath.Join(work, "1.dat")); fi.Size() != start+needle.RecordLen(uint32(4+64+1+1+len("file-6.bin")+1+len("application/octet-stream")+5), 3) {
					t.Fatalf("%s: .dat is %d bytes", what, fi.Size())
				}
			}
		}
	})
}

// TestCrashCorruptTail flips one byte at every offset of the last record.
func TestCrashCorruptTail(t *testing.T) {
	forEachMap(t, func(t *testing.T, opts Options) {
		base := filepath.Join(t.TempDir(), "base")
		start, end := crashBase(t, base, opts)
		work := filepath.Join(t.TempDir(), "work")
		for _, keep := range []int{-1, 4} {
			for at := start; at < end; at++ {
				replaceFiles(t, base, work, func(b []byte) []byte { b[at] ^= 0xff; return b }, keep)
				expectRecovered(t, work, opts, fmt.Sprintf("byte %d flipped (record %d..%d), idx entries %d", at, start, end, keep), false)
			}
		}
	})
}

// TestCrashUnindexed captures the files at the instant a record is in the
// .dat but neither in the map nor in the .idx, for a write and a delete.
func TestCrashUnindexed(t *testing.T) {
	forEachMap(t, func(t *testing.T, opts Options) {
		dir := t.TempDir()
		snapWrite, snapDelete := filepath.Join(dir, "w"), filepath.Join(dir, "d")
		live := filepath.Join(dir, "live")
		os.Mkdir(live, 0o755)
		v := createVol(t, live, opts)
		for k := needle.Key(1); k <= 20; k++ {
			mustWrite(t, v, volumetest.Needle(k, 0, volumetest.SizeOf(k)))
		}
		v.Sync()
		hookFailpoint(t, func(point string) error {
			switch point {
			case "write:dat":
				copyFiles(t, live, snapWrite, skipBolt)
			case "delete:dat":
				copyFiles(t, live, snapDelete, skipBolt)
			}
			return nil
		})
		mustWrite(t, v, volumetest.Needle(21, 0, 500))
		if _, err := v.Delete(3, volumetest.CookieOf(3), 0); err != nil {
			t.Fatal(err)
		}
		failpoint.Store(nil)
		v.Close()

		w := openVol(t, snapWrite, opts)
		expectNeedle(t, w, 21, volumetest.Payload(21, 0, 500))
		expectNeedle(t, w, 3, volumetest.Payload(3, 0, volumetest.SizeOf(3)))
		w.Close()
		mustCheck(t, snapWrite)
		d := openVol(t, snapDelete, opts)
		expectNeedle(t, d, 21, volumetest.Payload(21, 0, 500))
		expectGone(t, d, 3)
		d.Close()
		mustCheck(t, snapDelete)

		// A failpoint error stops the write after the .dat append; the
		// crashed volume indexes the record at the next load.
		hookFailpoint(t, func(point string) error { return errors.New("crash") })
		if _, err := v.Write(volumetest.Needle(99, 0, 10)); err == nil {
			t.Fatal("write on a closed volume succeeded")
		}
		failpoint.Store(nil)
		v = openVol(t, live, opts)
		hookFailpoint(t, func(point string) error { return errors.New("crash") })
		if _, err := v.Write(volumetest.Needle(22, 0, 10)); err == nil {
			t.Fatal("failpoint did not stop the write")
		}
		failpoint.Store(nil)
		crashClose(v)
		v = openVol(t, live, opts)
		expectNeedle(t, v, 22, volumetest.Payload(22, 0, 10))
		expectGone(t, v, 3)
		v.Close()
		mustCheck(t, live)
	})
}

// TestCrashIdx covers a partial trailing .idx entry, a lost .idx tail, a
// missing .idx, and trailing entries that name records the .dat lost.
func TestCrashIdx(t *testing.T) {
	forEachMap(t, func(t *testing.T, opts Options) {
		dir := t.TempDir()
		v := createVol(t, dir, opts)
		for k := needle.Key(1); k <= 30; k++ {
			mustWrite(t, v, volumetest.Needle(k, 0, volumetest.SizeOf(k)))
		}
		v.Delete(4, volumetest.CookieOf(4), 0)
		v.Close()
		idxPath := filepath.Join(dir, "1.idx")
		all := func(what string) {
			t.Helper()
			v := openVol(t, dir, opts)
			for k := needle.Key(1); k <= 30; k++ {
				if k == 4 {
					expectGone(t, v, k)
				} else {
					expectNeedle(t, v, k, volumetest.Payload(k, 0, volumetest.SizeOf(k)))
				}
			}
			v.Close()
			fi, _ := os.Stat(idxPath)
			if fi.Size() != 31*needle.IdxEntrySize {
				t.Errorf("%s: .idx is %d bytes after recovery", what, fi.Size())
			}
			mustCheck(t, dir)
		}
		f, _ := os.OpenFile(idxPath, os.O_WRONLY|os.O_APPEND, 0)
		f.Write([]byte{0, 0, 0, 0, 0, 0, 0})
		f.Close()
		all("partial entry")
		os.Truncate(idxPath, 10*needle.IdxEntrySize+5)
		all("lost tail with a partial entry")
		os.Remove(idxPath)
		all("missing .idx")
		// Entries naming records past the .dat's end (the .dat lost them).
		b, _ := os.ReadFile(idxPath)
		for k := needle.Key(40); k < 43; k++ {
			b = needle.IdxEntry{Key: k, Offset: 1 << 20, Size: 100}.AppendTo(b)
		}
		os.WriteFile(idxPath, b, 0o644)
		all("entries past the end")
	})
}

// TestCrashCompactionLeftovers captures the files at each step of a
// compaction commit and checks that a load settles them without losing a
// needle: both .cpd and .cpx (not committed), only .cpx (the .dat rename
// happened), only .cpd (Compact never finished).
func TestCrashCompactionLeftovers(t *testing.T) {
	forEachMap(t, func(t *testing.T, opts Options) {
		dir := t.TempDir()
		live := filepath.Join(dir, "live")
		os.Mkdir(live, 0o755)
		v := createVol(t, live, opts)
		for k := needle.Key(1); k <= 40; k++ {
			mustWrite(t, v, volumetest.Needle(k, 0, volumetest.SizeOf(k)))
		}
		for k := needle.Key(2); k <= 40; k += 2 {
			v.Delete(k, volumetest.CookieOf(k), 0)
		}
		if err := v.Compact(); err != nil {
			t.Fatal(err)
		}
		// Appended between Compact and Commit: the catch-up copies them.
		mustWrite(t, v, volumetest.Needle(41, 0, 77))
		v.Delete(1, volumetest.CookieOf(1), 0)
		snaps := map[string]string{
			"commit:synced":      filepath.Join(dir, "both"),
			"commit:renamed-dat": filepath.Join(dir, "cpx"),
		}
		hookFailpoint(t, func(point string) error {
			if snap, ok := snaps[point]; ok {
				copyFiles(t, live, snap, skipBolt)
			}
			return nil
		})
		if err := v.CommitCompact(); err != nil {
			t.Fatal(err)
		}
		failpoint.Store(nil)
		onlyCpd := filepath.Join(dir, "cpd")
		copyFiles(t, live, onlyCpd, nil)
		b, _ := os.ReadFile(filepath.Join(live, "1.dat"))
		os.WriteFile(filepath.Join(onlyCpd, "1.cpd"), b[:len(b)/2], 0o644)

		want := func(v *Volume) {
			t.Helper()
			for k := needle.Key(1); k <= 40; k++ {
				if k%2 == 0 || k == 1 {
					expectGone(t, v, k)
				} else {
					expectNeedle(t, v, k, volumetest.Payload(k, 0, volumetest.SizeOf(k)))
				}
			}
			expectNeedle(t, v, 41, volumetest.Payload(41, 0, 77))
		}
		want(v)
		for _, snap := range []string{snaps["commit:synced"], snaps["commit:renamed-dat"], onlyCpd} {
			ents, _ := os.ReadDir(snap)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Logf("%s: %v", filepath.Base(snap), names)
			s := openVol(t, snap, opts)
			want(s)
			rev := s.Info().CompactRevision
			s.Close()
			for _, ext := range []string{".cpd", ".cpx", ".cpb"} {
				if _, err := os.Stat(filepath.Join(snap, "1"+ext)); err == nil {
					t.Errorf("%s: 1%s left after load", snap, ext)
				}
			}
			if wantRev := uint16(1); filepath.Base(snap) == "both" && rev != 0 || filepath.Base(snap) != "both" && rev != wantRev {
				t.Errorf("%s: compaction revision %d", snap, rev)
			}
			mustCheck(t, snap)
		}

		// A commit failing between the renames reloads from disk in place.
		if err := v.Compact(); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, v, volumetest.Needle(43, 0, 50))
		hookFailpoint(t, func(point string) error {
			if point == "commit:renamed-dat" {
				return errors.New("injected")
			}
			return nil
		})
		if err := v.CommitCompact(); err == nil {
			t.Fatal("commit with an injected failure succeeded")
		}
		failpoint.Store(nil)
		want(v)
		expectNeedle(t, v, 43, volumetest.Payload(43, 0, 50))
		if v.Info().CompactRevision != 2 {
			t.Errorf("revision %d after the reload", v.Info().CompactRevision)
		}
		v.Close()
		mustCheck(t, live)
	})
}
