package replication

import (
	"errors"

	"github.com/weedfs/weed/needle"
)

// isMissing reports whether err means the needle is not there to read or
// delete (a wrong cookie looks the same from outside).
func isMissing(err error) bool {
	return errors.Is(err, needle.ErrNotFound) || errors.Is(err, needle.ErrDeleted) || errors.Is(err, needle.ErrCookieMismatch)
}

// IsMissing reports whether err, from Delete or the engine, means the
// needle is not there (not found, deleted, or a wrong cookie, which looks
// the same from outside).
func IsMissing(err error) bool { return isMissing(err) }

// LocalError is the failure of an operation on this server's own volume:
// the engine's error (volume.ErrReadOnly, a full disk, needle.ErrNotFound,
// ...), wrapped with the operation. Errors of Write and Delete that are
// not a LocalError are the replication's: the replicas could not be looked
// up or reached.
type LocalError struct{ Err error }

func (e *LocalError) Error() string { return e.Err.Error() }

// Unwrap returns the engine's error.
func (e *LocalError) Unwrap() error { return e.Err }

// MarkError means a delete was applied here and on every replica that
// could be reached, but the stale mark of those it missed could not be
// recorded: it is not acknowledged (the mark is retried in the
// background). Size is the deleted needle's size.
type MarkError struct {
	Size uint32
	Err  error
}

func (e *MarkError) Error() string { return e.Err.Error() }

// Unwrap returns the master call's error.
func (e *MarkError) Unwrap() error { return e.Err }

// ErrMarkPending means a delete found the needle gone here while the stale
// mark of an earlier delete of the volume is not recorded yet: the delete
// is not acknowledged before it is.
var ErrMarkPending = errors.New("the stale mark of an earlier delete is not recorded yet")
