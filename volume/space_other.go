//go:build !unix

package volume

import (
	"errors"
	"syscall"
)

// statfs answers errors.ErrUnsupported on systems without statfs(2): there
// a directory turns low on space only by a failed append, never by
// -minFreeSpace.
func statfs(dir string) (free, total uint64, err error) {
	return 0, 0, errors.ErrUnsupported
}

// IsNoSpace reports whether err means the disk is full: ENOSPC from the
// file system, or ErrNoSpace.
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrNoSpace)
}
