// Package rlimit raises the process's open-file limit. weed-fs crashed when
// it ran out of file descriptors; weed raises the soft limit to the hard limit
// at start and answers 503 when the limit is reached anyway.
package rlimit

import (
	"errors"
	"syscall"

	"github.com/golang/glog"
)

// RaiseOpenFiles sets the soft RLIMIT_NOFILE to the hard limit and returns
// the resulting soft limit.
func RaiseOpenFiles() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		old := lim.Cur
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return old, err
		}
		glog.V(1).Infof("raised open files limit from %d to %d", old, lim.Cur)
	}
	return lim.Cur, nil
}

// IsTooManyOpenFiles reports whether err is EMFILE or ENFILE, the errors a
// server answers with 503 instead of failing.
func IsTooManyOpenFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
