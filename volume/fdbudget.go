package volume

import (
	"errors"
	"fmt"

	"github.com/weedfs/weed/internal/rlimit"
)

// ErrOpenFilesLimit means the open-files limit (RLIMIT_NOFILE) is too low
// for the volumes a store holds: NewStore refuses to start rather than load
// some of them and serve half a disk.
var ErrOpenFilesLimit = errors.New("open files limit too low")

// FileReserve is the file descriptors a volume server keeps for everything
// but its volumes' files: listeners, client, replica and master
// connections, log files, and the files a vacuum, copy or sync opens for a
// while.
const FileReserve = 256

// filesPerVolume is what one loaded volume keeps open: its .dat and .idx,
// and the bolt map's file with MapBolt.
func filesPerVolume(kind MapKind) int {
	if kind == MapBolt {
		return 3
	}
	return 2
}

// fileBudget is the file descriptors a store of n volumes needs: the ones
// already open (inUse), the volumes' own, and FileReserve.
func fileBudget(n int, kind MapKind, inUse int) uint64 {
	return uint64(inUse) + uint64(n)*uint64(filesPerVolume(kind)) + FileReserve
}

// checkFileBudget returns an ErrOpenFilesLimit error of one line when n
// volumes need more file descriptors than limit allows: the limit, what is
// needed and how to raise it.
func checkFileBudget(n int, kind MapKind, inUse int, limit uint64) error {
	need := fileBudget(n, kind, inUse)
	if need <= limit {
		return nil
	}
	return fmt.Errorf("%w: %d volumes need %d file descriptors (%d each, %d already open, %d spare for connections and logs) but the limit is %d; raise it with `ulimit -n %d` (or LimitNOFILE=%d for systemd) and start again",
		ErrOpenFilesLimit, n, need, filesPerVolume(kind), inUse, FileReserve, limit, need, need)
}

// checkOpenFiles checks the budget of n volumes against the limit in force.
// A limit that cannot be read is not checked (the load then fails on EMFILE).
func checkOpenFiles(n int, kind MapKind) error {
	limit, err := rlimit.OpenFiles()
	if err != nil {
		return nil
	}
	return checkFileBudget(n, kind, rlimit.InUse(), limit)
}
