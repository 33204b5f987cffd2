package needle_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/weedfs/weed/needle"
)

func FuzzParseFileID(f *testing.F) {
	for _, s := range []string{"6,01fc4a422c", "6,01fc4a422c_3", "1,fc4a422c", "6,01FC4A422C", "2,ffffffffffffffffffffffff", "6,", ",", "6,01fc4a422c_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fid, err := needle.ParseFileID(s)
		if err != nil {
			if !errors.Is(err, needle.ErrBadFileID) {
				t.Fatalf("ParseFileID(%q): error %v does not wrap ErrBadFileID", s, err)
			}
			return
		}
		back, err := needle.ParseFileID(fid.String())
		if err != nil || back != fid {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, fid, fid.String(), back, err)
		}
	})
}

func FuzzParseURLPath(f *testing.F) {
	for _, s := range []string{"/6,01fc4a422c", "/6,01fc4a422c.jpg", "/6/01fc4a422c/name.txt", "/6/01fc4a422c_1", "/6/01fc4a422c/", "//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := needle.ParseURLPath(s)
		if err != nil {
			if !errors.Is(err, needle.ErrBadFileID) {
				t.Fatalf("ParseURLPath(%q): error %v does not wrap ErrBadFileID", s, err)
			}
			return
		}
		back, err := needle.ParseURLPath("/" + p.FileID.String() + p.Ext)
		if err != nil || back.FileID != p.FileID {
			t.Fatalf("%q -> %+v -> %+v, %v", s, p, back, err)
		}
	})
}

func FuzzParseTTL(f *testing.F) {
	for _, s := range []string{"", "3m", "4h", "5d", "6w", "7M", "8y", "9", "255y", "256m", "0d", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ttl, err := needle.ParseTTL(s)
		if err != nil {
			if !errors.Is(err, needle.ErrBadTTL) {
				t.Fatalf("ParseTTL(%q): error %v does not wrap ErrBadTTL", s, err)
			}
			return
		}
		back, err := needle.ParseTTL(ttl.String())
		if err != nil || back != ttl {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, ttl, ttl.String(), back, err)
		}
		b := ttl.Bytes()
		if needle.TTLFromBytes(b[:]) != ttl {
			t.Fatalf("%+v does not survive its bytes", ttl)
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	for _, n := range sampleNeedles() {
		for _, v := range []uint8{needle.Version2, needle.Version3} {
			n := n
			rec, err := n.AppendRecord(nil, v)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(rec, v)
		}
	}
	// The first record of every fixture volume.
	for _, dir := range []string{"seaweedfs-0.72-v2", "seaweedfs-4.44-v3"} {
		dats, _ := filepath.Glob(filepath.Join("..", "testdata", dir, "*.dat"))
		for _, p := range dats {
			dat, err := os.ReadFile(p)
			if err != nil || len(dat) < needle.SuperBlockSize+needle.HeaderSize {
				continue
			}
			h, _ := needle.ParseHeader(dat[needle.SuperBlockSize:])
			end := min(int64(len(dat)), needle.SuperBlockSize+needle.RecordLen(h.Size, dat[0]))
			if end-needle.SuperBlockSize <= 4096 {
				f.Add(dat[needle.SuperBlockSize:end], dat[0])
			}
		}
	}
	f.Add([]byte{}, needle.Version1)
	f.Fuzz(func(t *testing.T, rec []byte, version uint8) {
		var n needle.Needle
		err := n.ParseRecord(rec, version)
		if err != nil {
			if !errors.Is(err, needle.ErrCorrupt) && !errors.Is(err, needle.ErrCRC) && !errors.Is(err, needle.ErrBadVersion) {
				t.Fatalf("error %v wraps no codec sentinel", err)
			}
			return
		}
		if int64(len(rec)) < needle.RecordLenUnpadded(n.Size, version) {
			t.Fatalf("parsed a %d-byte record from %d bytes", n.Size, len(rec))
		}
		if !n.IsTombstone() && !needle.ChecksumMatches(n.Checksum, n.Data) {
			t.Fatalf("parsed a needle whose checksum does not match")
		}
		if version == needle.Version1 {
			return // weed does not write version 1
		}
		// Re-encoding must give a record that parses to the same fields.
		// The size can shrink (trailing body bytes are dropped) and a raw
		// CRC comes back masked.
		enc := n
		out, err := enc.AppendRecord(nil, version)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var back needle.Needle
		if err := back.ParseRecord(out, version); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		want := n
		want.Size, want.Checksum = back.Size, back.Checksum
		sameFields(t, "re-encoded", &back, &want)
		if back.AppendAtNs != n.AppendAtNs || back.IsTombstone() != n.IsTombstone() {
			t.Fatalf("timestamp or tombstone changed: %+v vs %+v", back, n)
		}
		if n.IsTombstone() && back.Checksum != n.Checksum {
			t.Fatalf("tombstone checksum changed")
		}
		if int64(len(out)) != needle.RecordLen(back.Size, version) {
			t.Fatalf("re-encoded %d bytes, RecordLen %d", len(out), needle.RecordLen(back.Size, version))
		}
	})
}

func FuzzWalkIdx(f *testing.F) {
	b, _ := idxBytes(4)
	f.Add(b)
	f.Add(b[:20])
	f.Add([]byte{})
	f.Add(needle.IdxEntry{Key: 1, Offset: 0, Size: 0}.AppendTo(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []byte
		err := needle.WalkIdx(bytes.NewReader(data), func(e needle.IdxEntry) error {
			got = e.AppendTo(got)
			return nil
		})
		whole := len(data) - len(data)%needle.IdxEntrySize
		if (len(data)%needle.IdxEntrySize != 0) != errors.Is(err, needle.ErrIdxPartialEntry) {
			t.Fatalf("%d bytes: error %v", len(data), err)
		}
		if !bytes.Equal(got, data[:whole]) {
			t.Fatalf("entries re-encode to %x, want %x", got, data[:whole])
		}
		// Replaying into the compact map agrees with a Go map.
		m := needle.NewCompactMap()
		var st needle.IdxStats
		if err := needle.LoadIdx(bytes.NewReader(data), m, &st); err != nil {
			t.Fatal(err)
		}
		ref := map[needle.Key]needle.Value{}
		for i := 0; i < whole; i += needle.IdxEntrySize {
			e, _ := needle.ParseIdxEntry(data[i:])
			if e.IsDelete() {
				delete(ref, e.Key)
			} else {
				ref[e.Key] = needle.Value{Offset: e.Offset, Size: e.Size}
			}
		}
		if m.Len() != len(ref) || int64(len(ref)) != st.FileCount-st.DeleteCount || st.PartialTail != (whole != len(data)) {
			t.Fatalf("Len %d, ref %d, stats %+v", m.Len(), len(ref), st)
		}
		for k, v := range ref {
			if got, ok := m.Get(k); !ok || got != v {
				t.Fatalf("Get(%d) = %+v, %v; want %+v", k, got, ok, v)
			}
		}
	})
}

// FuzzCompactMap drives the compact map with arbitrary operations and
// compares it with a Go map. Each 9-byte chunk is an op byte and a key,
// shifted right by the op byte's low bits so that small and clustered keys
// are common.
func FuzzCompactMap(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 0x80, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add(bytes.Repeat([]byte{0x3c, 1, 2, 3, 4, 5, 6, 7, 8, 0xbc, 8, 7, 6, 5, 4, 3, 2, 1}, 50))
	f.Fuzz(func(t *testing.T, ops []byte) {
		m := needle.NewCompactMap()
		ref := map[needle.Key]needle.Value{}
		for i := 0; i+9 <= len(ops); i += 9 {
			op := ops[i]
			k := needle.Key(binary.BigEndian.Uint64(ops[i+1:]) >> (op & 63))
			if op&0x80 != 0 {
				old, had, _ := m.Delete(k)
				if want, ok := ref[k]; had != ok || old != want {
					t.Fatalf("Delete(%d) = %+v, %v; want %+v, %v", k, old, had, want, ok)
				}
				delete(ref, k)
				continue
			}
			v := needle.Value{Offset: uint32(i), Size: uint32(op)}
			old, had, _ := m.Put(k, v)
			if want, ok := ref[k]; had != ok || old != want {
				t.Fatalf("Put(%d) = %+v, %v; want %+v, %v", k, old, had, want, ok)
			}
			ref[k] = v
		}
		var keys []needle.Key
		_ = m.Range(func(k needle.Key, v needle.Value) error {
			if ref[k] != v {
				t.Fatalf("Range gave %d=%+v, want %+v", k, v, ref[k])
			}
			keys = append(keys, k)
			return nil
		})
		if len(keys) != len(ref) || m.Len() != len(ref) || !slices.IsSorted(keys) {
			t.Fatalf("Range visited %d keys (sorted %v), Len %d, want %d", len(keys), slices.IsSorted(keys), m.Len(), len(ref))
		}
	})
}
