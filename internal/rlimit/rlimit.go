// Package rlimit reads the process's open-file limit and recognises the
// errors of running out of file descriptors. weed-fs crashed when it ran out
// of them; weed answers 503 instead, and a volume server refuses to start
// when its volumes cannot fit under the limit (volume's fd budget).
//
// weed does not raise the limit itself: since Go 1.19 every Go program that
// imports os raises its soft RLIMIT_NOFILE towards the hard limit at start
// (Go 1.19 release notes, "os": "Go programs that import package os now
// automatically increase the open file limit (RLIMIT_NOFILE) to the maximum
// allowed"; the init in $GOROOT/src/syscall/rlimit.go, go.dev/issue/46279,
// which sets the soft limit to the hard limit minus one).
package rlimit

import (
	"errors"
	"syscall"
)

// IsTooManyOpenFiles reports whether err is EMFILE or ENFILE, the errors a
// server answers with 503 instead of failing.
func IsTooManyOpenFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
