package filer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/client"
)

// firstBufferSize is the capacity a chunk buffer starts at; it doubles as
// the bytes come, up to the chunk size, so small files cost little memory.
const firstBufferSize = 64 << 10

// uploadAttempts is how many assign+upload rounds one chunk gets.
const uploadAttempts = 2

// StoreChunks streams r into needles and returns the entry describing
// them, not yet visible in the namespace (see Commit and Discard). The
// bytes are read into a buffer of at most the chunk size (nf.Params.MaxMB,
// or the Filer's): a file that ends within it is one needle, a longer one
// is stored chunk after chunk, each its own assign and upload, so memory
// does not grow with the file. An empty file has no chunks. Empty fields of
// nf.Params take the Filer's defaults (see ResolveParams).
//
// If anything fails, the needles already stored are deleted and the error
// returned; an error reading r wraps ErrBadUpload.
func (f *Filer) StoreChunks(ctx context.Context, r io.Reader, nf NewFile) (*Entry, error) {
	var err error
	if nf.Params, err = f.ResolveParams(nf.Params); err != nil {
		return nil, err
	}
	chunkSize := f.chunkSize
	if nf.Params.MaxMB > 0 {
		chunkSize = min(chunkSize, nf.Params.MaxMB<<20)
	}
	e := &Entry{
		FullPath:    nf.Path,
		Mime:        nf.Mime,
		Mtime:       time.Now(),
		Collection:  nf.Params.Collection,
		Replication: nf.Params.Replication,
		TTL:         nf.Params.TTL,
	}
	buf := make([]byte, 0, min(firstBufferSize, chunkSize))
	defer func() { f.putBuffer(buf) }()
	var off int64
	for {
		var eof bool
		buf, eof, err = f.fill(r, buf, chunkSize)
		if err != nil {
			f.Discard(ctx, e)
			return nil, fmt.Errorf("%w: reading %s: %w", ErrBadUpload, nf.Path, err)
		}
		if !eof {
			// A full buffer: the file ends here only if nothing follows.
			var one [1]byte
			n, err := io.ReadFull(r, one[:])
			switch {
			case n == 1:
			case errors.Is(err, io.EOF):
				eof = true
			default:
				f.Discard(ctx, e)
				return nil, fmt.Errorf("%w: reading %s: %w", ErrBadUpload, nf.Path, err)
			}
			if !eof && nf.Gzipped {
				f.Discard(ctx, e)
				return nil, fmt.Errorf("%w: %s: a gzip-encoded file cannot be larger than the chunk size (%d bytes)", ErrBadUpload, nf.Path, chunkSize)
			}
			if !eof {
				if err := f.appendChunk(ctx, e, buf, off, nf); err != nil {
					f.Discard(ctx, e)
					return nil, err
				}
				off += int64(len(buf))
				buf = append(buf[:0], one[0])
				continue
			}
		}
		if len(buf) > 0 {
			if err := f.appendChunk(ctx, e, buf, off, nf); err != nil {
				f.Discard(ctx, e)
				return nil, err
			}
		}
		return e, nil
	}
}

// fill reads r into buf after the bytes it holds until it holds max bytes
// (eof false) or r ends (eof true), growing buf by doubling up to max.
func (f *Filer) fill(r io.Reader, buf []byte, max int) ([]byte, bool, error) {
	for len(buf) < max {
		if len(buf) == cap(buf) {
			n := min(max, 2*cap(buf))
			var nb []byte
			if n == f.chunkSize {
				nb = f.getBuffer()
			}
			if nb == nil {
				nb = make([]byte, 0, n)
			}
			buf = append(nb, buf...)
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), max)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, true, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
	return buf, false, nil
}

// getBuffer returns a pooled buffer of capacity chunkSize, or nil.
func (f *Filer) getBuffer() []byte {
	if v, ok := f.bufs.Get().(*[]byte); ok {
		return (*v)[:0]
	}
	return nil
}

// putBuffer keeps b for reuse when it has the full chunk size.
func (f *Filer) putBuffer(b []byte) {
	if cap(b) == f.chunkSize {
		b = b[:0]
		f.bufs.Put(&b)
	}
}

// appendChunk stores data as the chunk at offset off of e and records it.
// A failed upload is tried once more on a fresh assignment.
func (f *Filer) appendChunk(ctx context.Context, e *Entry, data []byte, off int64, nf NewFile) error {
	_, name := SplitPath(nf.Path)
	var lastErr error
	for attempt := 0; attempt < uploadAttempts; attempt++ {
		a, err := f.client.Assign(ctx, client.AssignRequest{
			Replication: nf.Params.Replication,
			Collection:  nf.Params.Collection,
			TTL:         nf.Params.TTL,
		})
		if err != nil {
			return fmt.Errorf("filer: store %s: assign: %w", nf.Path, err)
		}
		res, err := f.client.Upload(ctx, a.URL, a.Fid, client.UploadRequest{
			Filename: name,
			MimeType: nf.Mime,
			Body:     bytes.NewReader(data),
			Size:     int64(len(data)),
			TTL:      nf.Params.TTL,
			Gzipped:  nf.Gzipped,
			ModTime:  e.Mtime,
			JWT:      a.JWT,
		})
		if err == nil {
			e.Chunks = append(e.Chunks, Chunk{Fid: a.Fid, Offset: off, Size: uint64(len(data)), ETag: res.ETag})
			e.Size += uint64(len(data))
			glog.V(3).Infof("filer: %s bytes %d+%d stored as %s", nf.Path, off, len(data), a.Fid)
			return nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
		glog.Warningf("filer: store %s: upload of %d bytes to %s: %v", nf.Path, len(data), a.URL, err)
	}
	return fmt.Errorf("filer: store %s: %w", nf.Path, lastErr)
}

// isSingleNeedle reports whether e is stored as one needle holding the
// whole file, which reads can proxy to a volume server as is.
func isSingleNeedle(e *Entry) bool {
	return len(e.Chunks) == 1 && e.Chunks[0].Offset == 0 && e.Chunks[0].Size == e.Size
}

// chunkedETag is the ETag of a file of several chunks (or none): a CRC-32C
// of its chunks' ETags, then "-" and the chunk count, so that it changes
// whenever a chunk does and never looks like a needle's.
func chunkedETag(chunks []Chunk) string {
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	for _, c := range chunks {
		_, _ = io.WriteString(h, c.Fid)
		_, _ = io.WriteString(h, ":")
		_, _ = io.WriteString(h, c.ETag)
		_, _ = io.WriteString(h, ";")
	}
	return fmt.Sprintf("%08x-%d", h.Sum32(), len(chunks))
}

// chunkReader reads a file of several chunks as one stream. It is an
// io.ReadSeeker whose Seek costs nothing: a chunk is fetched (with a range
// when only part of it is needed) when a Read reaches it, so a reader that
// seeks to a range and reads it touches only the chunks the range covers.
// Its methods are serialised by a mutex, so that Close may be called while
// another goroutine (http.ServeContent's, for several ranges) is reading;
// cancel the reader's context first to cut a read in progress short.
type chunkReader struct {
	mu     sync.Mutex
	ctx    context.Context
	client *client.Client
	chunks []Chunk
	size   int64
	// end bounds the fetches started before it: a fetch that starts before
	// end asks no further than end, one that starts at or after it asks to
	// the chunk's end.
	end int64

	pos    int64
	cur    io.ReadCloser
	curEnd int64 // where cur's bytes end in the file
	err    error // the first fetch or read error, kept for the caller
}

func newChunkReader(ctx context.Context, c *client.Client, e *Entry) *chunkReader {
	return &chunkReader{ctx: ctx, client: c, chunks: e.Chunks, size: int64(e.Size), end: int64(e.Size)}
}

// Seek sets the offset of the next Read.
func (r *chunkReader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, fmt.Errorf("filer: seek: bad whence %d", whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("filer: seek to negative offset %d", abs)
	}
	if abs != r.pos {
		r.closeChunk()
		r.pos = abs
	}
	return abs, nil
}

// Read reads the file's bytes at the current offset.
func (r *chunkReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, r.err
	}
	for {
		if r.pos >= r.size {
			r.closeChunk()
			return 0, io.EOF
		}
		if len(p) == 0 {
			return 0, nil
		}
		if r.cur == nil {
			if err := r.open(); err != nil {
				r.err = err
				return 0, err
			}
		}
		want := min(int64(len(p)), r.curEnd-r.pos)
		n, err := r.cur.Read(p[:want])
		r.pos += int64(n)
		if r.pos == r.curEnd {
			r.closeChunk()
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err == io.EOF {
			err = fmt.Errorf("filer: chunk ended %d bytes early: %w", r.curEnd-r.pos, io.ErrUnexpectedEOF)
		}
		if err != nil {
			r.closeChunk()
			r.err = err
			return n, err
		}
		if n > 0 {
			return n, nil
		}
	}
}

// open starts the fetch of the chunk holding r.pos, from r.pos to the
// chunk's end or to r.end, whichever comes first.
func (r *chunkReader) open() error {
	i := sort.Search(len(r.chunks), func(i int) bool {
		c := r.chunks[i]
		return c.Offset+int64(c.Size) > r.pos
	})
	if i == len(r.chunks) || r.chunks[i].Offset > r.pos {
		return fmt.Errorf("filer: no chunk holds offset %d of %d", r.pos, r.size)
	}
	c := r.chunks[i]
	chunkEnd := c.Offset + int64(c.Size)
	end := chunkEnd
	if r.pos < r.end && r.end < end {
		end = r.end
	}
	inChunk := r.pos - c.Offset
	opts := client.GetOptions{Offset: inChunk, Length: end - r.pos}
	if inChunk == 0 && end == chunkEnd {
		opts = client.GetOptions{}
	}
	obj, err := r.client.Get(r.ctx, c.Fid, opts)
	if err != nil {
		return fmt.Errorf("filer: chunk %s: %w", c.Fid, err)
	}
	body := io.ReadCloser(obj.Body)
	if obj.StatusCode == 200 && inChunk > 0 {
		// The server sent the whole needle: skip to the wanted bytes.
		if _, err := io.CopyN(io.Discard, obj.Body, inChunk); err != nil {
			_ = obj.Body.Close()
			return fmt.Errorf("filer: chunk %s: skipping %d bytes: %w", c.Fid, inChunk, err)
		}
	}
	r.cur, r.curEnd = body, end
	return nil
}

func (r *chunkReader) closeChunk() {
	if r.cur != nil {
		_ = r.cur.Close()
		r.cur = nil
	}
}

// Close ends the fetch in progress, if any.
func (r *chunkReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeChunk()
	return nil
}

// Err returns the first error a fetch or read of a chunk met, or nil.
func (r *chunkReader) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// rangeEnd returns the end (exclusive) of the single byte range a Range
// header asks of a file of the given size, or size when the header is
// absent, malformed or names several ranges: a hint for chunkReader.end.
func rangeEnd(header string, size int64) int64 {
	spec, ok := strings.CutPrefix(header, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return size
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok || first == "" {
		return size // a suffix range ends at the end of the file
	}
	if last == "" {
		return size
	}
	n, err := strconv.ParseInt(last, 10, 64)
	if err != nil || n < 0 || n >= size {
		return size
	}
	return n + 1
}
