package volume

import "sync/atomic"

// Failure points compiled into the write, delete and vacuum paths for crash
// and ordering tests. A test stores a hook in failpoint; the hook is called
// with the point's name (at the points of the volume files, with the
// volume's locks held, so it must not call the volume) and may copy the
// volume's files to capture the on-disk state a crash at that instant would
// leave, block, or return an error, which makes the operation stop there
// and return it. Production code never sets a hook.
//
// Points:
//
//	write:targets        a primary write of a replicated volume has its replica
//	                     targets (viewGate held shared); nothing appended yet
//	delete:targets       the same for a primary delete
//	write:dat            a needle record is in the .dat; map and .idx not yet updated
//	delete:dat           a tombstone is in the .dat; map and .idx not yet updated
//	compact:done         Compact has written and fsynced .cpd and .cpx
//	commit:synced        CommitCompact caught up and fsynced; nothing renamed yet
//	commit:renamed-dat   .cpd is now the .dat; .cpx not yet renamed to .idx
var failpoint atomic.Pointer[func(point string) error]

// appendFault, when a test sets it, is called by every append to a .dat
// instead of the WriteAt when it returns an error, which stands for the
// WriteAt's (ENOSPC, say). Production code never sets it.
var appendFault atomic.Pointer[func() error]

// SetFailpoint installs fn as the failure point hook (nil removes it) and
// returns the hook it replaces. For tests of this package and of the
// packages above it (the replication coordinator calls FailAt at the
// write:targets and delete:targets points).
func SetFailpoint(fn func(point string) error) (old func(point string) error) {
	var p *func(point string) error
	if fn != nil {
		p = &fn
	}
	if o := failpoint.Swap(p); o != nil {
		return *o
	}
	return nil
}

// FailAt runs the failure point hook for point, if one is installed, and
// returns its error. Production code installs none: then it is one
// atomic load.
func FailAt(point string) error {
	return failAt(point)
}

// failAt runs the hook for point, if one is installed.
func failAt(point string) error {
	if fn := failpoint.Load(); fn != nil {
		return (*fn)(point)
	}
	return nil
}

// SetAppendFault makes every append to a .dat fail with fn's error, when it
// returns one, instead of writing (nil removes it), and returns the fault
// it replaces: tests use it to stand for a full disk (ENOSPC).
func SetAppendFault(fn func() error) (old func() error) {
	var p *func() error
	if fn != nil {
		p = &fn
	}
	if o := appendFault.Swap(p); o != nil {
		return *o
	}
	return nil
}
