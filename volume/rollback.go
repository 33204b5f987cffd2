package volume

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
)

// ErrRolledBack means a replicated write arrived after its primary had
// given up on it and this replica had already applied the rollback's
// tombstone: the write is refused, so that it cannot come back here while
// it is deleted on the primary.
var ErrRolledBack = errors.New("write was rolled back by its primary")

// maxRolledBack bounds the rolled-back writes a volume remembers. Past it
// the oldest are forgotten first, with a warning.
const maxRolledBack = 4096

// rolledBackKeep is how long a volume refuses a rolled-back write after it
// applied the rollback. Both requests left the primary together (the write
// first), so the write is queued behind the same pause or network stall as
// its rollback and arrives right after it, or never; a write sent twice
// (the fan-out resends to a failed replica still listed) is refused both
// times.
const rolledBackKeep = 10 * time.Minute

// rolledBackWrite is a replicated write whose rollback this replica
// applied; the write may arrive after it (a paused or slow replica handles
// both requests at once, in any order). Volume.rolledBack holds them by
// key.
type rolledBackWrite struct {
	writeAt uint64    // the write's appendAtNs
	tombAt  uint64    // the rollback tombstone's appendAtNs
	at      time.Time // when the rollback was applied here
}

// WriteReplica stores a needle record another replica appended, like
// Write, unless this replica already applied the rollback of that very
// write (DeleteRolledBack before the write arrived): then it appends
// nothing and returns ErrRolledBack. The check runs under the append lock
// and costs one comparison while no rollback is remembered.
func (v *Volume) WriteReplica(n *needle.Needle) (size uint32, err error) {
	return v.write(n, true)
}

// refuseRolledBackLocked reports whether n is a write whose rollback was
// already applied, forgetting rollbacks older than rolledBackKeep first.
// The caller holds mu and has checked that rolledBackN is not zero.
func (v *Volume) refuseRolledBackLocked(n *needle.Needle) bool {
	if now := time.Now(); now.After(v.rolledBackExpiry) {
		v.pruneRolledBackLocked(now)
	}
	for _, w := range v.rolledBack[n.Key] {
		if w.writeAt == n.AppendAtNs {
			return true
		}
	}
	return false
}

// pruneRolledBackLocked forgets the rollbacks applied more than
// rolledBackKeep before now and sets when the next one expires. The
// caller holds mu.
func (v *Volume) pruneRolledBackLocked(now time.Time) {
	var next time.Time
	for k, ws := range v.rolledBack {
		keep := ws[:0]
		for _, w := range ws {
			if now.Sub(w.at) <= rolledBackKeep {
				keep = append(keep, w)
				if next.IsZero() || w.at.Before(next) {
					next = w.at
				}
			}
		}
		v.rolledBackN -= len(ws) - len(keep)
		if len(keep) == 0 {
			delete(v.rolledBack, k)
		} else {
			v.rolledBack[k] = keep
		}
	}
	v.rolledBackExpiry = next.Add(rolledBackKeep)
}

// DeleteRolledBack applies one replica's part of the rollback of a failed
// replicated write (the write stamped writeAt, the tombstone ts > writeAt)
// like DeleteReplica. The write may still arrive (its request is on its
// way or queued behind a pause, or sent a second time): the volume
// remembers it for rolledBackKeep, and WriteReplica refuses it when it
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
	v.rememberRolledBackLocked(key, rolledBackWrite{writeAt: writeAt, tombAt: ts, at: time.Now()})
	v.mu.Unlock()
	// A write that arrives from here on is refused (a second copy of one
	// that arrived before too); one that arrived before is the live
	// needle this deletes.
	return v.DeleteReplica(key, cookie, ts)
}

// rememberRolledBackLocked records a rolled-back write, dropping the oldest entries past maxRolledBack. The caller
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
	if v.rolledBackN == 0 || w.at.Add(rolledBackKeep).Before(v.rolledBackExpiry) {
		v.rolledBackExpiry = w.at.Add(rolledBackKeep)
	}
	if v.rolledBackN >= maxRolledBack {
		v.pruneRolledBackLocked(w.at)
	}
	for v.rolledBackN >= maxRolledBack {
		oldKey, oldAt := needle.Key(0), time.Time{}
		for k, ws := range v.rolledBack {
			if oldAt.IsZero() || ws[0].at.Before(oldAt) {
				oldKey, oldAt = k, ws[0].at
			}
		}
		glog.Warningf("volume %d: %d rolled-back writes remembered; no longer refusing key %x's, rolled back at %s",
			v.id, v.rolledBackN, uint64(oldKey), time.Unix(0, int64(v.rolledBack[oldKey][0].tombAt)).UTC().Format(time.RFC3339Nano))
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
