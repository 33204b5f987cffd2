package needle_test

import (
	"bytes"
	"errors"
	"hash/crc32"
	"math"
	"strings"
	"testing"

	"github.com/weedfs/weed/needle"
)

func TestRecordLen(t *testing.T) {
	for _, tc := range []struct {
		size    uint32
		version uint8
		want    int64
	}{
		{0, needle.Version2, 24},  // 20 + 4 padding
		{0, needle.Version3, 32},  // 28 + 4
		{1, needle.Version2, 24},  // 21 + 3
		{4, needle.Version2, 32},  // 24 + 8: padding is never 0
		{4, needle.Version3, 40},  // 32 + 8
		{5, needle.Version3, 40},  // 33 + 7
		{12, needle.Version3, 48}, // 40 + 8
		{70, needle.Version2, 96}, // hello.txt in the 0.72 fixture
		{46, needle.Version3, 80}, // hello.txt in the 4.44 fixture
		{0xFFFFFFFE, needle.Version3, 16 + 0xFFFFFFFE + 4 + 8 + 6},
	} {
		got := needle.RecordLen(tc.size, tc.version)
		if got != tc.want {
			t.Errorf("RecordLen(%d, v%d) = %d, want %d", tc.size, tc.version, got, tc.want)
		}
		unpadded := needle.RecordLenUnpadded(tc.size, tc.version)
		if pad := got - unpadded; pad < 1 || pad > 8 || got%8 != 0 {
			t.Errorf("RecordLen(%d, v%d): %d bytes of padding", tc.size, tc.version, pad)
		}
	}
}

// maskedCRC computes the masked CRC-32C independently of the package.
func maskedCRC(data []byte) uint32 {
	c := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

// TestV3Layout builds a version 3 record by hand, field by field as SPEC §9
// describes it, and checks AppendRecord produces exactly those bytes.
func TestV3Layout(t *testing.T) {
	n := needle.Needle{
		Cookie:       0x01020304,
		Key:          0x1122334455667788,
		Data:         []byte("hello"),
		Flags:        needle.FlagGzip,
		Name:         []byte("a.txt"),
		Mime:         []byte("text/plain"),
		LastModified: 0x0102030405,
		TTL:          needle.TTL{Count: 3, Unit: needle.TTLUnitDay},
		Pairs:        []byte(`{"k":"v"}`),
		AppendAtNs:   0x0a0b0c0d0e0f1011,
	}
	var want []byte
	want = append(want, 0x01, 0x02, 0x03, 0x04)                         // cookie
	want = append(want, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88) // key
	want = append(want, 0, 0, 0, 45)                                    // size: the body below
	want = append(want, 0, 0, 0, 5)                                     // dataSize
	want = append(want, "hello"...)                                     // data
	want = append(want, 0x3f)                                           // flags: gzip name mime lastModified ttl pairs
	want = append(want, 5)                                              // nameSize
	want = append(want, "a.txt"...)                                     // name
	want = append(want, 10)                                             // mimeSize
	want = append(want, "text/plain"...)                                // mime
	want = append(want, 0x01, 0x02, 0x03, 0x04, 0x05)                   // lastModified, 5 bytes
	want = append(want, 3, 3)                                           // ttl: 3 days
	want = append(want, 0, 9)                                           // pairsSize
	want = append(want, `{"k":"v"}`...)                                 // pairs
	c := maskedCRC([]byte("hello"))
	want = append(want, byte(c>>24), byte(c>>16), byte(c>>8), byte(c))  // checksum
	want = append(want, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11) // appendAtNs
	want = append(want, 0, 0, 0, 0, 0, 0, 0)                            // padding: 8 - 73%8

	got, err := n.AppendRecord(nil, needle.Version3)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("record\n got %x\nwant %x", got, want)
	}
	if n.Size != 45 || n.Checksum != c || n.Flags != 0x3f {
		t.Errorf("AppendRecord set Size %d Checksum %08x Flags %02x", n.Size, n.Checksum, n.Flags)
	}
	if n.Etag() != needle.Etag(c) || len(n.Etag()) != 8 || strings.ToLower(n.Etag()) != n.Etag() {
		t.Errorf("Etag %q", n.Etag())
	}
	// Version 2 is the same record without the timestamp.
	v2, err := n.AppendRecord(nil, needle.Version2)
	if err != nil {
		t.Fatal(err)
	}
	wantV2 := append(append([]byte(nil), want[:16+45+4]...), 0, 0, 0, 0, 0, 0, 0) // 65 + 7 padding
	if !bytes.Equal(v2, wantV2) {
		t.Fatalf("v2 record\n got %x\nwant %x", v2, wantV2)
	}
}

func sampleNeedles() map[string]needle.Needle {
	return map[string]needle.Needle{
		"empty":    {Cookie: 1, Key: 1},
		"dataOnly": {Cookie: 0xfc4a422c, Key: 2, Data: []byte("some bytes")},
		"all": {Cookie: 3, Key: math.MaxUint64, Data: bytes.Repeat([]byte{0xab}, 1000), Flags: needle.FlagGzip,
			Name: []byte("页面.html"), Mime: []byte("text/html"), LastModified: 1700000000,
			TTL: needle.TTL{Count: 5, Unit: needle.TTLUnitMinute}, Pairs: []byte(`{"a":"b"}`), AppendAtNs: 1},
		"maxFields": {Cookie: 4, Key: 4, Data: []byte("x"), Name: bytes.Repeat([]byte("n"), 255),
			Mime: bytes.Repeat([]byte("m"), 255), Pairs: bytes.Repeat([]byte("p"), 65535), LastModified: needle.MaxLastModified},
		"manifest":   {Cookie: 5, Key: 5, Data: []byte(`{"chunks":[]}`), Flags: needle.FlagChunkManifest},
		"emptyName":  {Cookie: 6, Key: 6, Data: []byte("z"), Flags: needle.FlagHasName | needle.FlagHasPairs},
		"tombstone":  needle.Tombstone(7, 0xdeadbeef, 123456789),
		"sizeOffset": {Cookie: 8, Key: 8, Data: []byte("abc")}, // 4+3+1 = 8: 16+8+4 is a multiple of 4 only
	}
}

func sameFields(t *testing.T, what string, got, want *needle.Needle) {
	t.Helper()
	if got.Cookie != want.Cookie || got.Key != want.Key || got.Size != want.Size ||
		!bytes.Equal(got.Data, want.Data) || got.Flags != want.Flags ||
		!bytes.Equal(got.Name, want.Name) || !bytes.Equal(got.Mime, want.Mime) ||
		got.LastModified != want.LastModified || got.TTL != want.TTL ||
		!bytes.Equal(got.Pairs, want.Pairs) || got.Checksum != want.Checksum ||
		got.IsTombstone() != want.IsTombstone() {
		t.Errorf("%s: fields differ\n got %+v\nwant %+v", what, *got, *want)
	}
}

func TestRoundTrip(t *testing.T) {
	for name, n := range sampleNeedles() {
		for _, version := range []uint8{needle.Version2, needle.Version3} {
			n := n
			// Encode into a buffer whose spare capacity holds garbage: the
			// padding must still come out as zeros.
			dst := bytes.Repeat([]byte{0xee}, 70000+200)[:3]
			rec, err := n.AppendRecord(dst, version)
			if err != nil {
				t.Fatalf("%s v%d: %v", name, version, err)
			}
			rec = rec[3:]
			if int64(len(rec)) != needle.RecordLen(n.Size, version) {
				t.Errorf("%s v%d: %d bytes, RecordLen says %d", name, version, len(rec), needle.RecordLen(n.Size, version))
			}
			unpadded := needle.RecordLenUnpadded(n.Size, version)
			if pad := rec[unpadded:]; !bytes.Equal(pad, make([]byte, len(pad))) {
				t.Errorf("%s v%d: padding %x is not zero", name, version, pad)
			}
			var got needle.Needle
			if err := got.ParseRecord(rec, version); err != nil {
				t.Fatalf("%s v%d: parse: %v", name, version, err)
			}
			sameFields(t, name, &got, &n)
			if version == needle.Version3 && got.AppendAtNs != n.AppendAtNs {
				t.Errorf("%s: AppendAtNs %d, want %d", name, got.AppendAtNs, n.AppendAtNs)
			}
			// The unpadded prefix is enough to parse.
			if err := got.ParseRecord(rec[:unpadded], version); err != nil {
				t.Errorf("%s v%d: parse without padding: %v", name, version, err)
			}
			if !n.IsTombstone() && n.Size == 0 {
				t.Errorf("%s: a live needle was written with size 0", name)
			}
		}
	}
}

func TestParseAliasesInput(t *testing.T) {
	n := needle.Needle{Key: 1, Cookie: 2, Data: []byte("abcdef"), Name: []byte("x.txt")}
	rec, err := n.AppendRecord(nil, needle.Version3)
	if err != nil {
		t.Fatal(err)
	}
	var got needle.Needle
	if err := got.ParseRecord(rec, needle.Version3); err != nil {
		t.Fatal(err)
	}
	rec[needle.HeaderSize+4] = 'A' // first data byte
	if string(got.Data) != "Abcdef" {
		t.Errorf("Data %q does not alias the input", got.Data)
	}
	// Appending to a parsed field must not overwrite the record.
	_ = append(got.Data, 'Z')
	if rec[needle.HeaderSize+4+6] != 0x02 { // the flags byte: has name
		t.Errorf("append to Data overwrote the flags byte")
	}
}

func TestHelpers(t *testing.T) {
	var n needle.Needle
	n.SetGzipped(true)
	n.SetChunkManifest(true)
	if !n.IsGzipped() || !n.IsChunkManifest() || n.Flags != needle.FlagGzip|needle.FlagChunkManifest {
		t.Errorf("flags %02x", n.Flags)
	}
	n.SetGzipped(false)
	if n.IsGzipped() || !n.IsChunkManifest() {
		t.Errorf("flags %02x after clearing gzip", n.Flags)
	}
	n.Name, n.Mime, n.LastModified, n.TTL, n.Pairs = []byte("a"), []byte("b"), 1, needle.TTL{Count: 1, Unit: 1}, []byte("{}")
	if _, err := n.AppendRecord(nil, needle.Version3); err != nil {
		t.Fatal(err)
	}
	if !n.HasName() || !n.HasMime() || !n.HasLastModified() || !n.HasTTL() || !n.HasPairs() {
		t.Errorf("flags %02x after encoding every field", n.Flags)
	}
	if n.IsTombstone() {
		t.Error("a live needle reports IsTombstone")
	}
	ts := needle.Tombstone(1, 2, 3)
	if !ts.IsTombstone() || ts.DiskSize(needle.Version3) != 32 {
		t.Errorf("tombstone %+v", ts)
	}
}

func TestAppendRecordRefuses(t *testing.T) {
	big := func(n int) []byte { return make([]byte, n) }
	for _, tc := range []struct {
		name    string
		n       needle.Needle
		version uint8
		want    error
	}{
		{"name", needle.Needle{Name: big(256)}, needle.Version3, needle.ErrTooLarge},
		{"mime", needle.Needle{Mime: big(256)}, needle.Version3, needle.ErrTooLarge},
		{"pairs", needle.Needle{Pairs: big(65536)}, needle.Version3, needle.ErrTooLarge},
		{"lastModified", needle.Needle{LastModified: 1 << 40}, needle.Version2, needle.ErrTooLarge},
		{"version1", needle.Needle{}, needle.Version1, needle.ErrBadVersion},
		{"version4", needle.Needle{}, 4, needle.ErrBadVersion},
	} {
		dst := []byte("keep")
		n := tc.n
		out, err := n.AppendRecord(dst, tc.version)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
		if string(out) != "keep" || n.Size != 0 || n.Checksum != 0 {
			t.Errorf("%s: dst or needle changed on error", tc.name)
		}
	}
}

// TestAppendRecordBodyLimit checks that a body of 0xFFFFFFFF bytes or more
// is refused before anything is copied. The 4 GiB slice is never touched,
// so the OS never backs it with memory.
func TestAppendRecordBodyLimit(t *testing.T) {
	if math.MaxInt == math.MaxInt32 || testing.Short() {
		t.Skip("needs a 64-bit address space")
	}
	size := uint64(needle.TombstoneSize) - 5 // dataSize(4) + flags(1) brings the body to 0xFFFFFFFF
	n := needle.Needle{Data: make([]byte, int(size))}
	if _, err := n.AppendRecord(nil, needle.Version3); !errors.Is(err, needle.ErrTooLarge) {
		t.Errorf("body of 0xFFFFFFFF bytes: %v", err)
	}
}

// mustRecord encodes n, setting its Size and Checksum.
func mustRecord(t *testing.T, n *needle.Needle, version uint8) []byte {
	t.Helper()
	rec, err := n.AppendRecord(nil, version)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestParseRecordErrors(t *testing.T) {
	live := needle.Needle{Cookie: 9, Key: 0x42, Data: []byte("payload"), Name: []byte("f.bin"), Pairs: []byte("{}")}
	good := mustRecord(t, &live, needle.Version3)
	bodyAt := needle.HeaderSize
	mutate := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	setBE32 := func(b []byte, at int, v uint32) {
		b[at], b[at+1], b[at+2], b[at+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	for _, tc := range []struct {
		name    string
		rec     []byte
		version uint8
		want    error
	}{
		{"empty", nil, needle.Version3, needle.ErrCorrupt},
		{"header only", good[:16], needle.Version3, needle.ErrCorrupt},
		{"no timestamp", good[:16+live.Size+4], needle.Version3, needle.ErrCorrupt},
		{"data flipped", mutate(func(b []byte) { b[bodyAt+5] ^= 1 }), needle.Version3, needle.ErrCRC},
		{"checksum flipped", mutate(func(b []byte) { b[16+live.Size] ^= 0x80 }), needle.Version3, needle.ErrCRC},
		{"dataSize past body", mutate(func(b []byte) { setBE32(b, bodyAt, live.Size) }), needle.Version3, needle.ErrCorrupt},
		{"dataSize huge", mutate(func(b []byte) { setBE32(b, bodyAt, 0xFFFFFFFF) }), needle.Version3, needle.ErrCorrupt},
		{"body too short", mutate(func(b []byte) { setBE32(b, 12, 3) }), needle.Version3, needle.ErrCorrupt},
		{"name past body", mutate(func(b []byte) { b[bodyAt+4+7+1] = 200 }), needle.Version3, needle.ErrCorrupt},
		{"missing mime", mutate(func(b []byte) { b[bodyAt+4+7] |= needle.FlagHasMime | needle.FlagHasTTL | needle.FlagHasLastModified }), needle.Version3, needle.ErrCorrupt},
		{"version 0", good, 0, needle.ErrBadVersion},
		{"version 4", good, 4, needle.ErrBadVersion},
	} {
		var n needle.Needle
		err := n.ParseRecord(tc.rec, tc.version)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
	// Every truncation of the unpadded record is an error, never a panic.
	for l := 0; l < int(needle.RecordLenUnpadded(live.Size, needle.Version3)); l++ {
		var n needle.Needle
		if err := n.ParseRecord(good[:l], needle.Version3); !errors.Is(err, needle.ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: %v", l, err)
		}
	}
}

func TestParseRecordAccepts(t *testing.T) {
	live := needle.Needle{Cookie: 9, Key: 0x42, Data: []byte("payload")}
	rec := mustRecord(t, &live, needle.Version3)
	csAt := needle.HeaderSize + int(live.Size)
	raw := crc32.Checksum([]byte("payload"), crc32.MakeTable(crc32.Castagnoli))

	t.Run("raw CRC", func(t *testing.T) {
		b := append([]byte(nil), rec...)
		b[csAt], b[csAt+1], b[csAt+2], b[csAt+3] = byte(raw>>24), byte(raw>>16), byte(raw>>8), byte(raw)
		var n needle.Needle
		if err := n.ParseRecord(b, needle.Version3); err != nil || n.Checksum != raw {
			t.Errorf("raw crc: %v, checksum %08x", err, n.Checksum)
		}
		if n.Etag() != needle.Etag(raw) {
			t.Errorf("etag %s is not the stored field", n.Etag())
		}
	})
	t.Run("garbage padding", func(t *testing.T) {
		b := append([]byte(nil), rec...)
		for i := needle.RecordLenUnpadded(live.Size, needle.Version3); i < int64(len(b)); i++ {
			b[i] = 0x5a
		}
		var n needle.Needle
		if err := n.ParseRecord(b, needle.Version3); err != nil {
			t.Error(err)
		}
	})
	t.Run("trailing body bytes", func(t *testing.T) {
		// A body with bytes after its last field (a newer writer's field).
		ext := needle.Needle{Cookie: 1, Key: 1, Data: []byte("d")}
		b := mustRecord(t, &ext, needle.Version2)
		body := append(append([]byte(nil), b[16:16+ext.Size]...), 0xcc, 0xdd)
		var out []byte
		out = append(out, b[:12]...)
		out = append(out, 0, 0, 0, byte(len(body)))
		out = append(out, body...)
		out = append(out, b[16+ext.Size:16+ext.Size+4]...)
		var n needle.Needle
		if err := n.ParseRecord(out, needle.Version2); err != nil || string(n.Data) != "d" {
			t.Errorf("%v, data %q", err, n.Data)
		}
	})
	t.Run("tombstone with any checksum", func(t *testing.T) {
		ts := needle.Tombstone(5, 6, 7)
		ts.Checksum = 0x12345678 // SeaweedFS 0.72 copied the deleted needle's
		b := mustRecord(t, &ts, needle.Version2)
		var n needle.Needle
		if err := n.ParseRecord(b, needle.Version2); err != nil || !n.IsTombstone() || n.Checksum != 0x12345678 || n.Key != 5 {
			t.Errorf("%v, %+v", err, n)
		}
	})
	t.Run("version 1", func(t *testing.T) {
		data := []byte("v1 data is the whole body")
		var b []byte
		b = append(b, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, byte(len(data)))
		b = append(b, data...)
		c := maskedCRC(data)
		b = append(b, byte(c>>24), byte(c>>16), byte(c>>8), byte(c))
		var n needle.Needle
		if err := n.ParseRecord(b, needle.Version1); err != nil || !bytes.Equal(n.Data, data) || n.Cookie != 1 || n.Key != 2 {
			t.Errorf("%v, %+v", err, n)
		}
	})
}

func TestCodecAllocs(t *testing.T) {
	n := sampleNeedles()["all"]
	buf := make([]byte, 0, 4096)
	if a := testing.AllocsPerRun(100, func() {
		if _, err := n.AppendRecord(buf[:0], needle.Version3); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("AppendRecord into a big enough buffer: %v allocs", a)
	}
	rec := mustRecord(t, &n, needle.Version3)
	var got needle.Needle
	if a := testing.AllocsPerRun(100, func() {
		if err := got.ParseRecord(rec, needle.Version3); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("ParseRecord: %v allocs", a)
	}
}

func TestHeader(t *testing.T) {
	n := needle.Needle{Cookie: 0xa1b2c3d4, Key: 77, Data: []byte("x")}
	rec := mustRecord(t, &n, needle.Version3)
	h, err := needle.ParseHeader(rec)
	if err != nil || h != (needle.Header{Cookie: 0xa1b2c3d4, Key: 77, Size: 6}) {
		t.Errorf("ParseHeader = %+v, %v", h, err)
	}
	if _, err := needle.ParseHeader(rec[:15]); !errors.Is(err, needle.ErrCorrupt) {
		t.Errorf("short header: %v", err)
	}
}

func TestCRC(t *testing.T) {
	// The CRC-32C check value.
	if c := needle.RawCRC([]byte("123456789")); c != 0xe3069283 {
		t.Errorf("RawCRC = %08x, want e3069283", c)
	}
	for _, data := range [][]byte{nil, []byte("a"), bytes.Repeat([]byte("xyz"), 1000)} {
		raw := needle.RawCRC(data)
		if m := needle.MaskCRC(raw); m != maskedCRC(data) || needle.DataChecksum(data) != m {
			t.Errorf("MaskCRC(%08x) = %08x, want %08x", raw, m, maskedCRC(data))
		}
		if !needle.ChecksumMatches(raw, data) || !needle.ChecksumMatches(needle.MaskCRC(raw), data) {
			t.Errorf("both forms must match")
		}
		if needle.ChecksumMatches(raw+1, data) {
			t.Errorf("a wrong checksum matched")
		}
	}
	for c, want := range map[uint32]string{0: "00000000", 0xfc4a422c: "fc4a422c", 0xABCDEF01: "abcdef01"} {
		if got := needle.Etag(c); got != want {
			t.Errorf("Etag(%x) = %q, want %q", c, got, want)
		}
	}
}
