//go:build !linux

package redistest

import "syscall"

// sysProcAttr uses the default process attributes where the kernel offers no
// parent-death signal.
func sysProcAttr() *syscall.SysProcAttr {
	return nil
}
