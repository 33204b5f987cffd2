package filer

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"sync"
	"time"

	"github.com/golang/glog"
	"golang.org/x/sync/errgroup"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/needle"
)

// Errors of the Filer's operations, beyond those of the Store. Check them
// with errors.Is.
var (
	// ErrIsDirectory means a file operation named a directory.
	// Servers answer 409.
	ErrIsDirectory = errors.New("filer: is a directory")
	// ErrNotDirectory means a path goes through, or lists, a file as if it
	// were a directory. Servers answer 409.
	ErrNotDirectory = errors.New("filer: not a directory")
	// ErrNotEmpty means a directory with children was to be deleted without
	// recursion. Servers answer 409.
	ErrNotEmpty = errors.New("filer: directory not empty")
	// ErrBadParam means a write or listing parameter (replication,
	// collection, ttl, maxMB, limit) was refused. Servers answer 400.
	ErrBadParam = errors.New("filer: bad parameter")
	// ErrBadUpload means the bytes of an upload could not be read from the
	// client (a malformed or truncated body). Servers answer 400.
	ErrBadUpload = errors.New("filer: bad upload")
)

// Defaults and bounds of a Filer.
const (
	// DefaultMaxMB is the chunk size, in MiB, when Options.MaxMB is 0.
	DefaultMaxMB = 32
	// MaxMaxMB is the largest chunk size a Filer accepts, in MiB: a chunk
	// and its multipart framing must stay under the volume servers' upload
	// limit (256 MiB by default).
	MaxMaxMB = 128
	// DefaultListLimit is the page size of a listing that names none.
	DefaultListLimit = 100
	// MaxListLimit is the largest page a listing returns.
	MaxListLimit = 1000
	// maxCollectionLen is the longest collection name, as the master
	// accepts it.
	maxCollectionLen = 128
	// needleDeleteConcurrency bounds the needle deletes in flight for one
	// file.
	needleDeleteConcurrency = 8
	// cleanupTimeout bounds the deletes that clean up after a failed or
	// replaced write, which run even when the request's context has ended.
	cleanupTimeout = time.Minute
	// lockStripes is the number of mutexes paths are hashed onto.
	lockStripes = 64
	// commitAttempts bounds how often a write creates its directories
	// again after a concurrent delete took them (ErrNoParent).
	commitAttempts = 8
	// deleteRounds bounds how often a recursive delete goes over a
	// directory again because files were written into it meanwhile.
	deleteRounds = 8
)

// Options configures a Filer.
type Options struct {
	// DefaultReplication is the placement of writes that name none ("" lets
	// the master choose).
	DefaultReplication string
	// Collection is the collection of writes that name none.
	Collection string
	// MaxMB is the chunk size in MiB: a file up to MaxMB is one needle,
	// a larger one is stored as chunks of MaxMB. 0 means DefaultMaxMB.
	MaxMB int
}

// WriteParams are the per-write overrides of a file's placement: the
// replication, collection, ttl and maxMB query parameters of a write.
// Empty fields take the Filer's defaults.
type WriteParams struct {
	Replication string
	Collection  string
	TTL         string
	// MaxMB, when positive, lowers the chunk size for this write; it may
	// not exceed the Filer's own MaxMB.
	MaxMB int
}

// NewFile describes a file about to be written.
type NewFile struct {
	// Path is the canonical path the file will have (see CleanPath).
	Path string
	// Mime is the content type; empty when unknown.
	Mime string
	// Gzipped says the bytes are gzip-compressed: they are stored as they
	// are and served inflated to clients that do not accept gzip. Such a
	// file must fit in one chunk.
	Gzipped bool
	// Params are the write's placement overrides.
	Params WriteParams
}

// Filer maps paths to files stored as needles: the entries live in a Store,
// the bytes on the volume servers reached through a client.Client. It keeps
// no entries in memory, so several Filers over one shared Store (Redis) see
// one namespace. Safe for concurrent use.
type Filer struct {
	store     Store
	client    *client.Client
	opts      Options
	chunkSize int
	locks     [lockStripes]sync.Mutex
	bufs      sync.Pool // *[]byte of cap chunkSize
}

// NewFiler returns a Filer over store and c. It checks opts and does no
// I/O. The Filer does not own store or c: closing them is the caller's job.
func NewFiler(store Store, c *client.Client, opts Options) (*Filer, error) {
	if store == nil || c == nil {
		return nil, errors.New("filer: a store and a client are required")
	}
	if opts.MaxMB == 0 {
		opts.MaxMB = DefaultMaxMB
	}
	if opts.MaxMB < 0 || opts.MaxMB > MaxMaxMB {
		return nil, fmt.Errorf("%w: maxMB %d is not in 1..%d", ErrBadParam, opts.MaxMB, MaxMaxMB)
	}
	if err := checkReplication(opts.DefaultReplication); err != nil {
		return nil, err
	}
	if err := checkCollection(opts.Collection); err != nil {
		return nil, err
	}
	return &Filer{store: store, client: c, opts: opts, chunkSize: opts.MaxMB << 20}, nil
}

// Store returns the Store the Filer keeps its entries in.
func (f *Filer) Store() Store { return f.store }

// Client returns the client the Filer reaches the volume servers with.
func (f *Filer) Client() *client.Client { return f.client }

// ResolveParams checks p and fills its empty fields with the Filer's
// defaults. A refused value gives an error wrapping ErrBadParam.
func (f *Filer) ResolveParams(p WriteParams) (WriteParams, error) {
	if p.Replication == "" {
		p.Replication = f.opts.DefaultReplication
	}
	if p.Collection == "" {
		p.Collection = f.opts.Collection
	}
	if err := checkReplication(p.Replication); err != nil {
		return p, err
	}
	if err := checkCollection(p.Collection); err != nil {
		return p, err
	}
	if _, err := needle.ParseTTL(p.TTL); err != nil {
		return p, fmt.Errorf("%w: ttl: %w", ErrBadParam, err)
	}
	if p.MaxMB < 0 || p.MaxMB > f.opts.MaxMB {
		return p, fmt.Errorf("%w: maxMB %d is not in 1..%d", ErrBadParam, p.MaxMB, f.opts.MaxMB)
	}
	if p.MaxMB == 0 {
		p.MaxMB = f.opts.MaxMB
	}
	return p, nil
}

// checkReplication accepts "" and three digits xyz with x*100+y*10+z <= 255,
// the placements a master can store.
func checkReplication(s string) error {
	if s == "" {
		return nil
	}
	ok := len(s) == 3
	for i := 0; ok && i < 3; i++ {
		ok = s[i] >= '0' && s[i] <= '9'
	}
	if !ok || (int(s[0]-'0')*100+int(s[1]-'0')*10+int(s[2]-'0')) > 255 {
		return fmt.Errorf("%w: replication %.16q is not a placement xyz", ErrBadParam, s)
	}
	return nil
}

// checkCollection accepts "" and names of letters, digits, '_' and '-' that
// the master accepts.
func checkCollection(s string) error {
	if len(s) > maxCollectionLen {
		return fmt.Errorf("%w: collection is longer than %d bytes", ErrBadParam, maxCollectionLen)
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-') {
			return fmt.Errorf("%w: collection %.64q: only letters, digits, '_' and '-' are allowed", ErrBadParam, s)
		}
	}
	return nil
}

// lock returns the mutex serialising changes to path p in this process.
func (f *Filer) lock(p string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = io.WriteString(h, p)
	return &f.locks[h.Sum32()%lockStripes]
}

// Find returns the entry at the canonical path p ("/" is the root
// directory), or an error wrapping ErrNotFound.
func (f *Filer) Find(ctx context.Context, p string) (*Entry, error) {
	e, err := f.store.Find(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("filer: find %s: %w", p, err)
	}
	return e, nil
}

// CheckWritable reports whether a file could be written at the canonical
// path p now: p must not be a directory (ErrIsDirectory) and no existing
// ancestor of p may be a file (ErrNotDirectory). Writers call it to fail
// before sending any bytes; Commit checks again.
func (f *Filer) CheckWritable(ctx context.Context, p string) error {
	if p == "/" {
		return fmt.Errorf("filer: write %s: %w", p, ErrIsDirectory)
	}
	e, err := f.store.Find(ctx, p)
	switch {
	case err == nil && e.IsDirectory:
		return fmt.Errorf("filer: write %s: %w", p, ErrIsDirectory)
	case err != nil && !errors.Is(err, ErrNotFound):
		return fmt.Errorf("filer: write %s: %w", p, err)
	}
	dir, _ := SplitPath(p)
	for {
		e, err := f.store.Find(ctx, dir)
		switch {
		case err == nil && e.IsDirectory:
			return nil
		case err == nil:
			return fmt.Errorf("filer: write %s: %s is a file: %w", p, dir, ErrNotDirectory)
		case !errors.Is(err, ErrNotFound):
			return fmt.Errorf("filer: write %s: %w", p, err)
		}
		dir, _ = SplitPath(dir)
	}
}

// WriteFile stores the bytes of r as the file nf.Path (StoreChunks, then
// Commit) and returns its entry. On failure nothing is visible at the path
// and the needles already stored are deleted.
func (f *Filer) WriteFile(ctx context.Context, r io.Reader, nf NewFile) (*Entry, error) {
	e, err := f.StoreChunks(ctx, r, nf)
	if err != nil {
		return nil, err
	}
	if err := f.Commit(ctx, e); err != nil {
		f.Discard(ctx, e)
		return nil, err
	}
	return e, nil
}

// Commit makes e (a file entry from StoreChunks) visible at e.FullPath:
// it creates the missing parent directories, replaces the file there if
// any, and then deletes the replaced file's needles. A directory at the
// path gives ErrIsDirectory, a file among its parents ErrNotDirectory; the
// caller then still owns e's needles (see Discard).
func (f *Filer) Commit(ctx context.Context, e *Entry) error {
	dir, _ := SplitPath(e.FullPath)
	var old *Entry
	for attempt := 1; ; attempt++ {
		err := f.mkdirAll(ctx, dir, e.Mtime)
		if err == nil {
			// Replace hands each replaced entry to exactly one writer, also
			// when filers sharing a Redis store write the path at once, so
			// its needles are deleted once. The lock orders this write with
			// mkdir and deletes of the path in this process.
			mu := f.lock(e.FullPath)
			mu.Lock()
			old, err = f.store.Replace(ctx, e)
			mu.Unlock()
		}
		// ErrNoParent: a delete took a directory of the path away after
		// mkdirAll saw it. Make it again, a few times.
		if errors.Is(err, ErrNoParent) && attempt < commitAttempts {
			glog.V(2).Infof("filer: write %s: %v; creating it again", e.FullPath, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("filer: write %s: %w", e.FullPath, err)
		}
		break
	}
	if old != nil && len(old.Chunks) > 0 {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		if err := f.deleteNeedles(cctx, old.Chunks); err != nil {
			glog.Errorf("filer: replaced %s, but its old needles remain: %v", e.FullPath, err)
		}
	}
	return nil
}

// Discard deletes the needles of an entry that was never committed. It
// logs the failures it cannot repair. A commit can fail after the store
// took the entry (ErrNotReplicated: on the Redis master but not on enough
// replicas; or a connection lost after the write), so Discard first looks
// at the path: when the entry there holds e's first needle, or the store
// cannot say, the needles stay (at worst orphans, never a listed file
// whose bytes are gone).
func (f *Filer) Discard(ctx context.Context, e *Entry) {
	if e == nil || len(e.Chunks) == 0 {
		return
	}
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	cur, err := f.store.Find(cctx, e.FullPath)
	switch {
	case err == nil && !cur.IsDirectory && len(cur.Chunks) > 0 && cur.Chunks[0].Fid == e.Chunks[0].Fid:
		glog.V(1).Infof("filer: %s was stored despite the failed commit; keeping its needles", e.FullPath)
		return
	case err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrNotDirectory):
		glog.Warningf("filer: discarding the upload of %s: the store cannot say whether it holds it (%v); keeping its needles", e.FullPath, err)
		return
	}
	if err := f.deleteNeedles(cctx, e.Chunks); err != nil {
		glog.Errorf("filer: discarding the upload of %s: %v", e.FullPath, err)
	}
}

// cleanupContext returns a context for deletes that must run even when ctx
// has ended (the client went away), bounded by cleanupTimeout.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// mkdirAll makes sure the canonical directory dir and its ancestors exist
// as directories, creating the missing ones with mtime.
func (f *Filer) mkdirAll(ctx context.Context, dir string, mtime time.Time) error {
	var missing []string
	for p := dir; p != "/"; p, _ = SplitPath(p) {
		e, err := f.store.Find(ctx, p)
		if err == nil {
			if !e.IsDirectory {
				return fmt.Errorf("%s is a file: %w", p, ErrNotDirectory)
			}
			break
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := f.mkdir(ctx, missing[i], mtime); err != nil {
			return err
		}
	}
	return nil
}

// mkdir creates the directory entry p unless a directory is already there.
func (f *Filer) mkdir(ctx context.Context, p string, mtime time.Time) error {
	mu := f.lock(p)
	mu.Lock()
	defer mu.Unlock()
	// Create, not Find then Insert: another filer sharing the store may
	// write a file at p in between, and that file must not become a
	// directory (its needles would leak).
	existing, err := f.store.Create(ctx, &Entry{FullPath: p, IsDirectory: true, Mtime: mtime})
	switch {
	case err != nil:
		return err
	case existing != nil && !existing.IsDirectory:
		return fmt.Errorf("%s is a file: %w", p, ErrNotDirectory)
	}
	return nil
}

// Listing is one page of a directory, in the JSON shape of weed-fs's
// filer: {"Directory","Files","Subdirectories","LastFileName",
// "ShouldDisplayLoadMore"}.
type Listing struct {
	// Directory is the listed directory with a trailing "/" ("/" for the
	// root).
	Directory string `json:"Directory"`
	// Files are the files of the page, in name order.
	Files []ListedFile `json:"Files"`
	// Subdirectories are the names of the page's directories.
	Subdirectories []string `json:"Subdirectories"`
	// LastFileName is the last name of the page (file or directory): the
	// lastFileName of the next page. Empty for an empty page.
	LastFileName string `json:"LastFileName"`
	// ShouldDisplayLoadMore says that more children follow this page.
	ShouldDisplayLoadMore bool `json:"ShouldDisplayLoadMore"`
}

// ListedFile is one file of a Listing.
type ListedFile struct {
	Name string `json:"name"`
	// Fid is the first chunk's fid, "" for an empty file.
	Fid  string `json:"fid"`
	Size uint64 `json:"size"`
	// Mtime is the modification time in RFC 3339 form, UTC.
	Mtime string `json:"mtime"`
}

// List returns the page of the canonical directory dir that starts after
// the name after and holds at most limit children (files and directories
// together, in name order; limit <= 0 means DefaultListLimit, and it is
// capped at MaxListLimit). A missing dir gives ErrNotFound, a file
// ErrNotDirectory.
func (f *Filer) List(ctx context.Context, dir, after string, limit int) (*Listing, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	e, err := f.store.Find(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("filer: list %s: %w", dir, err)
	}
	if !e.IsDirectory {
		return nil, fmt.Errorf("filer: list %s: %w", dir, ErrNotDirectory)
	}
	children, err := f.store.List(ctx, dir, after, limit+1)
	if err != nil {
		return nil, fmt.Errorf("filer: list %s: %w", dir, err)
	}
	l := &Listing{Directory: dir}
	if dir != "/" {
		l.Directory += "/"
	}
	if len(children) > limit {
		children = children[:limit]
		l.ShouldDisplayLoadMore = true
	}
	for _, c := range children {
		name := c.Name()
		l.LastFileName = name
		if c.IsDirectory {
			l.Subdirectories = append(l.Subdirectories, name)
			continue
		}
		lf := ListedFile{Name: name, Fid: c.Fid(), Size: c.Size}
		if !c.Mtime.IsZero() {
			lf.Mtime = c.Mtime.UTC().Format(time.RFC3339)
		}
		l.Files = append(l.Files, lf)
	}
	return l, nil
}

// Delete removes the entry at the canonical path p. A file's needles are
// deleted from the volume servers after its entry (a needle already gone
// is fine). A directory must be empty unless recursive is set, when its
// whole tree goes, children first, files written into it meanwhile
// included; the root itself is never removed, only its children. A missing
// path gives ErrNotFound, a non-empty directory without recursive
// ErrNotEmpty. When entries are gone but some needles could not be
// deleted, the error says which.
func (f *Filer) Delete(ctx context.Context, p string, recursive bool) error {
	e, err := f.store.Find(ctx, p)
	if err != nil {
		return fmt.Errorf("filer: delete %s: %w", p, err)
	}
	if p == "/" && !recursive {
		children, err := f.store.List(ctx, p, "", 1)
		if err != nil {
			return fmt.Errorf("filer: delete %s: %w", p, err)
		}
		if len(children) > 0 {
			return fmt.Errorf("filer: delete %s: %w", p, ErrNotEmpty)
		}
		return nil
	}
	var needleErrs []error
	if err := f.deleteEntry(ctx, e, recursive, &needleErrs); errors.Is(err, ErrNotEmpty) {
		return fmt.Errorf("filer: delete %s: %w", p, ErrNotEmpty)
	} else if err != nil {
		return fmt.Errorf("filer: delete %s: %w", p, err)
	}
	if len(needleErrs) > 0 {
		return fmt.Errorf("filer: deleted %s, but some needles remain: %w", p, errors.Join(needleErrs...))
	}
	return nil
}

// deleteEntry removes e and, for a directory when recursive is set, its
// tree. Store failures stop it; needle failures are appended to
// needleErrs and it goes on.
func (f *Filer) deleteEntry(ctx context.Context, e *Entry, recursive bool, needleErrs *[]error) error {
	for round := 1; ; round++ {
		if e.IsDirectory && recursive {
			if err := f.deleteChildren(ctx, e.FullPath, needleErrs); err != nil {
				return err
			}
			if e.FullPath == "/" {
				return nil
			}
		}
		// Remove returns the entry it removed, so that the needles deleted
		// are those of that entry even if a write (here or through another
		// filer) replaced it since it was listed, and no two deleters share
		// them. It refuses a directory that has children: one written since
		// the listing above is deleted in the next round.
		mu := f.lock(e.FullPath)
		mu.Lock()
		cur, err := f.store.Remove(ctx, e.FullPath)
		mu.Unlock()
		if errors.Is(err, ErrNotEmpty) && recursive && round < deleteRounds {
			glog.V(2).Infof("filer: delete %s: written into meanwhile, deleting again", e.FullPath)
			continue
		}
		if err != nil {
			return err
		}
		if cur == nil {
			return nil
		}
		glog.V(2).Infof("filer: deleted %s", e.FullPath)
		if len(cur.Chunks) > 0 {
			if err := f.deleteNeedles(ctx, cur.Chunks); err != nil {
				*needleErrs = append(*needleErrs, err)
			}
		}
		return nil
	}
}

// deleteChildren deletes the trees of dir's children. Each page is deleted
// before the next is listed, so listing from the start again finds what is
// left, children written meanwhile included.
func (f *Filer) deleteChildren(ctx context.Context, dir string, needleErrs *[]error) error {
	for {
		page, err := f.store.List(ctx, dir, "", DefaultListLimit)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		for _, c := range page {
			if err := f.deleteEntry(ctx, c, true, needleErrs); err != nil {
				return err
			}
		}
	}
}

// deleteNeedles deletes the needles of chunks, a few at a time. A needle
// already gone is not an error; the others are joined in the result.
func (f *Filer) deleteNeedles(ctx context.Context, chunks []Chunk) error {
	var (
		mu   sync.Mutex
		errs []error
		g    errgroup.Group
	)
	g.SetLimit(needleDeleteConcurrency)
	for _, c := range chunks {
		g.Go(func() error {
			if _, err := f.client.Delete(ctx, c.Fid); err != nil && !errors.Is(err, client.ErrNotFound) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("needle %s: %w", c.Fid, err))
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}
