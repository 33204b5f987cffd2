package volume

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume/volumetest"
)

// Helpers shared by the storage tests.

var mapKinds = []MapKind{MapMemory, MapBolt}

// forEachMap runs fn once per needle map kind.
func forEachMap(t *testing.T, fn func(t *testing.T, opts Options)) {
	t.Helper()
	for _, k := range mapKinds {
		t.Run(string(k), func(t *testing.T) { fn(t, Options{MapKind: k}) })
	}
}

func createVol(t testing.TB, dir string, opts Options) *Volume {
	t.Helper()
	checkAtCleanup(t, dir)
	v, err := Create(dir, "", 1, needle.Placement{}, needle.TTL{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func openVol(t testing.TB, dir string, opts Options) *Volume {
	t.Helper()
	checkAtCleanup(t, dir)
	v, err := Open(dir, "", 1, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// checked holds, per test and directory, whether the invariant checker
// runs on the directory when the test ends (false: the test leaves it
// damaged on purpose, leaveUnchecked).
var checked sync.Map // checkKey -> *atomic.Bool

type checkKey struct {
	t   testing.TB
	dir string
}

// checkAtCleanup registers Check(dir) to run once the test ends, after
// every volume the fixtures opened in dir is closed (cleanups run last
// registered first, and this one is registered before the first volume's
// Close). Every fixture that opens a volume calls it; it registers once
// per test and directory.
func checkAtCleanup(t testing.TB, dir string) {
	t.Helper()
	on := new(atomic.Bool)
	on.Store(true)
	if _, loaded := checked.LoadOrStore(checkKey{t, dir}, on); loaded {
		return
	}
	t.Cleanup(func() {
		checked.Delete(checkKey{t, dir})
		if !on.Load() || t.Failed() {
			return
		}
		if _, err := os.Stat(dir); err != nil {
			return // removed by the test
		}
		if err := Check(dir); err != nil {
			t.Errorf("Check(%s) after the test: %v", dir, err)
		}
	})
}

// eventually polls cond every 20 ms until it holds, failing the test with
// what() when it still does not after timeout.
func eventually(t testing.TB, timeout time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leaveUnchecked tells the cleanup's checker that the test leaves dir
// damaged on purpose.
func leaveUnchecked(t testing.TB, dir string) {
	if on, ok := checked.Load(checkKey{t, dir}); ok {
		on.(*atomic.Bool).Store(false)
	}
}

func mustWrite(t testing.TB, v *Volume, n *needle.Needle) {
	t.Helper()
	size, err := v.Write(n)
	if err != nil {
		t.Fatalf("write %x: %v", uint64(n.Key), err)
	}
	if int(size) != len(n.Data) {
		t.Fatalf("write %x: size %d, want %d", uint64(n.Key), size, len(n.Data))
	}
}

// expectNeedle reads key k and compares its data with want.
func expectNeedle(t testing.TB, v *Volume, k needle.Key, want []byte) {
	t.Helper()
	n, _, err := v.Read(k, volumetest.CookieOf(k), nil)
	if err != nil {
		t.Fatalf("read %x: %v", uint64(k), err)
	}
	if !bytes.Equal(n.Data, want) {
		t.Fatalf("read %x: %d bytes differ from the %d written", uint64(k), len(n.Data), len(want))
	}
}

// expectGone checks that key k reads as not found.
func expectGone(t testing.TB, v *Volume, k needle.Key) {
	t.Helper()
	_, _, err := v.Read(k, volumetest.CookieOf(k), nil)
	if !errors.Is(err, needle.ErrNotFound) && !errors.Is(err, needle.ErrDeleted) {
		t.Fatalf("read %x: err %v, want not found", uint64(k), err)
	}
}

func mustCheck(t testing.TB, dir string) {
	t.Helper()
	if err := Check(dir); err != nil {
		t.Fatalf("Check(%s): %v", dir, err)
	}
}

// crashClose drops the volume as kill -9 would: the .idx buffer is lost,
// nothing is flushed or fsynced. (A bolt map commits what it holds, which a
// crash may or may not have done.)
func crashClose(v *Volume) {
	v.mu.Lock()
	if v.flushTimer != nil {
		v.flushTimer.Stop()
	}
	v.fileMu.Lock()
	if !v.closed {
		v.closed = true
		v.idxBuf = nil
		v.closeFilesLocked()
	}
	v.fileMu.Unlock()
	v.mu.Unlock()
	if v.gsync != nil {
		v.gsync.stop()
	}
}

// copyFiles copies the regular files of src into dst (created), skipping
// names for which skip returns true.
func copyFiles(t testing.TB, src, dst string, skip func(name string) bool) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || (skip != nil && skip(e.Name())) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// hookFailpoint installs fn as the failpoint hook for the test.
func hookFailpoint(t testing.TB, fn func(point string) error) {
	t.Helper()
	failpoint.Store(&fn)
	t.Cleanup(func() { failpoint.Store(nil) })
}

func TestFileBaseAndCollections(t *testing.T) {
	if got := FileBase("/d", "", 7); got != "/d/7" {
		t.Errorf("FileBase = %q", got)
	}
	if got := FileBase("/d", "pics", 7); got != "/d/pics_7" {
		t.Errorf("FileBase = %q", got)
	}
	for _, ok := range []string{"", "a", "A-b_9", "x_y_z"} {
		if err := CheckCollection(ok); err != nil {
			t.Errorf("CheckCollection(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"../x", "a/b", "a b", ".", "é", string(make([]byte, 129))} {
		if err := CheckCollection(bad); !errors.Is(err, ErrBadCollection) {
			t.Errorf("CheckCollection(%q) = %v, want ErrBadCollection", bad, err)
		}
	}
	for name, want := range map[string]*volumeFile{
		"1.dat": {"", 1}, "pics_12.dat": {"pics", 12}, "a_b_3.dat": {"a_b", 3},
		"0.dat": nil, "x.dat": nil, "_3.dat": nil, "3.idx": nil, "a b_3.dat": nil, "01.dat": nil, "1_.dat": nil,
	} {
		got, ok := parseDatName(name)
		if (want == nil) != !ok || (ok && got != *want) {
			t.Errorf("parseDatName(%q) = %+v, %v", name, got, ok)
		}
	}
}

// TestLayout checks byte by byte that a volume written here has the
// on-disk format of SPEC §9.
func TestLayout(t *testing.T) {
	dir := t.TempDir()
	rp, _ := needle.ParsePlacement("010")
	ttl, _ := needle.ParseTTL("3d")
	v, err := Create(dir, "", 5, rp, ttl, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := &needle.Needle{
		Key: 0x01, Cookie: 0x12345678, Data: []byte("hello"),
		Name: []byte("a.txt"), Mime: []byte("text/plain"),
		LastModified: 0x0102030405, AppendAtNs: 0x1122334455667788,
	}
	mustWrite(t, v, n)
	if _, err := v.Delete(0x01, 0x12345678, 0x99); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}

	var want bytes.Buffer
	// Superblock: version 3, replication 010 = 10, ttl 3 days, revision 0.
	want.Write([]byte{3, 10, 3, 3, 0, 0, 0, 0})
	// Record at offset 8.
	body := []byte{0, 0, 0, 5}
	body = append(body, "hello"...)
	body = append(body, 0x02|0x04|0x08, 5)
	body = append(body, "a.txt"...)
	body = append(body, 10)
	body = append(body, "text/plain"...)
	body = append(body, 1, 2, 3, 4, 5)
	want.Write([]byte{0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 0, 0, 0, 1})
	binary.Write(&want, binary.BigEndian, uint32(len(body)))
	want.Write(body)
	c := crc32.Checksum([]byte("hello"), crc32.MakeTable(crc32.Castagnoli))
	binary.Write(&want, binary.BigEndian, ((c>>15)|(c<<17))+0xa282ead8)
	binary.Write(&want, binary.BigEndian, uint64(0x1122334455667788))
	want.Write(make([]byte, 8-(16+len(body)+4+8)%8))
	tombAt := want.Len()
	// Tombstone: header with size 0, checksum 0, timestamp, 4 bytes padding.
	want.Write([]byte{0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0})
	want.Write([]byte{0, 0, 0, 0})
	binary.Write(&want, binary.BigEndian, uint64(0x99))
	want.Write([]byte{0, 0, 0, 0})

	dat, err := os.ReadFile(filepath.Join(dir, "5.dat"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dat, want.Bytes()) {
		t.Errorf(".dat\n got %x\nwant %x", dat, want.Bytes())
	}
	var wantIdx bytes.Buffer
	wantIdx.Write([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1})
	binary.Write(&wantIdx, binary.BigEndian, uint32(len(body)))
	wantIdx.Write([]byte{0, 0, 0, 0, 0, 0, 0, 1})
	binary.Write(&wantIdx, binary.BigEndian, uint32(tombAt/8))
	wantIdx.Write([]byte{0xff, 0xff, 0xff, 0xff})
	idx, err := os.ReadFile(filepath.Join(dir, "5.idx"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(idx, wantIdx.Bytes()) {
		t.Errorf(".idx\n got %x\nwant %x", idx, wantIdx.Bytes())
	}
	mustCheck(t, dir)
}

func TestWriteReadDelete(t *testing.T) {
	forEachMap(t, func(t *testing.T, opts Options) {
		dir := t.TempDir()
		v := createVol(t, dir, opts)
		const count = 300
		for k := needle.Key(1); k <= count; k++ {
			mustWrite(t, v, volumetest.Needle(k, 0, volumetest.SizeOf(k)))
		}
		// Overwrite every 10th, delete every 7th.
		for k := needle.Key(10); k <= count; k += 10 {
			mustWrite(t, v, volumetest.Needle(k, 1, volumetest.SizeOf(k)+5))
		}
		deleted := map[needle.Key]bool{}
		for k := needle.Key(7); k <= count; k += 7 {
			gen, size := 0, volumetest.SizeOf(k)
			if k%10 == 0 {
				gen, size = 1, size+5
			}
			got, err := v.Delete(k, volumetest.CookieOf(k), 0)
			if err != nil || int(got) != len(volumetest.Payload(k, gen, size)) {
				t.Fatalf("delete %x: %d, %v", uint64(k), got, err)
			}
			deleted[k] = true
		}
		check := func(v *Volume) {
			t.Helper()
			for k := needle.Key(1); k <= count; k++ {
				switch {
				case deleted[k]:
					expectGone(t, v, k)
				case k%10 == 0:
					expectNeedle(t, v, k, volumetest.Payload(k, 1, volumetest.SizeOf(k)+5))
				default:
					expectNeedle(t, v, k, volumetest.Payload(k, 0, volumetest.SizeOf(k)))
				}
			}
		}
		check(v)

		// Errors.
		if _, err := v.Delete(7, volumetest.CookieOf(7), 0); !errors.Is(err, needle.ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
		if _, err := v.Delete(1, volumetest.CookieOf(1)+1, 0); !errors.Is(err, needle.ErrCookieMismatch) {
			t.Errorf("delete with wrong cookie: %v", err)
		}
		expectNeedle(t, v, 1, volumetest.Payload(1, 0, volumetest.SizeOf(1)))
		if _, _, err := v.Read(1, volumetest.CookieOf(1)+1, nil); !errors.Is(err, needle.ErrCookieMismatch) {
			t.Errorf("read with wrong cookie: %v", err)
		}
		if _, _, err := v.Read(count+1, 0, nil); !errors.Is(err, needle.ErrNotFound) {
			t.Errorf("read of a missing key: %v", err)
		}
		// buf is reused when large enough.
		buf := make([]byte, 0, 8192)
		n, got, err := v.Read(2, volumetest.CookieOf(2), buf)
		if err != nil || &got[:1][0] != &buf[:1][0] || string(n.Name) != "file-2.bin" || string(n.Mime) != "application/octet-stream" {
			t.Errorf("read into buf: %v, reused %v, name %q", err, &got[:1][0] == &buf[:1][0], n.Name)
		}

		info := v.Info()
		nDeleted := uint64(len(deleted))
		if info.FileCount != count+count/10 || info.DeleteCount != count/10+nDeleted || info.Size != v.Size() || info.Version != 3 {
			t.Errorf("info %+v", info)
		}
		if v.MaxFileKey() != count {
			t.Errorf("MaxFileKey %d", v.MaxFileKey())
		}
		if r := v.GarbageRatio(); r <= 0 || r >= 1 {
			t.Errorf("garbage ratio %v", r)
		}

		// Reopen after a clean close, and again after a crash.
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
		mustCheck(t, dir)
		v = openVol(t, dir, opts)
		check(v)
		if got := v.Info(); got.FileCount != info.FileCount || got.DeleteCount != info.DeleteCount || got.DeletedByteCount != info.DeletedByteCount {
			t.Errorf("after reopen info %+v, was %+v", got, info)
		}
		mustWrite(t, v, volumetest.Needle(count+1, 0, 100))
		crashClose(v)
		v = openVol(t, dir, opts)
		check(v)
		expectNeedle(t, v, count+1, volumetest.Payload(count+1, 0, 100))
		v.Close()
		mustCheck(t, dir)
	})
}

func TestReadOnlyAndLimits(t *testing.T) {
	dir := t.TempDir()
	v := createVol(t, dir, Options{})
	mustWrite(t, v, volumetest.Needle(1, 0, 100))
	v.SetReadOnly(true)
	if _, err := v.Write(volumetest.Needle(2, 0, 100)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("write to marked volume: %v", err)
	}
	if _, err := v.Delete(1, volumetest.CookieOf(1), 0); !errors.Is(err, ErrReadOnly) {
		t.Errorf("delete from marked volume: %v", err)
	}
	v.SetReadOnly(false)
	v.SetSizeLimit(v.Size())
	if !v.ReadOnly() || !v.Info().ReadOnly {
		t.Error("volume at its size limit is not read-only")
	}
	if _, err := v.Write(volumetest.Needle(2, 0, 100)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("write at size limit: %v", err)
	}
	if _, err := v.Delete(1, volumetest.CookieOf(1), 0); err != nil {
		t.Errorf("delete at size limit: %v", err)
	}
	v.SetSizeLimit(0)
	// Pretend the volume is near the 32 GiB offset limit.
	v.mu.Lock()
	saved := v.end.Load()
	v.end.Store(needle.MaxVolumeBytes - 64)
	v.mu.Unlock()
	if _, err := v.Write(volumetest.Needle(3, 0, 100)); !errors.Is(err, ErrVolumeFull) {
		t.Errorf("write past the offset limit: %v", err)
	}
	v.mu.Lock()
	v.end.Store(saved)
	v.mu.Unlock()
	mustWrite(t, v, volumetest.Needle(3, 0, 100))
	v.Close()
	if _, err := v.Write(volumetest.Needle(4, 0, 100)); !errors.Is(err, ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
	if _, _, err := v.Read(3, volumetest.CookieOf(3), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	if _, err := Create(dir, "", 1, needle.Placement{}, needle.TTL{}, Options{}); !errors.Is(err, ErrVolumeExists) {
		t.Errorf("create over an existing volume: %v", err)
	}
	if _, err := Create(dir, "../x", 2, needle.Placement{}, needle.TTL{}, Options{}); !errors.Is(err, ErrBadCollection) {
		t.Errorf("create with a bad collection: %v", err)
	}
	if _, err := Open(dir, "", 1, Options{MapKind: "btree"}); !errors.Is(err, ErrBadOptions) {
		t.Errorf("open with a bad map kind: %v", err)
	}
	if _, err := Open(dir, "", 99, Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("open of a missing volume: %v", err)
	}
	mustCheck(t, dir)
}

func TestTTL(t *testing.T) {
	dir := t.TempDir()
	ttl, _ := needle.ParseTTL("1m")
	v, err := Create(dir, "", 1, needle.Placement{}, ttl, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	old := volumetest.Needle(1, 0, 10)
	old.LastModified = uint64(time.Now().Add(-2 * time.Minute).Unix())
	fresh := volumetest.Needle(2, 0, 10)
	own := volumetest.Needle(3, 0, 10) // its own ttl overrides the volume's
	own.LastModified = old.LastModified
	own.TTL, _ = needle.ParseTTL("1h")
	byAppend := volumetest.Needle(4, 0, 10) // no LastModified: the append time counts
	byAppend.LastModified = 0
	byAppend.AppendAtNs = uint64(time.Now().Add(-time.Hour).UnixNano())
	for _, n := range []*needle.Needle{old, fresh, own, byAppend} {
		mustWrite(t, v, n)
	}
	expectGone(t, v, 1)
	expectNeedle(t, v, 2, fresh.Data)
	expectNeedle(t, v, 3, own.Data)
	expectGone(t, v, 4)
	if v.TTL() != ttl || v.Info().TTL != "1m" {
		t.Errorf("ttl %v, info %q", v.TTL(), v.Info().TTL)
	}
}

// TestVersion2 writes into a version 2 volume (records without timestamps)
// and loads a version 1 volume read-only.
func TestOlderVersions(t *testing.T) {
	for _, version := range []uint8{needle.Version1, needle.Version2} {
		t.Run(fmt.Sprint("v", version), func(t *testing.T) {
			dir := t.TempDir()
			var dat bytes.Buffer
			dat.Write([]byte{version, 1, 0, 0, 0, 7, 0, 0})
			var entries []byte
			for k := needle.Key(1); k <= 3; k++ {
				off := dat.Len()
				data := volumetest.Payload(k, 0, 50)
				var rec []byte
				if version == needle.Version1 {
					rec = binary.BigEndian.AppendUint32(rec, uint32(volumetest.CookieOf(k)))
					rec = binary.BigEndian.AppendUint64(rec, uint64(k))
					rec = binary.BigEndian.AppendUint32(rec, uint32(len(data)))
					rec = append(rec, data...)
					rec = binary.BigEndian.AppendUint32(rec, needle.DataChecksum(data))
					rec = append(rec, make([]byte, needle.RecordLen(uint32(len(data)), version)-int64(len(rec)))...)
				} else {
					n := volumetest.Needle(k, 0, 50)
					var err error
					if rec, err = n.AppendRecord(nil, version); err != nil {
						t.Fatal(err)
					}
				}
				dat.Write(rec)
				h, _ := needle.ParseHeader(rec)
				entries = needle.IdxEntry{Key: k, Offset: uint32(off / 8), Size: h.Size}.AppendTo(entries)
			}
			os.WriteFile(filepath.Join(dir, "1.dat"), dat.Bytes(), 0o644)
			os.WriteFile(filepath.Join(dir, "1.idx"), entries, 0o644)
			v := openVol(t, dir, Options{})
			if v.Version() != version || v.Placement().String() != "001" || v.Info().CompactRevision != 7 {
				t.Fatalf("version %d placement %s info %+v", v.Version(), v.Placement(), v.Info())
			}
			for k := needle.Key(1); k <= 3; k++ {
				expectNeedle(t, v, k, volumetest.Payload(k, 0, 50))
			}
			if version == needle.Version1 {
				if !v.ReadOnly() {
					t.Error("version 1 volume is writable")
				}
				if _, err := v.Write(volumetest.Needle(9, 0, 5)); !errors.Is(err, ErrReadOnly) {
					t.Errorf("write to v1: %v", err)
				}
				if _, err := v.Delete(1, volumetest.CookieOf(1), 0); !errors.Is(err, ErrReadOnly) {
					t.Errorf("delete from v1: %v", err)
				}
				return
			}
			mustWrite(t, v, volumetest.Needle(9, 0, 500))
			if _, err := v.Delete(2, volumetest.CookieOf(2), 0); err != nil {
				t.Fatal(err)
			}
			v.Close()
			mustCheck(t, dir)
			b, _ := os.ReadFile(filepath.Join(dir, "1.dat"))
			// The new record is version 2: no timestamp, padded accordingly.
			wantLen := int64(dat.Len()) + needle.RecordLen(uint32(4+500+1+1+len("file-9.bin")+1+len("application/octet-stream")+5), 2) + needle.RecordLen(0, 2)
			if int64(len(b)) != wantLen {
				t.Errorf(".dat is %d bytes, want %d", len(b), wantLen)
			}
			v = openVol(t, dir, Options{})
			expectNeedle(t, v, 9, volumetest.Payload(9, 0, 500))
			expectGone(t, v, 2)
		})
	}
}

// TestGroupCommit runs concurrent writers and deleters on an Fsync volume.
func TestGroupCommit(t *testing.T) {
	forEachMap(t, func(t *testing.T, opts Options) {
		opts.Fsync = true
		dir := t.TempDir()
		v := createVol(t, dir, opts)
		const writers, each = 8, 40
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					k := needle.Key(w*each + i + 1)
					if _, err := v.Write(volumetest.Needle(k, 0, 200)); err != nil {
						t.Error(err)
						return
					}
					if i%4 == 0 {
						if _, err := v.Delete(k, volumetest.CookieOf(k), 0); err != nil {
							t.Error(err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		v.Close()
		v = openVol(t, dir, opts)
		for k := needle.Key(1); k <= writers*each; k++ {
			if (int(k)-1)%each%4 == 0 {
				expectGone(t, v, k)
			} else {
				expectNeedle(t, v, k, volumetest.Payload(k, 0, 200))
			}
		}
		v.Close()
		mustCheck(t, dir)
	})
}

// TestIdxFlushTimer checks that buffered .idx entries reach the file on
// their own.
func TestIdxFlushTimer(t *testing.T) {
	dir := t.TempDir()
	v := createVol(t, dir, Options{})
	mustWrite(t, v, volumetest.Needle(1, 0, 10))
	var size int64
	eventually(t, 10*time.Second, func() string { return fmt.Sprintf(".idx still %d bytes", size) }, func() bool {
		fi, err := os.Stat(filepath.Join(dir, "1.idx"))
		if err != nil {
			t.Fatal(err)
		}
		size = fi.Size()
		return size == needle.IdxEntrySize
	})
	if err := v.Sync(); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, dir)
}

// TestBoltWatermark checks that a reopened bolt volume resumes from its
// watermark, and that a watermark past the .idx makes it rebuild.
func TestBoltWatermark(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MapKind: MapBolt}
	v := createVol(t, dir, opts)
	for k := needle.Key(1); k <= 50; k++ {
		mustWrite(t, v, volumetest.Needle(k, 0, 20))
	}
	v.Close()
	v = openVol(t, dir, opts)
	wm := v.nm.(needle.IdxWatermarker).IdxWatermark()
	if wm.Offset != 50*needle.IdxEntrySize || wm.Stats.FileCount != 50 {
		t.Errorf("watermark %+v", wm)
	}
	v.Close()
	// Lose the .idx tail behind the map's back: the map is ahead and must
	// be rebuilt (the .dat scan restores the entries).
	idxPath := filepath.Join(dir, "1.idx")
	if err := os.Truncate(idxPath, 10*needle.IdxEntrySize); err != nil {
		t.Fatal(err)
	}
	v = openVol(t, dir, opts)
	for k := needle.Key(1); k <= 50; k++ {
		expectNeedle(t, v, k, volumetest.Payload(k, 0, 20))
	}
	if info := v.Info(); info.FileCount != 50 || info.DeleteCount != 0 {
		t.Errorf("info after rebuild %+v", info)
	}
	v.Close()
	if fi, err := os.Stat(idxPath); err != nil || fi.Size() != 50*needle.IdxEntrySize {
		t.Fatalf(".idx after recovery: %v, %v", fi, err)
	}
	mustCheck(t, dir)
}

// TestSuperBlockExtra loads a volume whose superblock names extra bytes
// (as SeaweedFS may write): records start after them, rounded up to 8, and
// a compaction keeps them.
func TestSuperBlockExtra(t *testing.T) {
	dir := t.TempDir()
	head := []byte{3, 0, 0, 0, 0, 0, 0, 3, 'x', 'y', 'z'}
	os.WriteFile(filepath.Join(dir, "1.dat"), head, 0o644)
	v := openVol(t, dir, Options{})
	if v.Size() != 16 {
		t.Fatalf("empty volume with 3 extra bytes: size %d, want 16", v.Size())
	}
	for k := needle.Key(1); k <= 5; k++ {
		mustWrite(t, v, volumetest.Needle(k, 0, volumetest.SizeOf(k)))
	}
	v.Delete(2, volumetest.CookieOf(2), 0)
	v.Close()
	mustCheck(t, dir)
	v = openVol(t, dir, Options{})
	if err := v.Compact(); err != nil {
		t.Fatal(err)
	}
	if err := v.CommitCompact(); err != nil {
		t.Fatal(err)
	}
	for k := needle.Key(1); k <= 5; k++ {
		if k == 2 {
			expectGone(t, v, k)
		} else {
			expectNeedle(t, v, k, volumetest.Payload(k, 0, volumetest.SizeOf(k)))
		}
	}
	v.Close()
	b, _ := os.ReadFile(filepath.Join(dir, "1.dat"))
	if !bytes.Equal(b[:11], []byte{3, 0, 0, 0, 0, 1, 0, 3, 'x', 'y', 'z'}) {
		t.Errorf("superblock after compaction: %x", b[:16])
	}
	mustCheck(t, dir)
	if idx, _ := os.ReadFile(filepath.Join(dir, "1.idx")); binary.BigEndian.Uint32(idx[8:12]) != 2 {
		t.Errorf("first record at unit %d, want 2 (offset 16)", binary.BigEndian.Uint32(idx[8:12]))
	}
}

// An .idx entry in the middle of the file (the load checks only the last
// ones) that claims a record longer than the .dat holds makes that read
// fail with ErrCorrupt, without a buffer of the claimed size; the other
// needles read as before.
func TestReadDamagedIdxEntry(t *testing.T) {
	forEachMap(t, func(t *testing.T, opts Options) {
		dir := t.TempDir()
		v := createVol(t, dir, opts)
		leaveUnchecked(t, dir) // its .idx is damaged on purpose
		for k := needle.Key(1); k <= 3; k++ {
			if _, err := v.Write(volumetest.Needle(k, 0, volumetest.SizeOf(k))); err != nil {
				t.Fatal(err)
			}
		}
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "1.idx")
		idx, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		e, err := needle.ParseIdxEntry(idx[needle.IdxEntrySize:])
		if err != nil || e.Key != 2 {
			t.Fatalf("second entry: %+v %v", e, err)
		}
		e.Size = 0x7ffffff0
		copy(idx[needle.IdxEntrySize:], e.AppendTo(nil))
		if err := os.WriteFile(path, idx, 0o644); err != nil {
			t.Fatal(err)
		}
		// A bolt map is rebuilt from the damaged .idx.
		os.Remove(filepath.Join(dir, "1.bdb"))

		v = openVol(t, dir, opts)
		var allocs runtime.MemStats
		runtime.ReadMemStats(&allocs)
		before := allocs.TotalAlloc
		if _, _, err := v.Read(2, volumetest.CookieOf(2), nil); !errors.Is(err, needle.ErrCorrupt) {
			t.Errorf("read of the damaged entry: %v, want ErrCorrupt", err)
		}
		runtime.ReadMemStats(&allocs)
		if grew := allocs.TotalAlloc - before; grew > 1<<20 {
			t.Errorf("the failed read allocated %d bytes", grew)
		}
		for _, k := range []needle.Key{1, 3} {
			n, _, err := v.Read(k, volumetest.CookieOf(k), nil)
			if err != nil || !bytes.Equal(n.Data, volumetest.Payload(k, 0, volumetest.SizeOf(k))) {
				t.Errorf("needle %d: %v", k, err)
			}
		}
	})
}
