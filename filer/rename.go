package filer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang/glog"
)

// Rename moves the file or directory tree at the canonical path from to
// the canonical path to, creating to's missing parent directories. The
// move itself is one atomic step of the store (Store.Rename): no reader
// sees the tree in both places or in neither. A file replaced at to has
// its needles deleted afterwards. Errors: ErrNotFound for a missing from,
// ErrIsDirectory for a directory at to, ErrNotDirectory for a file among
// to's parents or a directory moved onto a file, ErrBadPath for "/" or a
// directory moved into itself.
func (f *Filer) Rename(ctx context.Context, from, to string) error {
	if from == "/" || to == "/" {
		return fmt.Errorf("filer: move %s to %s: %w: the root cannot move or be replaced", from, to, ErrBadPath)
	}
	if err := checkRename(from, to); err != nil {
		return fmt.Errorf("filer: move %s to %s: %w", from, to, err)
	}
	if _, err := f.store.Find(ctx, from); err != nil {
		return fmt.Errorf("filer: move %s: %w", from, err)
	}
	dir, _ := SplitPath(to)
	var replaced *Entry
	for attempt := 1; ; attempt++ {
		err := f.mkdirAll(ctx, dir, time.Now())
		if err == nil {
			replaced, err = f.store.Rename(ctx, from, to)
		}
		// ErrNoParent: a delete took a directory of to away after mkdirAll
		// saw it; make it again, a few times, as Commit does.
		if errors.Is(err, ErrNoParent) && attempt < commitAttempts {
			continue
		}
		if err != nil {
			return fmt.Errorf("filer: move %s to %s: %w", from, to, err)
		}
		break
	}
	glog.V(2).Infof("filer: moved %s to %s", from, to)
	if replaced != nil && len(replaced.Chunks) > 0 {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		if err := f.deleteNeedles(cctx, replaced.Chunks); err != nil {
			glog.Errorf("filer: moved %s over %s, but the replaced file's needles remain: %v", from, to, err)
		}
	}
	return nil
}
