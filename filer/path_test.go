package filer

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanPath(t *testing.T) {
	long := strings.Repeat("n", MaxNameLen)
	cases := []struct {
		in    string
		clean string
		isDir bool
		ok    bool
	}{
		{"/", "/", true, true},
		{"/a", "/a", false, true},
		{"/a/", "/a", true, true},
		{"/foo/hello.txt", "/foo/hello.txt", false, true},
		{"/foo/bar/", "/foo/bar", true, true},
		{"/日本/文件.txt", "/日本/文件.txt", false, true},
		{"/a b/c~d/e-f/.hidden/...", "/a b/c~d/e-f/.hidden/...", false, true},
		{"/a..b/..c/d..", "/a..b/..c/d..", false, true},
		{"/back\\slash", "/back\\slash", false, true},
		{"/" + long, "/" + long, false, true},
		{"/" + long + "/", "/" + long, true, true},

		{"", "", false, false},
		{"a", "", false, false},
		{"a/b", "", false, false},
		{"./a", "", false, false},
		{"//", "", false, false},
		{"//a", "", false, false},
		{"/a//b", "", false, false},
		{"/a//", "", false, false},
		{"/.", "", false, false},
		{"/./", "", false, false},
		{"/..", "", false, false},
		{"/../etc/passwd", "", false, false},
		{"/a/..", "", false, false},
		{"/a/../", "", false, false},
		{"/a/../../b", "", false, false},
		{"/a/./b", "", false, false},
		{"/a\x00b", "", false, false},
		{"/a\x00", "", false, false},
		{"/a\nb", "", false, false},
		{"/a\tb", "", false, false},
		{"/a\x7fb", "", false, false},
		{"/a\u0085b", "", false, false},
		{"/a\xffb", "", false, false},
		{"/a\xc3", "", false, false},
		{"/" + long + "n", "", false, false},
		{"/ok/" + long + "n/", "", false, false},
	}
	for _, c := range cases {
		clean, isDir, err := CleanPath(c.in)
		if !c.ok {
			if !errors.Is(err, ErrBadPath) {
				t.Errorf("CleanPath(%q) = %q, %v, %v; want ErrBadPath", c.in, clean, isDir, err)
			}
			continue
		}
		if err != nil || clean != c.clean || isDir != c.isDir {
			t.Errorf("CleanPath(%q) = %q, %v, %v; want %q, %v", c.in, clean, isDir, err, c.clean, c.isDir)
		}
	}
}

func TestCleanPathLengthLimit(t *testing.T) {
	// Build paths of exactly MaxPathLen and MaxPathLen+1 bytes from 100-byte names.
	var b strings.Builder
	for b.Len()+101 <= MaxPathLen {
		b.WriteString("/" + strings.Repeat("x", 100))
	}
	base := b.String()
	fill := MaxPathLen - len(base) - 1
	exact := base + "/" + strings.Repeat("y", fill)
	if len(exact) != MaxPathLen {
		t.Fatalf("test path is %d bytes", len(exact))
	}
	if _, _, err := CleanPath(exact); err != nil {
		t.Fatalf("path of exactly %d bytes refused: %v", MaxPathLen, err)
	}
	if _, _, err := CleanPath(exact + "y"); !errors.Is(err, ErrBadPath) {
		t.Fatalf("path of %d bytes: %v, want ErrBadPath", MaxPathLen+1, err)
	}
	if _, _, err := CleanPath(exact + "/"); !errors.Is(err, ErrBadPath) {
		t.Fatalf("path of %d bytes with trailing slash: %v, want ErrBadPath", MaxPathLen+1, err)
	}
}

func TestCheckName(t *testing.T) {
	good := []string{"hello.txt", "a b", "...", ".hidden", "日本語", strings.Repeat("z", MaxNameLen), "a..b"}
	bad := []string{"", ".", "..", "a/b", "/", "a\x00", "\x01", "a\x7f", "\xff", strings.Repeat("z", MaxNameLen+1)}
	for _, n := range good {
		if err := CheckName(n); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		if err := CheckName(n); !errors.Is(err, ErrBadPath) {
			t.Errorf("CheckName(%q) = %v, want ErrBadPath", n, err)
		}
	}
}

func TestSplitJoinPath(t *testing.T) {
	cases := []struct{ path, dir, name string }{
		{"/", "/", ""},
		{"/a", "/", "a"},
		{"/a/b", "/a", "b"},
		{"/a/b/c.txt", "/a/b", "c.txt"},
		{"/日本/語", "/日本", "語"},
	}
	for _, c := range cases {
		dir, name := SplitPath(c.path)
		if dir != c.dir || name != c.name {
			t.Errorf("SplitPath(%q) = %q, %q; want %q, %q", c.path, dir, name, c.dir, c.name)
		}
		if c.path != "/" {
			if got := JoinPath(dir, name); got != c.path {
				t.Errorf("JoinPath(%q, %q) = %q, want %q", dir, name, got, c.path)
			}
		}
	}
}

func TestCheckStorePaths(t *testing.T) {
	for _, p := range []string{"/a", "/a/b"} {
		if err := checkEntryPath(p); err != nil {
			t.Errorf("checkEntryPath(%q) = %v", p, err)
		}
		if err := checkDirPath(p); err != nil {
			t.Errorf("checkDirPath(%q) = %v", p, err)
		}
	}
	if err := checkDirPath("/"); err != nil {
		t.Errorf("checkDirPath(/) = %v", err)
	}
	for _, p := range []string{"/", "/a/", "a", "/a/../b", ""} {
		if err := checkEntryPath(p); !errors.Is(err, ErrBadPath) {
			t.Errorf("checkEntryPath(%q) = %v, want ErrBadPath", p, err)
		}
	}
	for _, p := range []string{"/a/", "a", "//", ""} {
		if err := checkDirPath(p); !errors.Is(err, ErrBadPath) {
			t.Errorf("checkDirPath(%q) = %v, want ErrBadPath", p, err)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{
		"/", "/a", "/a/", "/a/b/c.txt", "//", "/a//b", "/..", "/a/../b", "/./a",
		"/a\x00b", "/\xff", "/日本/", "relative", "", "/a/b/..", "/...", "/a\u0085",
		"/" + strings.Repeat("n", MaxNameLen+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		clean, isDir, err := CleanPath(in)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("CleanPath(%q) error %v does not wrap ErrBadPath", in, err)
			}
			if clean != "" {
				t.Fatalf("CleanPath(%q) refused but returned %q", in, clean)
			}
			return
		}
		if !strings.HasPrefix(clean, "/") {
			t.Fatalf("CleanPath(%q) = %q, not absolute", in, clean)
		}
		if strings.Contains(clean, "//") || strings.ContainsRune(clean, 0) || !utf8.ValidString(clean) {
			t.Fatalf("CleanPath(%q) = %q accepted a bad form", in, clean)
		}
		if clean != "/" {
			if strings.HasSuffix(clean, "/") {
				t.Fatalf("CleanPath(%q) = %q keeps a trailing slash", in, clean)
			}
			for _, seg := range strings.Split(clean[1:], "/") {
				if seg == "" || seg == "." || seg == ".." || len(seg) > MaxNameLen {
					t.Fatalf("CleanPath(%q) = %q has segment %q", in, clean, seg)
				}
				if err := CheckName(seg); err != nil {
					t.Fatalf("CleanPath(%q) = %q has segment %q refused by CheckName: %v", in, clean, seg, err)
				}
			}
		}
		if len(clean) > MaxPathLen {
			t.Fatalf("CleanPath(%q) = %d bytes", in, len(clean))
		}
		if want := clean + "/"; isDir && in != want && !(clean == "/" && in == "/") {
			t.Fatalf("CleanPath(%q) says directory but the input is not %q", in, want)
		}
		if !isDir && in != clean {
			t.Fatalf("CleanPath(%q) = %q rewrote a file path", in, clean)
		}
		again, againDir, err := CleanPath(clean)
		if err != nil || again != clean || againDir != (clean == "/") {
			t.Fatalf("CleanPath(%q) = %q, %v, %v; not idempotent", clean, again, againDir, err)
		}
		if clean != "/" {
			dir, name := SplitPath(clean)
			if JoinPath(dir, name) != clean {
				t.Fatalf("SplitPath/JoinPath of %q do not round-trip: %q, %q", clean, dir, name)
			}
			if err := checkEntryPath(clean); err != nil {
				t.Fatalf("store refuses cleaned path %q: %v", clean, err)
			}
		}
		if err := checkDirPath(clean); err != nil {
			t.Fatalf("store refuses cleaned directory %q: %v", clean, err)
		}
	})
}
