// Package filer maps file system paths to the fids of needles stored on
// volume servers. Its metadata lives behind the Store interface: an embedded
// bbolt file by default, or a Redis server shared by several filers.
package filer

import (
	"context"
	"errors"
)

// Errors returned by the filer's metadata layer. Check them with errors.Is.
var (
	// ErrNotFound means no entry exists at the path.
	ErrNotFound = errors.New("filer: not found")
	// ErrBadPath means a path or name was refused by CleanPath or CheckName,
	// or was not in canonical form where a store needs one. Servers answer 400.
	ErrBadPath = errors.New("filer: bad path")
	// ErrBadEntry means stored entry bytes could not be decoded (corrupt data
	// or an encoding version this build does not know).
	ErrBadEntry = errors.New("filer: bad entry encoding")
	// ErrNoParent means Replace or Create found no directory entry at the
	// parent of the path it was to store: never created, or deleted since
	// the caller looked. The filer creates the directory again and retries.
	ErrNoParent = errors.New("filer: parent directory missing")
	// ErrStoreUnavailable means the store could not be reached: no Redis
	// master answered (down, failing over, a cluster without a quorum).
	// Nothing was done, or, for a write, it may or may not have been done;
	// servers answer 503 and clients try again later.
	ErrStoreUnavailable = errors.New("filer: metadata store unavailable")
	// ErrNotReplicated means a write was done on the Redis master but
	// fewer replicas than asked for (-redis.waitReplicas) acknowledged it
	// in time: a failover might lose it. Servers answer 503; the write may
	// be visible, and writing it again is safe.
	ErrNotReplicated = errors.New("filer: write not acknowledged by enough redis replicas")
)

// Store holds the filer's entries, keyed by canonical path (see CleanPath),
// and lists each directory's children in name order. Creating parent
// directory entries and removing a directory's children before the
// directory are the filer's job, but the store keeps the tree whole
// against concurrent callers, also in other processes sharing it: Replace
// and Create store an entry only while its parent directory exists, and
// Remove takes a directory away only while it has no children, each in one
// atomic step. So no entry is ever left without its parent, whatever
// writes and deletes race (Insert and Delete, which do not check, are for
// loading and tests). The root
// "/" has no entry of its own: Find("/") reports it as a directory, and it
// cannot be inserted or deleted. Implementations are safe for concurrent
// use; every method returns ctx's error if ctx ends first.
type Store interface {
	// Insert stores e under e.FullPath, replacing any entry there, and
	// registers its name in the listing of its parent directory. e.FullPath
	// must be canonical and not "/", or the error wraps ErrBadPath. The store
	// does not keep e; the caller may modify it afterwards.
	Insert(ctx context.Context, e *Entry) error

	// Find returns the entry at the canonical path p, or an error wrapping
	// ErrNotFound. The returned entry belongs to the caller.
	Find(ctx context.Context, p string) (*Entry, error)

	// Delete removes the entry at the canonical path p and its name from its
	// parent's listing. Deleting a missing path is not an error. Children of
	// a deleted directory are not touched.
	Delete(ctx context.Context, p string) error

	// Replace stores the file or directory e under e.FullPath like Insert
	// and returns the entry it replaced, or nil when there was none, in one
	// atomic step, also against other processes sharing the store: of
	// several writers replacing one path at once, each old entry is returned
	// to exactly one of them, so its needles are deleted once and never
	// leaked. When a directory is at the path, nothing changes and the error
	// wraps ErrIsDirectory. When the parent directory is missing the error
	// wraps ErrNoParent, and when a file is there, ErrNotDirectory ("/" is
	// always there).
	Replace(ctx context.Context, e *Entry) (*Entry, error)

	// Create stores e under e.FullPath like Insert, but only when no entry
	// is there, in one atomic step, also against other processes sharing
	// the store. It returns nil when it stored e, or the entry already at
	// the path, left unchanged, with a nil error. The filer creates
	// directories with it, so that a directory never overwrites a file
	// another filer has just written. The parent must exist, as for Replace.
	Create(ctx context.Context, e *Entry) (*Entry, error)

	// Remove removes the entry at the canonical path p like Delete and
	// returns it, or nil when there was none, in one atomic step: of several
	// removers (or a remover and a replacer) of one path, each entry is
	// returned to exactly one of them. A directory that has children is not
	// removed: the error wraps ErrNotEmpty.
	Remove(ctx context.Context, p string) (*Entry, error)

	// List returns up to limit children of the canonical directory dir, in
	// byte order of their names, starting strictly after the name after
	// ("" starts at the first child). A limit <= 0 means no limit. An empty
	// or missing directory lists as an empty slice and a nil error.
	List(ctx context.Context, dir, after string, limit int) ([]*Entry, error)

	// Rename moves the entry at the canonical path from to the canonical
	// path to, with every entry below it for a directory, in one atomic
	// step, also against other processes sharing the store: readers see
	// the whole tree at from or the whole tree at to, never both or a
	// part, and a concurrent write below from lands either before the move
	// (and moves) or after it (and finds from gone: ErrNoParent). It returns
	// the file it replaced at to, or nil. A missing from gives ErrNotFound;
	// a directory at to, ErrIsDirectory; a file at to when from is a
	// directory, ErrNotDirectory; a missing parent of to, ErrNoParent (or
	// ErrNotDirectory for a file); to below from, or either being "/",
	// ErrBadPath. Renaming a path to itself changes nothing.
	Rename(ctx context.Context, from, to string) (*Entry, error)

	// Close releases the store. Calling it more than once is harmless;
	// other methods must not be called after it.
	Close() error
}

// rootEntry is what Find reports for "/", which every store has implicitly.
func rootEntry() *Entry {
	return &Entry{FullPath: "/", IsDirectory: true}
}
