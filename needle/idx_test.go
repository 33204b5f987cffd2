package needle_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/weedfs/weed/needle"
)

func TestIdxEntryCodec(t *testing.T) {
	e := needle.IdxEntry{Key: 0x0102030405060708, Offset: 0x090a0b0c, Size: 0x0d0e0f10}
	b := e.AppendTo([]byte{0xff})
	want := []byte{0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	if !bytes.Equal(b, want) {
		t.Fatalf("AppendTo = %x, want %x", b, want)
	}
	got, err := needle.ParseIdxEntry(b[1:])
	if err != nil || got != e {
		t.Errorf("ParseIdxEntry = %+v, %v", got, err)
	}
	var p [16]byte
	e.Put(p[:])
	if !bytes.Equal(p[:], want[1:]) {
		t.Errorf("Put = %x", p)
	}
	if _, err := needle.ParseIdxEntry(b[1:16]); !errors.Is(err, needle.ErrCorrupt) {
		t.Errorf("short entry: %v", err)
	}
}

func TestIdxEntryIsDelete(t *testing.T) {
	for _, tc := range []struct {
		e    needle.IdxEntry
		want bool
	}{
		{needle.IdxEntry{Key: 1, Offset: 5, Size: 100}, false},
		{needle.IdxEntry{Key: 1, Offset: 5, Size: needle.TombstoneSize}, true}, // weed, SeaweedFS 2.x+
		{needle.IdxEntry{Key: 1, Offset: 0, Size: 0}, true},                    // SeaweedFS 0.7x
		{needle.IdxEntry{Key: 1, Offset: 5, Size: 0}, true},                    // size 0 anywhere
		{needle.IdxEntry{Key: 1, Offset: 0, Size: 100}, true},                  // offset 0 is the superblock
	} {
		if got := tc.e.IsDelete(); got != tc.want {
			t.Errorf("%+v.IsDelete() = %v, want %v", tc.e, got, tc.want)
		}
	}
}

func TestIdxRecordEnd(t *testing.T) {
	if got := (needle.IdxEntry{Offset: 1, Size: 5}).RecordEnd(needle.Version3); got != 8+40 {
		t.Errorf("put: RecordEnd = %d", got)
	}
	if got := (needle.IdxEntry{Offset: 10, Size: needle.TombstoneSize}).RecordEnd(needle.Version3); got != 80+32 {
		t.Errorf("delete: RecordEnd = %d", got)
	}
	if got := (needle.IdxEntry{Offset: 10, Size: 0}).RecordEnd(needle.Version2); got != 80+24 {
		t.Errorf("v2 delete: RecordEnd = %d", got)
	}
}

func TestOffsetConversion(t *testing.T) {
	for _, off := range []int64{0, 8, 4096, needle.MaxVolumeBytes} {
		u, err := needle.OffsetUnits(off)
		if err != nil || needle.OffsetBytes(u) != off {
			t.Errorf("OffsetUnits(%d) = %d, %v", off, u, err)
		}
	}
	if needle.MaxVolumeBytes != 32<<30-8 {
		t.Errorf("MaxVolumeBytes = %d", needle.MaxVolumeBytes)
	}
	for _, off := range []int64{-8, 7, 12, needle.MaxVolumeBytes + 8} {
		if _, err := needle.OffsetUnits(off); !errors.Is(err, needle.ErrCorrupt) {
			t.Errorf("OffsetUnits(%d): %v", off, err)
		}
	}
}

func idxBytes(n int) ([]byte, []needle.IdxEntry) {
	var b []byte
	var es []needle.IdxEntry
	for i := 0; i < n; i++ {
		e := needle.IdxEntry{Key: needle.Key(i*3 + 1), Offset: uint32(i + 1), Size: uint32(i * 7)}
		es = append(es, e)
		b = e.AppendTo(b)
	}
	return b, es
}

func walkAll(r io.Reader) ([]needle.IdxEntry, error) {
	var got []needle.IdxEntry
	err := needle.WalkIdx(r, func(e needle.IdxEntry) error {
		got = append(got, e)
		return nil
	})
	return got, err
}

func sameEntries(t *testing.T, what string, got, want []needle.IdxEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: entry %d = %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

func TestWalkIdx(t *testing.T) {
	// 100k entries: 1.6 MB, so entries straddle the 1 MiB read boundary.
	b, want := idxBytes(100_000)
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"whole", bytes.NewReader(b)},
		{"one byte reads", iotest.OneByteReader(bytes.NewReader(b[:16*300]))},
		{"half reads", iotest.HalfReader(bytes.NewReader(b))},
		{"data with EOF", iotest.DataErrReader(bytes.NewReader(b))},
	} {
		got, err := walkAll(tc.r)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		w := want
		if tc.name == "one byte reads" {
			w = want[:300]
		}
		sameEntries(t, tc.name, got, w)
	}
	got, err := walkAll(bytes.NewReader(nil))
	if err != nil || len(got) != 0 {
		t.Errorf("empty: %d entries, %v", len(got), err)
	}
}

func TestWalkIdxPartialTail(t *testing.T) {
	b, want := idxBytes(10)
	for extra := 1; extra < 16; extra++ {
		got, err := walkAll(bytes.NewReader(b[:16*10+extra-16]))
		if !errors.Is(err, needle.ErrIdxPartialEntry) || !errors.Is(err, needle.ErrCorrupt) {
			t.Fatalf("%d trailing bytes: %v", extra, err)
		}
		sameEntries(t, "partial", got, want[:9])
	}
}

func TestWalkIdxErrors(t *testing.T) {
	b, _ := idxBytes(10)
	stop := errors.New("stop")
	n := 0
	err := needle.WalkIdx(bytes.NewReader(b), func(e needle.IdxEntry) error {
		n++
		if n == 4 {
			return stop
		}
		return nil
	})
	if err != stop || n != 4 {
		t.Errorf("callback error: %v after %d entries", err, n)
	}
	broken := errors.New("disk on fire")
	got, err := walkAll(io.MultiReader(bytes.NewReader(b[:40]), iotest.ErrReader(broken)))
	if !errors.Is(err, broken) {
		t.Errorf("read error: %v", err)
	}
	if len(got) != 2 {
		t.Errorf("%d entries delivered before the read error, want 2", len(got))
	}
}

// sizeRecorder records the buffer size of every Read.
type sizeRecorder struct {
	r     io.Reader
	sizes []int
}

func (s *sizeRecorder) Read(p []byte) (int, error) {
	s.sizes = append(s.sizes, len(p))
	return s.r.Read(p)
}

// TestWalkIdxReadsLargeChunks checks WalkIdx never asks for small reads: a
// volume's .idx can hold millions of entries.
func TestWalkIdxReadsLargeChunks(t *testing.T) {
	b, _ := idxBytes(50_000)
	rec := &sizeRecorder{r: bytes.NewReader(b)}
	if _, err := walkAll(rec); err != nil {
		t.Fatal(err)
	}
	if rec.sizes[0] < 256<<10 {
		t.Errorf("first read asked for %d bytes, want at least 256 KiB", rec.sizes[0])
	}
	// 800 KB fits one chunk: one read, plus the one that sees EOF.
	if len(rec.sizes) > 2 {
		t.Errorf("%d reads for %d bytes", len(rec.sizes), len(b))
	}
}
