package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/weedfs/weed/wire"
)

// UploadOptions configures UploadFiles and UploadDir.
type UploadOptions struct {
	// Collection, Replication, TTL and DataCenter are as in AssignRequest.
	Collection, Replication, TTL, DataCenter string
	// MaxMB, when positive, stores files larger than MaxMB megabytes as
	// chunks of MaxMB megabytes plus a chunk manifest (`weed upload
	// -maxMB`).
	MaxMB int
	// Progress, when set, is called as bytes are sent and after each file.
	// Calls for one UploadFiles call never overlap, but may come from a
	// goroutine other than the caller's; keep it quick.
	Progress func(Progress)
}

// Progress reports how far an UploadFiles call is.
type Progress struct {
	// File is the path being uploaded.
	File string
	// FilesDone counts the files fully stored, of Files.
	FilesDone, Files int
	// Bytes counts the bytes sent so far, of TotalBytes.
	Bytes, TotalBytes int64
}

// UploadFiles stores the local files at paths, each under its base name.
// Files that are not chunked share one assign with count=len (their fids are
// fid, fid_1, fid_2 ...); files larger than opts.MaxMB are chunked and get
// their own assigns. In a secured cluster, when the shared assignment's
// token expires before the last of its files is sent, the files left are
// assigned again. It stops at the first failure and returns the files
// stored before it along with the error.
func (c *Client) UploadFiles(ctx context.Context, paths []string, opts UploadOptions) ([]UploadedFile, error) {
	type job struct {
		path    string
		size    int64
		chunked bool
	}
	jobs := make([]job, 0, len(paths))
	var total int64
	plain := 0
	chunkSize := int64(opts.MaxMB) << 20
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("weed: upload: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("weed: upload: %s is not a regular file", p)
		}
		j := job{path: p, size: fi.Size(), chunked: chunkSize > 0 && fi.Size() > chunkSize}
		if !j.chunked {
			plain++
		}
		total += j.size
		jobs = append(jobs, j)
	}
	assign := func(count int) (wire.Assignment, error) {
		a, err := c.Assign(ctx, AssignRequest{Count: count, Replication: opts.Replication, Collection: opts.Collection, TTL: opts.TTL, DataCenter: opts.DataCenter})
		if err == nil && a.Count < count {
			err = fmt.Errorf("weed: upload: asked for %d fids, got %d", count, a.Count)
		}
		return a, err
	}
	var a wire.Assignment
	if plain > 0 {
		var err error
		if a, err = assign(plain); err != nil {
			return nil, err
		}
	}
	tracker := &progressTracker{fn: opts.Progress, p: Progress{Files: len(jobs), TotalBytes: total}}
	out := make([]UploadedFile, 0, len(jobs))
	next, left := 0, plain // the next fid of a to use; plain files not stored yet
	for _, j := range jobs {
		var uf UploadedFile
		var err error
		if j.chunked {
			uf, err = c.uploadChunkedFile(ctx, j.path, chunkSize, opts, tracker)
		} else {
			uf, err = c.uploadFile(ctx, j.path, a, a.FileID(next), opts, tracker)
			var e *Error
			if a.JWT != "" && errors.As(err, &e) && e.StatusCode == http.StatusUnauthorized {
				// The assignment's token expired before the last of
				// its files (a long list): the rest get new fids.
				if a, err = assign(left); err != nil {
					return out, err
				}
				next = 0
				uf, err = c.uploadFile(ctx, j.path, a, a.FileID(next), opts, tracker)
			}
			next++
			left--
		}
		if err != nil {
			return out, err
		}
		out = append(out, uf)
		tracker.add(0, true)
	}
	return out, nil
}

// openUpload opens the file at path to upload it and starts its progress.
// The caller closes the file.
func openUpload(path string, t *progressTracker) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("weed: upload: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("weed: upload: %w", err)
	}
	t.start(path)
	return f, fi, nil
}

func (c *Client) uploadFile(ctx context.Context, path string, a wire.Assignment, fid string, opts UploadOptions, t *progressTracker) (UploadedFile, error) {
	f, fi, err := openUpload(path, t)
	if err != nil {
		return UploadedFile{}, err
	}
	defer f.Close()
	res, err := c.Upload(ctx, a.URL, fid, UploadRequest{
		Filename: filepath.Base(path), Body: t.reader(f), Size: fi.Size(),
		TTL: opts.TTL, ModTime: fi.ModTime(), JWT: a.JWT,
	})
	if err != nil {
		return UploadedFile{}, err
	}
	return UploadedFile{FileName: res.Name, FileURL: publicOrURL(a) + "/" + fid, Fid: fid, Size: res.Size}, nil
}

func (c *Client) uploadChunkedFile(ctx context.Context, path string, chunkSize int64, opts UploadOptions, t *progressTracker) (UploadedFile, error) {
	f, fi, err := openUpload(path, t)
	if err != nil {
		return UploadedFile{}, err
	}
	defer f.Close()
	return c.UploadChunked(ctx, t.reader(f), ChunkedUpload{
		Filename: filepath.Base(path), ChunkSize: chunkSize,
		Collection: opts.Collection, Replication: opts.Replication, TTL: opts.TTL, DataCenter: opts.DataCenter,
		ModTime: fi.ModTime(),
	})
}

// progressTracker feeds UploadOptions.Progress. It is locked because
// bodies are read by the HTTP transport's goroutine; the lock also keeps
// calls of the callback from overlapping.
type progressTracker struct {
	fn func(Progress)
	mu sync.Mutex
	p  Progress
}

func (t *progressTracker) start(path string) {
	t.mu.Lock()
	t.p.File = path
	t.mu.Unlock()
}

func (t *progressTracker) reader(r io.Reader) io.Reader {
	if t.fn == nil {
		return r
	}
	return &progressReader{r: r, t: t}
}

func (t *progressTracker) add(n int64, fileDone bool) {
	if t.fn == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.Bytes += n
	if fileDone {
		t.p.FilesDone++
	}
	t.fn(t.p)
}

type progressReader struct {
	r io.Reader
	t *progressTracker
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.t.add(int64(n), false)
	}
	return n, err
}

// WalkFiles returns the regular files under root, in lexical order, whose
// base name matches the glob include (filepath.Match syntax; "" matches
// every file). Symbolic links are not followed.
func WalkFiles(root, include string) ([]string, error) {
	if include != "" {
		if _, err := filepath.Match(include, ""); err != nil {
			return nil, fmt.Errorf("weed: include pattern %q: %w", include, err)
		}
	}
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if include != "" {
			if ok, _ := filepath.Match(include, d.Name()); !ok {
				return nil
			}
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("weed: walking %s: %w", root, err)
	}
	return out, nil
}

// UploadDir uploads every file under dir whose base name matches include
// (see WalkFiles) with UploadFiles. A tree with no matching file stores
// nothing and returns an empty slice.
func (c *Client) UploadDir(ctx context.Context, dir, include string, opts UploadOptions) ([]UploadedFile, error) {
	paths, err := WalkFiles(dir, include)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return []UploadedFile{}, nil
	}
	return c.UploadFiles(ctx, paths, opts)
}

// SafeFileName reports whether name can be used as a file name inside a
// download directory: not empty, not "." or "..", no path separator, no
// NUL, and local to the directory on this operating system.
func SafeFileName(name string) bool {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return false
	}
	return filepath.IsLocal(name)
}

// Download reads file fid and saves it in directory dir under its stored
// file name, or under the fid when it has none. A stored name that would
// leave dir (a path separator, "..") is refused with ErrUnsafeName and
// nothing is written. The file is written under a temporary name and renamed
// into place once complete; it returns the path written.
func (c *Client) Download(ctx context.Context, fid, dir string) (string, error) {
	obj, err := c.Get(ctx, fid, GetOptions{})
	if err != nil {
		return "", err
	}
	defer obj.Body.Close()
	name := obj.Name
	if name == "" {
		name = fid
	}
	if !SafeFileName(name) {
		return "", fmt.Errorf("weed: download %s: %w: %q", fid, ErrUnsafeName, name)
	}
	tmp, err := os.CreateTemp(dir, ".weed-download-*")
	if err != nil {
		return "", fmt.Errorf("weed: download %s: %w", fid, err)
	}
	n, err := io.Copy(tmp, obj.Body)
	if err == nil && obj.Size >= 0 && n != obj.Size {
		err = fmt.Errorf("got %d of %d bytes: %w", n, obj.Size, io.ErrUnexpectedEOF)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	final := filepath.Join(dir, name)
	if err == nil {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("weed: download %s: %w", fid, err)
	}
	return final, nil
}
