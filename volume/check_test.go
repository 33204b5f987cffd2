package volume

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume/volumetest"
)

// writeSample fills volume 1 in dir with needles 1..20, overwrites 3 and
// deletes 4, and returns the offset of needle 10's record.
func writeSample(t *testing.T, dir string) (offset10 int64) {
	t.Helper()
	v := createVol(t, dir, Options{})
	for k := needle.Key(1); k <= 20; k++ {
		if k == 10 {
			offset10 = int64(v.Size())
		}
		mustWrite(t, v, volumetest.Needle(k, 0, volumetest.SizeOf(k)))
	}
	mustWrite(t, v, volumetest.Needle(3, 1, 33))
	if _, err := v.Delete(4, volumetest.CookieOf(4), 0); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	return offset10
}

func expectSample(t *testing.T, dir string) {
	t.Helper()
	v := openVol(t, dir, Options{})
	for k := needle.Key(1); k <= 20; k++ {
		switch k {
		case 3:
			expectNeedle(t, v, k, volumetest.Payload(k, 1, 33))
		case 4:
			expectGone(t, v, k)
		default:
			expectNeedle(t, v, k, volumetest.Payload(k, 0, volumetest.SizeOf(k)))
		}
	}
	v.Close()
}

func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x55
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheckFindsProblems(t *testing.T) {
	dir := t.TempDir()
	off10 := writeSample(t, dir)
	mustCheck(t, dir)
	datPath, idxPath := filepath.Join(dir, "1.dat"), filepath.Join(dir, "1.idx")

	// A flipped data byte of needle 10: a CRC error naming it.
	flipByte(t, datPath, off10+needle.HeaderSize+4+3)
	err := Check(dir)
	if !errors.Is(err, needle.ErrCRC) || !strings.Contains(err.Error(), "needle a ") {
		t.Errorf("Check after a data flip: %v", err)
	}
	v := openVol(t, dir, Options{})
	if _, _, err := v.Read(10, volumetest.CookieOf(10), nil); !errors.Is(err, needle.ErrCRC) {
		t.Errorf("read of the damaged needle: %v", err)
	}
	v.Close()
	flipByte(t, datPath, off10+needle.HeaderSize+4+3)
	mustCheck(t, dir)

	// A flipped key byte: the entry names a record of another key.
	flipByte(t, datPath, off10+11)
	if err := Check(dir); !errors.Is(err, needle.ErrCorrupt) {
		t.Errorf("Check after a key flip: %v", err)
	}
	flipByte(t, datPath, off10+11)

	// An entry past the end, and a partial entry.
	idx, _ := os.ReadFile(idxPath)
	bad := needle.IdxEntry{Key: 77, Offset: 1 << 20, Size: 10}.AppendTo(append([]byte(nil), idx...))
	os.WriteFile(idxPath, append(bad, 1, 2, 3), 0o644)
	err = Check(dir)
	if !errors.Is(err, needle.ErrCorrupt) || !strings.Contains(err.Error(), "past the end") || !strings.Contains(err.Error(), "inside an entry") {
		t.Errorf("Check with a bad .idx: %v", err)
	}
	os.WriteFile(idxPath, idx, 0o644)

	// A bad superblock.
	flipByte(t, datPath, 0)
	if err := Check(dir); !errors.Is(err, needle.ErrBadVersion) {
		t.Errorf("Check with a bad version: %v", err)
	}
	flipByte(t, datPath, 0)
	b, _ := os.ReadFile(datPath)
	b[3] = 9 // ttl unit
	os.WriteFile(datPath, b, 0o644)
	if err := Check(dir); !errors.Is(err, needle.ErrCorrupt) {
		t.Errorf("Check with a bad ttl: %v", err)
	}
	b[3] = 0
	os.WriteFile(datPath, b, 0o644)
	mustCheck(t, dir)
}

func TestFix(t *testing.T) {
	dir := t.TempDir()
	off10 := writeSample(t, dir)
	idxPath := filepath.Join(dir, "1.idx")
	good, _ := os.ReadFile(idxPath)

	os.WriteFile(idxPath, []byte("garbage, not an index at all!"), 0o644)
	if err := Fix(dir, "", 1); err != nil {
		t.Fatal(err)
	}
	fixed, _ := os.ReadFile(idxPath)
	if !bytes.Equal(fixed, good) {
		t.Errorf("fixed .idx differs from the one written:\n%x\n%x", fixed, good)
	}
	mustCheck(t, dir)
	expectSample(t, dir)

	os.Remove(idxPath)
	if err := Fix(dir, "", 1); err != nil {
		t.Fatal(err)
	}
	expectSample(t, dir)

	// A damaged needle is left out (and reported); the others are indexed.
	flipByte(t, filepath.Join(dir, "1.dat"), off10+needle.HeaderSize+4)
	err := Fix(dir, "", 1)
	if !errors.Is(err, needle.ErrCRC) {
		t.Errorf("Fix over a damaged needle: %v", err)
	}
	mustCheck(t, dir)
	v := openVol(t, dir, Options{})
	expectGone(t, v, 10)
	expectNeedle(t, v, 20, volumetest.Payload(20, 0, volumetest.SizeOf(20)))
	v.Close()

	// A torn tail is reported and not indexed.
	f, _ := os.OpenFile(filepath.Join(dir, "1.dat"), os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 1, 0, 1})
	f.Close()
	if err := Fix(dir, "", 1); !errors.Is(err, needle.ErrCorrupt) {
		t.Errorf("Fix over a torn tail: %v", err)
	}
	mustCheck(t, dir)
	if err := Fix(dir, "", 2); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Fix of a missing volume: %v", err)
	}
	if err := Fix(dir, "../up", 1); !errors.Is(err, ErrBadCollection) {
		t.Errorf("Fix with a bad collection: %v", err)
	}
}

func TestExport(t *testing.T) {
	dir := t.TempDir()
	v := createVol(t, dir, Options{})
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	recent := time.Now().Add(-time.Minute).Truncate(time.Second)
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	zw.Write([]byte(strings.Repeat("compressible ", 50)))
	zw.Close()
	needles := []*needle.Needle{
		{Key: 1, Cookie: volumetest.CookieOf(1), Data: []byte("plain"), Name: []byte("a.txt"), LastModified: uint64(old.Unix())},
		{Key: 2, Cookie: volumetest.CookieOf(2), Data: zbuf.Bytes(), Name: []byte("z.txt"), LastModified: uint64(recent.Unix())},
		{Key: 3, Cookie: volumetest.CookieOf(3), Data: []byte("no name"), LastModified: uint64(recent.Unix())},
		{Key: 4, Cookie: volumetest.CookieOf(4), Data: []byte("deleted"), Name: []byte("d.txt")},
		{Key: 5, Cookie: volumetest.CookieOf(5), Data: []byte("sneaky"), Name: []byte("../../etc/passwd"), LastModified: uint64(recent.Unix())},
	}
	needles[1].SetGzipped(true)
	for _, n := range needles {
		mustWrite(t, v, n)
	}
	v.Delete(4, volumetest.CookieOf(4), 0)
	// Written just before a crash: in the .dat, not yet in the .idx.
	mustWrite(t, v, &needle.Needle{Key: 6, Cookie: volumetest.CookieOf(6), Data: []byte("late"), Name: []byte("late.bin")})
	crashClose(v)
	idxBefore, _ := os.ReadFile(filepath.Join(dir, "1.idx"))

	type entry struct {
		content string
		mtime   time.Time
	}
	export := func(newer time.Time) map[string]entry {
		t.Helper()
		var buf bytes.Buffer
		if err := Export(&buf, dir, "", 1, newer); err != nil {
			t.Fatal(err)
		}
		out := map[string]entry{}
		tr := tar.NewReader(&buf)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			out[h.Name] = entry{string(b), h.ModTime}
		}
		return out
	}
	all := export(time.Time{})
	noName := needle.FileID{Volume: 1, Key: 3, Cookie: volumetest.CookieOf(3)}.String()
	want := map[string]string{
		"a.txt": "plain", "z.txt": strings.Repeat("compressible ", 50), noName: "no name", "passwd": "sneaky", "late.bin": "late",
	}
	if len(all) != len(want) {
		t.Errorf("exported %d files: %v", len(all), all)
	}
	for name, content := range want {
		if all[name].content != content {
			t.Errorf("%s: %q, want %q", name, all[name].content, content)
		}
	}
	if !all["a.txt"].mtime.Equal(old) || !all["z.txt"].mtime.Equal(recent) {
		t.Errorf("mtimes %v %v", all["a.txt"].mtime, all["z.txt"].mtime)
	}
	newer := export(old.Add(time.Hour))
	if _, ok := newer["a.txt"]; ok || len(newer) != 4 {
		t.Errorf("export newer than %v: %v", old.Add(time.Hour), newer)
	}
	// Export changes nothing.
	if idxAfter, _ := os.ReadFile(filepath.Join(dir, "1.idx")); !bytes.Equal(idxBefore, idxAfter) {
		t.Error("Export changed the .idx")
	}
	if err := Export(io.Discard, dir, "", 9, time.Time{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("export of a missing volume: %v", err)
	}
}
