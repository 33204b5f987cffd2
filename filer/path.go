package filer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on filer paths, in bytes.
const (
	// MaxNameLen is the longest name one path segment may have.
	MaxNameLen = 255
	// MaxPathLen is the longest request path accepted, trailing "/" included.
	MaxPathLen = 4096
)

// CleanPath validates a request path and returns its canonical form.
//
// The path must start with "/", be valid UTF-8 with no control characters
// (NUL included), have no empty, "." or ".." segment, no segment longer than
// MaxNameLen bytes and be at most MaxPathLen bytes long. Anything else is
// refused with an error wrapping ErrBadPath; nothing is ever rewritten into
// another path, so an accepted path cannot name anything outside the
// namespace. A trailing "/" marks a directory: it is removed from the
// canonical form and reported as isDir. The root "/" is returned as "/",
// with isDir true. CleanPath of a canonical path returns it unchanged.
func CleanPath(p string) (clean string, isDir bool, err error) {
	if len(p) > MaxPathLen {
		return "", false, fmt.Errorf("%w: path is %d bytes, longer than %d", ErrBadPath, len(p), MaxPathLen)
	}
	if p == "" || p[0] != '/' {
		return "", false, fmt.Errorf("%w: %.64q does not start with \"/\"", ErrBadPath, p)
	}
	if err := checkText(p); err != nil {
		return "", false, err
	}
	if p == "/" {
		return "/", true, nil
	}
	body := p[1:]
	if strings.HasSuffix(body, "/") {
		isDir = true
		body = body[:len(body)-1]
	}
	rest := body
	for {
		seg, tail, more := strings.Cut(rest, "/")
		if err := checkSegment(seg); err != nil {
			return "", false, err
		}
		if !more {
			break
		}
		rest = tail
	}
	return p[:1+len(body)], isDir, nil
}

// CheckName reports whether name is acceptable as one path segment, for
// example a file name taken from a multipart upload. It returns nil or an
// error wrapping ErrBadPath; names containing "/" are refused.
func CheckName(name string) error {
	if strings.Contains(name, "/") {
		return fmt.Errorf("%w: name %.64q contains \"/\"", ErrBadPath, name)
	}
	if err := checkText(name); err != nil {
		return err
	}
	return checkSegment(name)
}

// SplitPath splits a canonical path (as returned by CleanPath) into its
// parent directory and its last segment: "/a/b" gives ("/a", "b"), "/a"
// gives ("/", "a") and the root "/" gives ("/", "").
func SplitPath(clean string) (dir, name string) {
	i := strings.LastIndexByte(clean, '/')
	if i < 0 {
		return "/", clean
	}
	if i == 0 {
		return "/", clean[1:]
	}
	return clean[:i], clean[i+1:]
}

// JoinPath appends one name to a canonical directory path: ("/", "a") gives
// "/a" and ("/a", "b") gives "/a/b". It does not validate name; use
// CheckName for names that come from outside.
func JoinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// checkText refuses invalid UTF-8 and control characters anywhere in s.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %.64q is not valid UTF-8", ErrBadPath, s)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %.64q contains control character %U", ErrBadPath, s, r)
		}
	}
	return nil
}

// checkSegment refuses empty, ".", ".." and over-long segments.
func checkSegment(seg string) error {
	switch {
	case seg == "":
		return fmt.Errorf("%w: empty path segment", ErrBadPath)
	case seg == "." || seg == "..":
		return fmt.Errorf("%w: %q segment", ErrBadPath, seg)
	case len(seg) > MaxNameLen:
		return fmt.Errorf("%w: name is %d bytes, longer than %d", ErrBadPath, len(seg), MaxNameLen)
	}
	return nil
}

// checkEntryPath reports whether p is a canonical non-root path that a store
// may hold an entry for.
func checkEntryPath(p string) error {
	clean, isDir, err := CleanPath(p)
	if err != nil {
		return err
	}
	if clean == "/" {
		return fmt.Errorf("%w: the root has no entry of its own", ErrBadPath)
	}
	if isDir || clean != p {
		return fmt.Errorf("%w: %.64q is not in canonical form", ErrBadPath, p)
	}
	return nil
}

// checkDirPath reports whether p is a canonical directory path ("/" allowed).
func checkDirPath(p string) error {
	clean, _, err := CleanPath(p)
	if err != nil {
		return err
	}
	if clean != p {
		return fmt.Errorf("%w: %.64q is not in canonical form", ErrBadPath, p)
	}
	return nil
}

// checkRename reports whether from and to are canonical non-root paths
// and to is not below from (a directory cannot move into itself).
func checkRename(from, to string) error {
	if err := checkEntryPath(from); err != nil {
		return err
	}
	if err := checkEntryPath(to); err != nil {
		return err
	}
	if strings.HasPrefix(to, from+"/") {
		return fmt.Errorf("%w: cannot move %s into itself (%s)", ErrBadPath, from, to)
	}
	return nil
}
