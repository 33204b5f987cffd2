package replication

import "github.com/weedfs/weed/volume"

// syncAction is what a pairwise sync does about one key.
type syncAction int

const (
	actNone         syncAction = iota
	actPull                    // copy the remote record here
	actPush                    // copy the local record there
	actDeleteLocal             // tombstone the local needle
	actDeleteRemote            // tombstone the remote needle
)

func (a syncAction) String() string {
	return [...]string{"none", "pull", "push", "delete-local", "delete-remote"}[a]
}

// sideRole is what one side of a pairwise sync may be trusted with.
type sideRole struct {
	// Trusted: the replica is not marked stale, so it missed no
	// acknowledged delete: a live needle it holds that the other side has
	// no record of at all may be copied over.
	Trusted bool
	// Authority: trusted, healthy (serving) and complete (not a copy still
	// being built): a key it has no record of at all is gone, so the other
	// side's live needle of that key is deleted there, if that side is
	// not trusted itself.
	Authority bool
	// Receives: records may be copied to this side (a backup's source
	// receives nothing).
	Receives bool
}

// decideKey is the newest-wins rule for one key between the local and the
// remote replica. exact says whether an absent state means "no record at
// all" (key states from the digest phase) or only "nothing in the window"
// (the since phase, where the side that applies a record checks its real
// state itself and is told whether a brand-new key is allowed).
func decideKey(local, remote volume.RecordState, l, r sideRole, exact bool) syncAction {
	switch {
	case !local.Present && !remote.Present:
		return actNone
	case local.Present && remote.Present:
		switch {
		case volume.Newer(remote, local) && l.Receives:
			return actPull
		case volume.Newer(local, remote) && r.Receives:
			return actPush
		}
		return actNone
	case remote.Present: // nothing here
		switch {
		case !l.Receives:
			return actNone
		case remote.Tombstone || !exact || r.Trusted:
			return actPull
		case l.Authority && r.Receives:
			return actDeleteRemote
		}
		return actNone
	default: // nothing there
		switch {
		case !r.Receives:
			if exact && !local.Tombstone && !l.Trusted && r.Authority {
				return actDeleteLocal
			}
			return actNone
		case local.Tombstone || !exact || l.Trusted:
			return actPush
		case r.Authority:
			return actDeleteLocal
		}
		return actNone
	}
}
