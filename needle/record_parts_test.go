package needle

import (
	"bytes"
	"testing"
)

func TestAppendRecordParts(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 4097)
	tests := []struct {
		name    string
		n       Needle
		version uint8
	}{
		{"empty data v3", Needle{Cookie: 1, Key: 2}, Version3},
		{"small v3", Needle{Cookie: 1, Key: 2, Data: []byte("hello"), AppendAtNs: 99}, Version3},
		{"small v2", Needle{Cookie: 1, Key: 2, Data: []byte("hello")}, Version2},
		{"every field v3", Needle{Cookie: 7, Key: 8, Data: big, Name: []byte("a.txt"), Mime: []byte("text/plain"),
			LastModified: 1700000000, TTL: TTL{Count: 3, Unit: 'd'}, Pairs: []byte(`{"a":"b"}`), AppendAtNs: 5}, Version3},
		{"every field v2", Needle{Cookie: 7, Key: 8, Data: big[:1001], Name: []byte("a.txt"), Mime: []byte("text/plain"),
			LastModified: 1700000000, Pairs: []byte(`{"a":"b"}`)}, Version2},
		{"tombstone", Tombstone(3, 4, 77), Version3},
	}
	for _, tt := range tests {
		for _, size := range []int{0, 1, 2, 3, 4, 5, 6, 7} {
			n := tt.n
			if len(n.Data) > size && !n.IsTombstone() && tt.name != "every field v3" {
				n.Data = n.Data[:len(n.Data)-size]
			}
			want := n
			wantRec, err := want.AppendRecord(nil, tt.version)
			if err != nil {
				t.Fatalf("%s: AppendRecord: %v", tt.name, err)
			}
			got := n
			prefix := []byte("prefix")
			out, at, err := got.AppendRecordParts(bytes.Clone(prefix), tt.version)
			if err != nil {
				t.Fatalf("%s: AppendRecordParts: %v", tt.name, err)
			}
			if !bytes.HasPrefix(out, prefix) {
				t.Fatalf("%s: dst's bytes were not kept", tt.name)
			}
			parts := out[len(prefix):]
			var joined []byte
			if n.IsTombstone() {
				joined = parts
			} else {
				joined = append(append(append([]byte{}, parts[:at]...), n.Data...), parts[at:]...)
			}
			if !bytes.Equal(joined, wantRec) {
				t.Fatalf("%s (cut %d): parts joined differ from AppendRecord:\n got %x\nwant %x", tt.name, size, joined, wantRec)
			}
			if got.Size != want.Size || got.Flags != want.Flags || got.Checksum != want.Checksum {
				t.Errorf("%s: fields %d/%x/%x, want %d/%x/%x", tt.name, got.Size, got.Flags, got.Checksum, want.Size, want.Flags, want.Checksum)
			}
		}
	}
}
