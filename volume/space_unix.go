//go:build unix

package volume

import (
	"errors"
	"fmt"
	"syscall"
)

// statfs returns the bytes available to unprivileged users and the total
// bytes of the file system holding dir.
func statfs(dir string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	bs := uint64(st.Bsize)
	return uint64(st.Bavail) * bs, uint64(st.Blocks) * bs, nil
}

// IsNoSpace reports whether err means the disk is full: ENOSPC or EDQUOT
// from the file system, or ErrNoSpace.
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, ErrNoSpace)
}
