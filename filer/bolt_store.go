package filer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/golang/glog"
	bolt "go.etcd.io/bbolt"
)

// BoltFileName is the name of the bbolt file a BoltStore keeps in its directory.
const BoltFileName = "filer.db"

// Bolt layout: bucket "entries" maps parent dir + "\x00" + name to the
// encoded entry, so a directory's children are one contiguous key range in
// name order (names never contain NUL, so no other directory shares the
// prefix). Bucket "meta" records the layout version.
var (
	boltEntriesBucket = []byte("entries")
	boltMetaBucket    = []byte("meta")
	boltLayoutKey     = []byte("layout")
)

const boltLayoutVersion = "1"

var _ Store = (*BoltStore)(nil)

// boltOpenTimeout bounds the wait for the file lock another process holds.
const boltOpenTimeout = 2 * time.Second

// BoltStore is a Store in one bbolt file, the filer's default. It survives
// restarts and is safe for concurrent use; one process holds the file at a time.
type BoltStore struct {
	db        *bolt.DB
	closeOnce sync.Once
	closeErr  error
}

// OpenBoltStore opens (creating when missing) the store file BoltFileName in
// dir, creating dir too. It fails if another process holds the file.
func OpenBoltStore(dir string) (*BoltStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("filer: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, BoltFileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: boltOpenTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("filer: open %s: held by another filer for over %v: %w", path, boltOpenTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("filer: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(boltEntriesBucket); err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(boltMetaBucket)
		if err != nil {
			return err
		}
		switch v := meta.Get(boltLayoutKey); {
		case v == nil:
			return meta.Put(boltLayoutKey, []byte(boltLayoutVersion))
		case string(v) != boltLayoutVersion:
			return fmt.Errorf("unknown layout version %q", v)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("filer: init %s: %w", path, err)
	}
	glog.V(1).Infof("filer: bolt store %s opened", path)
	return &BoltStore{db: db}, nil
}

// boltKey is the key of the entry at the canonical non-root path p.
func boltKey(p string) []byte {
	dir, name := SplitPath(p)
	k := make([]byte, 0, len(dir)+1+len(name))
	k = append(k, dir...)
	k = append(k, 0)
	return append(k, name...)
}

// Insert stores e, replacing any entry at e.FullPath; see Store.Insert.
func (s *BoltStore) Insert(ctx context.Context, e *Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkEntryPath(e.FullPath); err != nil {
		return fmt.Errorf("filer: insert: %w", err)
	}
	val, err := MarshalEntry(e)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(boltEntriesBucket).Put(boltKey(e.FullPath), val)
	})
	if err != nil {
		return fmt.Errorf("filer: insert %q: %w", e.FullPath, err)
	}
	return nil
}

// Replace stores e and returns the entry it replaced in one bolt
// transaction; see Store.Replace.
func (s *BoltStore) Replace(ctx context.Context, e *Entry) (*Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkEntryPath(e.FullPath); err != nil {
		return nil, fmt.Errorf("filer: replace: %w", err)
	}
	val, err := MarshalEntry(e)
	if err != nil {
		return nil, err
	}
	var old *Entry
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltEntriesBucket)
		key := boltKey(e.FullPath)
		if v := b.Get(key); v != nil {
			var err error
			if old, err = UnmarshalEntry(v); err != nil {
				return err
			}
			if old.IsDirectory {
				return ErrIsDirectory
			}
		}
		if err := boltCheckParent(b, e.FullPath); err != nil {
			return err
		}
		return b.Put(key, val)
	})
	if err != nil {
		return nil, fmt.Errorf("filer: replace %q: %w", e.FullPath, err)
	}
	return old, nil
}

// Create stores e unless an entry is at its path, in one bolt
// transaction; see Store.Create.
func (s *BoltStore) Create(ctx context.Context, e *Entry) (*Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkEntryPath(e.FullPath); err != nil {
		return nil, fmt.Errorf("filer: create: %w", err)
	}
	val, err := MarshalEntry(e)
	if err != nil {
		return nil, err
	}
	var existing *Entry
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltEntriesBucket)
		key := boltKey(e.FullPath)
		if v := b.Get(key); v != nil {
			var err error
			existing, err = UnmarshalEntry(v)
			return err
		}
		if err := boltCheckParent(b, e.FullPath); err != nil {
			return err
		}
		return b.Put(key, val)
	})
	if err != nil {
		return nil, fmt.Errorf("filer: create %q: %w", e.FullPath, err)
	}
	return existing, nil
}

// Remove deletes the entry at p and returns it in one bolt transaction;
// see Store.Remove.
func (s *BoltStore) Remove(ctx context.Context, p string) (*Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkEntryPath(p); err != nil {
		return nil, fmt.Errorf("filer: remove: %w", err)
	}
	var old *Entry
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltEntriesBucket)
		key := boltKey(p)
		v := b.Get(key)
		if v == nil {
			return nil
		}
		var err error
		if old, err = UnmarshalEntry(v); err != nil {
			return err
		}
		if old.IsDirectory {
			prefix := append([]byte(p), 0)
			if k, _ := b.Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
				return ErrNotEmpty
			}
		}
		return b.Delete(key)
	})
	if err != nil {
		return nil, fmt.Errorf("filer: remove %q: %w", p, err)
	}
	return old, nil
}

// boltCheckParent reports, inside a transaction on the entries bucket b,
// whether the parent directory of the canonical path p is there:
// ErrNoParent when it is missing, ErrNotDirectory when it is a file.
func boltCheckParent(b *bolt.Bucket, p string) error {
	dir, _ := SplitPath(p)
	if dir == "/" {
		return nil
	}
	v := b.Get(boltKey(dir))
	if v == nil {
		return fmt.Errorf("%s: %w", dir, ErrNoParent)
	}
	parent, err := UnmarshalEntry(v)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if !parent.IsDirectory {
		return fmt.Errorf("%s is a file: %w", dir, ErrNotDirectory)
	}
	return nil
}

// Find returns the entry at p or an error wrapping ErrNotFound; see Store.Find.
func (s *BoltStore) Find(ctx context.Context, p string) (*Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p == "/" {
		return rootEntry(), nil
	}
	if err := checkEntryPath(p); err != nil {
		return nil, fmt.Errorf("filer: find: %w", err)
	}
	var e *Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(boltEntriesBucket).Get(boltKey(p))
		if v == nil {
			return ErrNotFound
		}
		var err error
		e, err = UnmarshalEntry(v)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("filer: find %q: %w", p, err)
	}
	return e, nil
}

// Delete removes the entry at p; a missing path is not an error. See Store.Delete.
func (s *BoltStore) Delete(ctx context.Context, p string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkEntryPath(p); err != nil {
		return fmt.Errorf("filer: delete: %w", err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(boltEntriesBucket).Delete(boltKey(p))
	})
	if err != nil {
		return fmt.Errorf("filer: delete %q: %w", p, err)
	}
	return nil
}

// List returns a page of dir's children after the name after; see Store.List.
// It is one cursor seek followed by a scan of the directory's key range.
func (s *BoltStore) List(ctx context.Context, dir, after string, limit int) ([]*Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkDirPath(dir); err != nil {
		return nil, fmt.Errorf("filer: list: %w", err)
	}
	prefix := append([]byte(dir), 0)
	start := append(append([]byte(nil), prefix...), after...)
	entries := []*Entry{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(boltEntriesBucket).Cursor()
		k, v := c.Seek(start)
		if after != "" && bytes.Equal(k, start) {
			k, v = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(entries)%256 == 255 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			e, err := UnmarshalEntry(v)
			if err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
			entries = append(entries, e)
			if limit > 0 && len(entries) >= limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("filer: list %q: %w", dir, err)
	}
	return entries, nil
}

// Close closes the bbolt file. Later calls return the first call's result.
func (s *BoltStore) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// Rename moves the entry at from, and a directory's whole tree, to to in
// one bolt transaction; see Store.Rename. A directory's tree is the key
// range of its children (from + "\x00") and that of every directory below
// it (from + "/"), each found with one cursor seek.
func (s *BoltStore) Rename(ctx context.Context, from, to string) (*Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkRename(from, to); err != nil {
		return nil, fmt.Errorf("filer: rename %q: %w", from, err)
	}
	var replaced *Entry
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltEntriesBucket)
		v := b.Get(boltKey(from))
		if v == nil {
			return ErrNotFound
		}
		root, err := UnmarshalEntry(v)
		if err != nil {
			return err
		}
		if from == to {
			return nil
		}
		if v := b.Get(boltKey(to)); v != nil {
			target, err := UnmarshalEntry(v)
			switch {
			case err != nil:
				return err
			case target.IsDirectory:
				return fmt.Errorf("%s: %w", to, ErrIsDirectory)
			case root.IsDirectory:
				return fmt.Errorf("a directory cannot replace the file %s: %w", to, ErrNotDirectory)
			}
			replaced = target
		}
		if err := boltCheckParent(b, to); err != nil {
			return err
		}
		moves := []*Entry{root}
		if root.IsDirectory {
			for _, prefix := range [][]byte{append([]byte(from), 0), []byte(from + "/")} {
				c := b.Cursor()
				for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
					e, err := UnmarshalEntry(v)
					if err != nil {
						return fmt.Errorf("key %q: %w", k, err)
					}
					moves = append(moves, e)
				}
			}
		}
		for _, e := range moves {
			if err := b.Delete(boltKey(e.FullPath)); err != nil {
				return err
			}
		}
		for _, e := range moves {
			e.FullPath = to + strings.TrimPrefix(e.FullPath, from)
			val, err := MarshalEntry(e)
			if err != nil {
				return err
			}
			if err := b.Put(boltKey(e.FullPath), val); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("filer: rename %q to %q: %w", from, to, err)
	}
	return replaced, nil
}
