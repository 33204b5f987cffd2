package volume

import "sync/atomic"

// Failure points compiled into the write, delete and vacuum paths for crash
// tests. A test stores a hook in failpoint; the hook is called with
// the point's name (with the volume's locks held, so it must not call the
// volume) and may copy the volume's files to capture the on-disk state a
// crash at that instant would leave, or return an error, which makes the
// operation stop there and return it. Production code never sets a hook.
//
// Points:
//
//	write:dat            a needle record is in the .dat; map and .idx not yet updated
//	delete:dat           a tombstone is in the .dat; map and .idx not yet updated
//	compact:done         Compact has written and fsynced .cpd and .cpx
//	commit:synced        CommitCompact caught up and fsynced; nothing renamed yet
//	commit:renamed-dat   .cpd is now the .dat; .cpx not yet renamed to .idx
var failpoint atomic.Pointer[func(point string) error]

// failAt runs the hook for point, if one is installed.
func failAt(point string) error {
	if fn := failpoint.Load(); fn != nil {
		return (*fn)(point)
	}
	return nil
}
