package rlimit

import (
	"os"
	"syscall"
)

// OpenFiles returns the soft RLIMIT_NOFILE in force now: the most file
// descriptors the process may hold (the Go runtime has already raised it
// towards the hard limit at start; see the package doc).
func OpenFiles() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}

// InUse returns how many file descriptors the process holds now, counted in
// /proc/self/fd; 0 when that cannot be read (not Linux).
func InUse() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents) - 1 // the directory being read is one of them
}
