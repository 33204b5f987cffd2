package filer

import (
	"errors"
	"testing"
	"time"
)

func TestEntryRoundTrip(t *testing.T) {
	cases := []*Entry{
		{FullPath: "/d", IsDirectory: true},
		{FullPath: "/d", IsDirectory: true, Mtime: time.Unix(1700000000, 0)},
		{FullPath: "/empty.txt", Mime: "text/plain", Mtime: time.Unix(1, 2)},
		{
			FullPath: "/foo/hello.txt", Mime: "text/plain", Mtime: time.Unix(1700000000, 42), Size: 39,
			Chunks:     []Chunk{{Fid: "6,067281a126", Size: 39, ETag: "a1b2c3d4"}},
			Collection: "pictures", Replication: "100", TTL: "3d",
		},
		{
			FullPath: "/big.bin", Size: 2<<20 + 5, Mtime: time.Unix(0, 1),
			Chunks: []Chunk{
				{Fid: "1,01", Offset: 0, Size: 1 << 20, ETag: "00000001"},
				{Fid: "2,02", Offset: 1 << 20, Size: 1 << 20, ETag: "00000002"},
				{Fid: "3,03", Offset: 2 << 20, Size: 5, ETag: "00000003"},
			},
		},
		{FullPath: "/日本/\"quoted\" <html> & \\", Mtime: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, want := range cases {
		b, err := MarshalEntry(want)
		if err != nil {
			t.Fatalf("MarshalEntry(%q): %v", want.FullPath, err)
		}
		got, err := UnmarshalEntry(b)
		if err != nil {
			t.Fatalf("UnmarshalEntry(%s): %v", b, err)
		}
		if got.FullPath != want.FullPath || got.IsDirectory != want.IsDirectory || got.Mime != want.Mime ||
			!got.Mtime.Equal(want.Mtime) || got.Mtime.IsZero() != want.Mtime.IsZero() || got.Size != want.Size ||
			got.Collection != want.Collection || got.Replication != want.Replication || got.TTL != want.TTL ||
			len(got.Chunks) != len(want.Chunks) {
			t.Fatalf("round trip of %q:\n got %+v\nwant %+v", want.FullPath, got, want)
		}
		for i := range want.Chunks {
			if got.Chunks[i] != want.Chunks[i] {
				t.Fatalf("chunk %d of %q: got %+v, want %+v", i, want.FullPath, got.Chunks[i], want.Chunks[i])
			}
		}
	}
}

func TestEntryEncodingIsVersioned(t *testing.T) {
	b, err := MarshalEntry(&Entry{FullPath: "/a"})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"v":1,"p":"/a"}` {
		t.Fatalf("encoding of a bare entry = %s", b)
	}
	// Fields a later build adds are ignored by this one.
	e, err := UnmarshalEntry([]byte(`{"v":1,"p":"/a","future":[1,2,3]}`))
	if err != nil || e.FullPath != "/a" {
		t.Fatalf("UnmarshalEntry with an unknown field = %+v, %v", e, err)
	}
}

func TestUnmarshalEntryRefusesBadInput(t *testing.T) {
	for _, in := range []string{
		``, `{`, `null`, `[]`, `{"p":"/a"}`, `{"v":2,"p":"/a"}`, `{"v":0}`,
		`{"v":1,"p":"/a","c":[{"f":"1,01","o":-5}]}`, `{"v":1,"s":-1}`, `{"v":"1"}`,
	} {
		if e, err := UnmarshalEntry([]byte(in)); !errors.Is(err, ErrBadEntry) {
			t.Errorf("UnmarshalEntry(%s) = %+v, %v; want ErrBadEntry", in, e, err)
		}
	}
}

func TestEntryFidAndName(t *testing.T) {
	cases := []struct {
		e         Entry
		fid, name string
	}{
		{Entry{FullPath: "/foo/hello.txt", Chunks: []Chunk{{Fid: "6,067281a126"}, {Fid: "7,0c"}}}, "6,067281a126", "hello.txt"},
		{Entry{FullPath: "/foo", IsDirectory: true}, "", "foo"},
		{Entry{FullPath: "/"}, "", ""},
	}
	for _, c := range cases {
		if got := c.e.Fid(); got != c.fid {
			t.Errorf("Fid of %q = %q, want %q", c.e.FullPath, got, c.fid)
		}
		if got := c.e.Name(); got != c.name {
			t.Errorf("Name of %q = %q, want %q", c.e.FullPath, got, c.name)
		}
	}
}
