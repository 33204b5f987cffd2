package needle_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/weedfs/weed/needle"
)

func TestParseFileID(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   needle.FileID
		format string // String() of the result
	}{
		{"6,01fc4a422c", needle.FileID{Volume: 6, Key: 1, Cookie: 0xfc4a422c}, "6,01fc4a422c"},
		{"3,01637037d6", needle.FileID{Volume: 3, Key: 1, Cookie: 0x637037d6}, "3,01637037d6"},
		{"6,067281a126", needle.FileID{Volume: 6, Key: 6, Cookie: 0x7281a126}, "6,067281a126"},
		{"6,01FC4A422C", needle.FileID{Volume: 6, Key: 1, Cookie: 0xfc4a422c}, "6,01fc4a422c"},
		{"6,1fc4a422c", needle.FileID{Volume: 6, Key: 1, Cookie: 0xfc4a422c}, "6,01fc4a422c"},
		{"6,01fc4a422c_3", needle.FileID{Volume: 6, Key: 4, Cookie: 0xfc4a422c}, "6,04fc4a422c"},
		{"6,01fc4a422c_0", needle.FileID{Volume: 6, Key: 1, Cookie: 0xfc4a422c}, "6,01fc4a422c"},
		{"1,fc4a422c", needle.FileID{Volume: 1, Key: 0, Cookie: 0xfc4a422c}, "1,fc4a422c"},
		{"7,0100fc4a422c", needle.FileID{Volume: 7, Key: 0x100, Cookie: 0xfc4a422c}, "7,0100fc4a422c"},
		{"4294967295,123456789abcdef000000001", needle.FileID{Volume: math.MaxUint32, Key: 0x123456789abcdef0, Cookie: 1},
			"4294967295,123456789abcdef000000001"},
		{"2,ffffffffffffffffffffffff", needle.FileID{Volume: 2, Key: math.MaxUint64, Cookie: math.MaxUint32}, "2,ffffffffffffffffffffffff"},
	} {
		got, err := needle.ParseFileID(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseFileID(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if s := got.String(); s != tc.format {
			t.Errorf("%+v.String() = %q, want %q", got, s, tc.format)
		}
	}
}

func TestParseFileIDMalformed(t *testing.T) {
	for _, in := range []string{
		"", ",", "6", "6,", "6,0", "6,fc4a422", ",01fc4a422c", "x,01fc4a422c", "-1,01fc4a422c",
		"+6,01fc4a422c", " 6,01fc4a422c", "6,01fc4a422c ", "4294967296,01fc4a422c",
		"6,zzfc4a422c", "6,01fc4a42-c", "6,0x01fc4a422c", "6,01fc4a422c_", "6,01fc4a422c_x",
		"6,01fc4a422c_-1", "6,01fc4a422c_+1", "6,01fc4a422c_1_2", "6,01fc4a422c_18446744073709551616",
		"6,ffffffffffffffff00000000_1",           // key overflow
		"6,1ffffffffffffffff00000000",            // 17 key digits
		"6,01fc4a422c" + strings.Repeat("0", 60), // too long
		"6;01fc4a422c", "6,01fc4a422c,1",
	} {
		if got, err := needle.ParseFileID(in); !errors.Is(err, needle.ErrBadFileID) {
			t.Errorf("ParseFileID(%q) = %+v, %v; want ErrBadFileID", in, got, err)
		}
	}
}

func TestFormatKeyCookie(t *testing.T) {
	for _, tc := range []struct {
		k    needle.Key
		c    needle.Cookie
		want string
	}{
		{0, 0, "00000000"},
		{1, 0xfc4a422c, "01fc4a422c"},
		{0xff, 1, "ff00000001"},
		{0x100, 1, "010000000001"},
		{math.MaxUint64, 0, "ffffffffffffffff00000000"},
	} {
		if got := needle.FormatKeyCookie(tc.k, tc.c); got != tc.want {
			t.Errorf("FormatKeyCookie(%x, %x) = %q, want %q", tc.k, tc.c, got, tc.want)
		}
	}
}

func TestParseURLPath(t *testing.T) {
	fid := needle.FileID{Volume: 6, Key: 1, Cookie: 0xfc4a422c}
	for _, tc := range []struct {
		in   string
		want needle.URLPath
	}{
		{"/6,01fc4a422c", needle.URLPath{FileID: fid}},
		{"6,01fc4a422c", needle.URLPath{FileID: fid}},
		{"/6,01fc4a422c.jpg", needle.URLPath{FileID: fid, Ext: ".jpg"}},
		{"/6,01FC4A422C.JPG", needle.URLPath{FileID: fid, Ext: ".JPG"}},
		{"/6,01fc4a422c_2.png", needle.URLPath{FileID: needle.FileID{Volume: 6, Key: 3, Cookie: 0xfc4a422c}, Ext: ".png"}},
		{"/6/01fc4a422c", needle.URLPath{FileID: fid}},
		{"/6/01fc4a422c.txt", needle.URLPath{FileID: fid, Ext: ".txt"}},
		{"/6/01fc4a422c/hello.txt", needle.URLPath{FileID: fid, Filename: "hello.txt"}},
		{"/6/01fc4a422c/页面.html", needle.URLPath{FileID: fid, Filename: "页面.html"}},
		{"/6/01fc4a422c_1/a,b.txt", needle.URLPath{FileID: needle.FileID{Volume: 6, Key: 2, Cookie: 0xfc4a422c}, Filename: "a,b.txt"}},
	} {
		got, err := needle.ParseURLPath(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseURLPath(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", "/", "/6", "/6/", "/6,", "/6/01fc4a422c/", "/6/01fc4a422c/a/b", "/6,01fc4a422c/x",
		"/x/01fc4a422c", "/6/zz", "//6/01fc4a422c", "/6,01fc4a422c_x.jpg", "/" + strings.Repeat("6", 2000),
		"/dir/assign", "/favicon.ico",
	} {
		if got, err := needle.ParseURLPath(in); !errors.Is(err, needle.ErrBadFileID) {
			t.Errorf("ParseURLPath(%q) = %+v, %v; want ErrBadFileID", in, got, err)
		}
	}
}

func TestParseVolumeID(t *testing.T) {
	if v, err := needle.ParseVolumeID("42"); err != nil || v != 42 || v.String() != "42" {
		t.Errorf("ParseVolumeID(42) = %v, %v", v, err)
	}
	for _, in := range []string{"", "x", "-1", "4294967296", "1.0"} {
		if _, err := needle.ParseVolumeID(in); !errors.Is(err, needle.ErrBadVolumeID) {
			t.Errorf("ParseVolumeID(%q): %v", in, err)
		}
	}
}
