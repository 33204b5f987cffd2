package volume

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
)

// ErrRolledBack means a replicated write arrived after its primary had
// given up on it and this replica had already applied the rollback's
// tombstone: the write is refused, so that it cannot come back here while
// it is deleted on the primary.
var ErrRolledBack = errors.New("write was rolled back by its primary")

// maxRolledBack bounds the rolled-back writes a volume waits for. A write
// whose request never reaches the server leaves its entry behind; past the
// bound the oldest entries (by tombstone time) go first, with a warning.
const maxRolledBack = 4096

// rolledBackWrite is a replicated write whose rollback this replica applied
// before the write itself arrived (a paused or slow replica handles both
// requests at once, in any order). Volume.rolledBack holds them by key.
type rolledBackWrite struct {
	writeAt uint64 // the write's appendAtNs
	tombAt  uint64 // the rollback tombstone's appendAtNs
}

// WriteReplica stores a needle record another replica appended, like
// Write, unless this replica already applied the rollback of that very
// write (DeleteRolledBack before the write arrived): then it appends
// nothing and returns ErrRolledBack. The check runs under the append lock
// and costs nothing while no rollback is pending.
func (v *Volume) WriteReplica(n *needle.Needle) (size uint32, err error) {
	return v.write(n, true)
}

// refuseRolledBackLocked reports whether n is a write whose rollback was
// already applied, forgetting it then (it arrives once). The caller holds
// mu and has checked that rolledBack is not empty.
func (v *Volume) refuseRolledBackLocked(n *needle.Needle) bool {
	ws := v.rolledBack[n.Key]
	for i, w := range ws {
		if w.writeAt != n.AppendAtNs {
			continue
		}
		if len(ws) == 1 {
			delete(v.rolledBack, n.Key)
		} else {
			v.rolledBack[n.Key] = append(ws[:i:i], ws[i+1:]...)
		}
		v.rolledBackN--
		return true
	}
	return false
}

// DeleteRolledBack applies one replica's part of the rollback of a failed
// replicated write (the write stamped writeAt, the tombstone ts > writeAt)
// like DeleteReplica. When this replica does not hold that write yet, the
// write may still arrive (its request is on its way or queued behind a
// pause): the volume remembers it, and WriteReplica refuses it when it
// comes, so that the write ends absent here as on the primary.
func (v *Volume) DeleteRolledBack(key needle.Key, cookie needle.Cookie, writeAt, ts uint64) (uint32, error) {
	if !v.Syncable() || writeAt == 0 {
		return v.DeleteReplica(key, cookie, ts)
	}
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return 0, fmt.Errorf("volume %d: %w", v.id, ErrClosed)
	}
	if !v.holdsWriteLocked(key, writeAt) {
		v.rememberRolledBackLocked(key, rolledBackWrite{writeAt: writeAt, tombAt: ts})
	}
	v.mu.Unlock()
	// A write that arrives from here on is refused; one that arrived
	// before is the live needle this deletes.
	return v.DeleteReplica(key, cookie, ts)
}

// holdsWriteLocked reports whether the live needle of key is the write
// stamped writeAt. The caller holds mu.
func (v *Volume) holdsWriteLocked(key needle.Key, writeAt uint64) bool {
	nv, ok := v.nm.Get(key)
	if !ok || nv.Size == 0 || nv.Size == needle.TombstoneSize {
		return false
	}
	rh, err := readRecordHead(v.dat, needle.OffsetBytes(nv.Offset), v.end.Load(), v.version)
	return err == nil && rh.h.Key == key && rh.ts == writeAt
}

// rememberRolledBackLocked records a rolled-back write that has not
// arrived, dropping the oldest entries past maxRolledBack. The caller
// holds mu.
func (v *Volume) rememberRolledBackLocked(key needle.Key, w rolledBackWrite) {
	for _, old := range v.rolledBack[key] {
		if old.writeAt == w.writeAt {
			return
		}
	}
	if v.rolledBack == nil {
		v.rolledBack = make(map[needle.Key][]rolledBackWrite)
	}
	for v.rolledBackN >= maxRolledBack {
		oldKey, oldAt := needle.Key(0), uint64(math.MaxUint64)
		for k, ws := range v.rolledBack {
			if ws[0].tombAt < oldAt {
				oldKey, oldAt = k, ws[0].tombAt
			}
		}
		glog.Warningf("volume %d: %d rolled-back writes never arrived; no longer refusing key %x's (rolled back at %s)",
			v.id, v.rolledBackN, uint64(oldKey), time.Unix(0, int64(oldAt)).UTC().Format(time.RFC3339))
		if ws := v.rolledBack[oldKey]; len(ws) > 1 {
			v.rolledBack[oldKey] = ws[1:]
		} else {
			delete(v.rolledBack, oldKey)
		}
		v.rolledBackN--
	}
	v.rolledBack[key] = append(v.rolledBack[key], w)
	v.rolledBackN++
}
