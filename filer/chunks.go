package filer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
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

// Bounds of the chunks one read or write has in flight: at most
// maxChunksInFlight, and no more than chunkBytesInFlight bytes of them
// (but always at least one), so that memory stays bounded whatever the
// chunk size.
const (
	maxChunksInFlight  = 4
	chunkBytesInFlight = 64 << 20
)

// chunksInFlight returns how many chunks of chunkSize bytes one read or
// write keeps in flight.
func chunksInFlight(chunkSize int) int {
	return max(1, min(maxChunksInFlight, chunkBytesInFlight/max(chunkSize, 1)))
}

// StoreChunks streams r into needles and returns the entry describing
// them, not yet visible in the namespace (see Commit and Discard). The
// bytes are read into buffers of at most the chunk size (nf.Params.MaxMB,
// or the Filer's): a file that ends within one is one needle, a longer one
// is stored chunk after chunk, each its own assign and upload. A few chunks
// (chunksInFlight) are uploaded concurrently while the next one is read,
// so memory is bounded by that many chunks plus one, whatever the file's
// size. An empty file has no chunks. Empty fields of nf.Params take the
// Filer's defaults (see ResolveParams).
//
// If anything fails, no more chunks are started, the uploads in flight
// finish (for up to uploadGrace after ctx ends), and every needle stored,
// or maybe stored by a failed attempt, is deleted before the error is
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
	up := f.newChunkUploader(ctx, e, nf, chunkSize)
	fail := func(err error) (*Entry, error) {
		chunks, failed, _ := up.wait()
		e.Chunks = append(chunks, failedChunks(failed)...)
		f.Discard(ctx, e)
		return nil, err
	}
	buf := make([]byte, 0, min(firstBufferSize, chunkSize))
	var off int64
	for {
		var eof bool
		buf, eof, err = f.fill(r, buf, chunkSize)
		if err != nil {
			up.release(buf)
			return fail(fmt.Errorf("%w: reading %s: %w", ErrBadUpload, nf.Path, err))
		}
		var one [1]byte
		if !eof {
			// A full buffer: the file ends here only if nothing follows.
			n, err := io.ReadFull(r, one[:])
			switch {
			case n == 1:
			case errors.Is(err, io.EOF):
				eof = true
			default:
				up.release(buf)
				return fail(fmt.Errorf("%w: reading %s: %w", ErrBadUpload, nf.Path, err))
			}
			if !eof && nf.Gzipped {
				up.release(buf)
				return fail(fmt.Errorf("%w: %s: a gzip-encoded file cannot be larger than the chunk size (%d bytes)", ErrBadUpload, nf.Path, chunkSize))
			}
		}
		if len(buf) > 0 {
			// The uploader owns buf from here on.
			if err := up.start(buf, off); err != nil {
				return fail(err)
			}
			off += int64(len(buf))
		}
		if eof {
			break
		}
		buf = append(up.buffer(), one[0])
	}
	chunks, failed, err := up.wait()
	if err != nil {
		return fail(err)
	}
	if len(failed) > 0 {
		f.Discard(ctx, &Entry{FullPath: nf.Path, Chunks: failedChunks(failed)})
	}
	e.Chunks = chunks
	e.Size = uint64(off)
	return e, nil
}

// failedChunks returns chunks naming fids, for Discard to delete.
func failedChunks(fids []string) []Chunk {
	cs := make([]Chunk, len(fids))
	for i, fid := range fids {
		cs[i] = Chunk{Fid: fid}
	}
	return cs
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

// chunkBuffer returns an empty buffer of capacity size: a pooled one when
// size is the Filer's chunk size.
func (f *Filer) chunkBuffer(size int) []byte {
	if size == f.chunkSize {
		if b := f.getBuffer(); b != nil {
			return b
		}
	}
	return make([]byte, 0, size)
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

// uploadGrace is how long the chunk uploads in flight may go on after the
// request that started them ended (the client went away): cancelling an
// upload whose bytes have reached the volume server could leave a needle
// stored after the delete meant to clean it up.
const uploadGrace = 30 * time.Second

// chunkUploader uploads the chunks of one file concurrently, at most a
// fixed number at a time, and collects them in file order. The first
// failure makes start refuse more; the uploads in flight are left to
// finish, so that every needle stored is known and can be deleted. The
// buffers of finished uploads are handed back for the next chunks, so a
// file costs at most the in-flight count plus one buffers whatever its
// size.
type chunkUploader struct {
	f *Filer
	// parent is the request's context; ctx, the uploads', outlives it by
	// uploadGrace.
	parent  context.Context
	ctx     context.Context
	cancel  context.CancelFunc
	stopCtx func() bool
	e       *Entry
	nf      NewFile
	slots   chan struct{}
	free    chan []byte // buffers of finished uploads
	size    int         // the chunk size: the capacity of a reusable buffer
	failing chan struct{}
	wg      sync.WaitGroup

	mu     sync.Mutex
	chunks []Chunk // by index; a zero Fid is an upload not (yet) done
	err    error
	// failed are the fids of upload attempts that failed: the volume
	// server may have stored the needle anyway (a replica refused it, the
	// reply was lost), so they are deleted too.
	failed []string
}

func (f *Filer) newChunkUploader(ctx context.Context, e *Entry, nf NewFile, chunkSize int) *chunkUploader {
	inFlight := chunksInFlight(chunkSize)
	uctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(uploadGrace, cancel) })
	return &chunkUploader{
		f: f, parent: ctx, ctx: uctx, cancel: cancel, stopCtx: stop, e: e, nf: nf,
		slots: make(chan struct{}, inFlight), free: make(chan []byte, inFlight+1),
		size: chunkSize, failing: make(chan struct{}),
	}
}

// buffer returns an empty buffer of capacity the chunk size, one of a
// finished upload when there is one.
func (u *chunkUploader) buffer() []byte {
	select {
	case b := <-u.free:
		return b[:0]
	default:
		return u.f.chunkBuffer(u.size)
	}
}

// release hands b back for the next chunks, or to the Filer's pool.
func (u *chunkUploader) release(b []byte) {
	if cap(b) == u.size {
		select {
		case u.free <- b:
			return
		default:
		}
	}
	u.f.putBuffer(b)
}

// start uploads data, the bytes at offset off of the file, once a slot is
// free; it owns data from the call on. It returns the first failure of an
// earlier upload, or the request context's error, instead of starting.
func (u *chunkUploader) start(data []byte, off int64) error {
	var err error
	select {
	case u.slots <- struct{}{}:
		if err = u.failure(); err != nil {
			<-u.slots
		}
	case <-u.parent.Done():
		err = u.failure()
	case <-u.failing:
		err = u.failure()
	}
	if err != nil {
		u.release(data)
		return err
	}
	u.mu.Lock()
	i := len(u.chunks)
	u.chunks = append(u.chunks, Chunk{})
	u.mu.Unlock()
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		c, failed, err := u.f.uploadChunk(u.ctx, u.e, data, off, u.nf)
		u.release(data)
		<-u.slots
		u.mu.Lock()
		defer u.mu.Unlock()
		u.failed = append(u.failed, failed...)
		if err != nil {
			if u.err == nil {
				u.err = err
				close(u.failing)
			}
			return
		}
		u.chunks[i] = c
	}()
	return nil
}

// failure returns the first upload error, or the request context's error
// once it ended, or nil.
func (u *chunkUploader) failure() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return u.err
	}
	if err := u.parent.Err(); err != nil {
		return fmt.Errorf("filer: store %s: %w", u.nf.Path, err)
	}
	return nil
}

// wait waits for every upload started and returns the chunks stored, in
// file order, with the first error, and the fids of the failed attempts,
// which the caller deletes (they may be stored). After an error the chunks
// are those that were stored anyway, for the caller to delete too.
func (u *chunkUploader) wait() (chunks []Chunk, failed []string, err error) {
	u.wg.Wait()
	err = u.failure()
	u.stopCtx()
	u.cancel()
	for len(u.free) > 0 {
		u.f.putBuffer(<-u.free)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range u.chunks {
		if c.Fid != "" {
			chunks = append(chunks, c)
		}
	}
	return chunks, u.failed, err
}

// uploadChunk stores data as the chunk at offset off of e and returns it,
// with the fids of the attempts that failed. A failed upload is tried once
// more on a fresh assignment.
func (f *Filer) uploadChunk(ctx context.Context, e *Entry, data []byte, off int64, nf NewFile) (Chunk, []string, error) {
	_, name := SplitPath(nf.Path)
	var lastErr error
	var failed []string
	for attempt := 0; attempt < uploadAttempts; attempt++ {
		a, err := f.client.Assign(ctx, client.AssignRequest{
			Replication: nf.Params.Replication,
			Collection:  nf.Params.Collection,
			TTL:         nf.Params.TTL,
		})
		if err != nil {
			return Chunk{}, failed, fmt.Errorf("filer: store %s: assign: %w", nf.Path, err)
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
			glog.V(3).Infof("filer: %s bytes %d+%d stored as %s", nf.Path, off, len(data), a.Fid)
			return Chunk{Fid: a.Fid, Offset: off, Size: uint64(len(data)), ETag: res.ETag}, failed, nil
		}
		failed = append(failed, a.Fid)
		lastErr = err
		if ctx.Err() != nil {
			break
		}
		glog.Warningf("filer: store %s: upload of %d bytes to %s: %v", nf.Path, len(data), a.URL, err)
	}
	return Chunk{}, failed, fmt.Errorf("filer: store %s: %w", nf.Path, lastErr)
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

// fetchAttempts is how many times the fetch of a chunk is tried before a
// read fails: a volume server that breaks off a reply is asked once more
// for the bytes not yet read (from any replica).
const fetchAttempts = 2

// chunkReader reads a file of several chunks as one stream. It is an
// io.ReadSeeker whose Seek costs nothing: fetches start when a Read
// reaches a chunk, each with a range when only part of the chunk is
// needed, so a reader that seeks to a range and reads it touches only the
// chunks the range covers. While one chunk is read, the fetches of the next
// ones (up to chunksInFlight in all, never past end while reading before
// it) are sent in parallel, so that the volume servers read them from disk
// and start sending them meanwhile; their bytes are read in file order,
// straight from the connections, so the reader holds no chunk in memory.
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
	// the chunk's end; no fetch ahead starts at or after end while the
	// reader is before it.
	end   int64
	ahead int

	pos int64
	// window holds the fetches started, in file order and contiguous:
	// window[0] holds pos.
	window []*chunkFetch
	err    error // the first fetch or read error, kept for the caller
}

// chunkFetch is the fetch of the file's bytes [start, end), all in one
// chunk. Its goroutine sets body (the reply's, positioned at start) or err,
// then closes done; the reader owns body from then on.
type chunkFetch struct {
	start, end int64
	chunk      Chunk
	body       io.ReadCloser
	err        error
	done       chan struct{}
	cancel     context.CancelFunc
	attempts   int // the fetches sent for these bytes
}

func newChunkReader(ctx context.Context, c *client.Client, e *Entry) *chunkReader {
	var largest uint64
	for _, ch := range e.Chunks {
		largest = max(largest, ch.Size)
	}
	return &chunkReader{
		ctx: ctx, client: c, chunks: e.Chunks, size: int64(e.Size), end: int64(e.Size),
		ahead: chunksInFlight(int(min(largest, 1<<40))),
	}
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
		r.drop()
		r.pos = abs
	}
	return abs, nil
}

// Read reads the file's bytes at the current offset.
func (r *chunkReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if r.err != nil {
			return 0, r.err
		}
		if r.pos >= r.size {
			r.drop()
			return 0, io.EOF
		}
		if len(p) == 0 {
			return 0, nil
		}
		fe, err := r.current()
		if err != nil {
			r.fail(err)
			return 0, err
		}
		n, err := fe.body.Read(p[:min(int64(len(p)), fe.end-r.pos)])
		r.pos += int64(n)
		if r.pos == fe.end {
			_ = fe.body.Close()
			fe.cancel()
			r.window[0] = nil
			r.window = r.window[1:]
		} else if err != nil {
			// The reply broke off (or ended early): ask for the rest.
			if err == io.EOF {
				err = fmt.Errorf("filer: chunk %s ended %d bytes early: %w", fe.chunk.Fid, fe.end-r.pos, io.ErrUnexpectedEOF)
			}
			if rerr := r.refetch(fe, err); rerr != nil {
				r.fail(rerr)
				if n > 0 {
					return n, nil
				}
				return 0, rerr
			}
		}
		if n > 0 {
			return n, nil
		}
	}
}

// current returns the fetch holding r.pos once its reply has come, after
// starting it and those ahead of it as needed.
func (r *chunkReader) current() (*chunkFetch, error) {
	if len(r.window) == 0 {
		fe, err := r.startFetch(r.pos)
		if err != nil {
			return nil, err
		}
		r.window = append(r.window, fe)
	}
	r.fetchAhead()
	fe := r.window[0]
	select {
	case <-fe.done:
	case <-r.ctx.Done():
		return nil, fmt.Errorf("filer: read: %w", r.ctx.Err())
	}
	if fe.err != nil {
		return nil, fe.err
	}
	return fe, nil
}

// refetch replaces the broken reply of fe, which failed with cause, by a
// fetch of its bytes from r.pos on, unless fe had all its attempts.
func (r *chunkReader) refetch(fe *chunkFetch, cause error) error {
	_ = fe.body.Close()
	fe.body = nil
	if fe.attempts >= fetchAttempts || r.ctx.Err() != nil {
		return cause
	}
	glog.Warningf("filer: chunk %s: %v; fetching the rest again", fe.chunk.Fid, cause)
	fe.start = r.pos
	fe.attempts++
	body, err := fe.open(r.ctx, r.client)
	if err != nil {
		return err
	}
	fe.body = body
	return nil
}

// fail keeps err for the caller and ends every fetch.
func (r *chunkReader) fail(err error) {
	r.err = err
	r.drop()
}

// fetchAhead starts the fetches that follow the window, up to r.ahead in
// all.
func (r *chunkReader) fetchAhead() {
	for len(r.window) < r.ahead {
		next := r.window[len(r.window)-1].end
		if next >= r.size || (r.pos < r.end && next >= r.end) {
			return
		}
		fe, err := r.startFetch(next)
		if err != nil {
			return // the Read that reaches next reports it
		}
		r.window = append(r.window, fe)
	}
}

// startFetch starts the fetch of the chunk holding offset from, from there
// to the chunk's end or to r.end, whichever comes first.
func (r *chunkReader) startFetch(from int64) (*chunkFetch, error) {
	i := sort.Search(len(r.chunks), func(i int) bool {
		c := r.chunks[i]
		return c.Offset+int64(c.Size) > from
	})
	if i == len(r.chunks) || r.chunks[i].Offset > from {
		return nil, fmt.Errorf("filer: no chunk holds offset %d of %d", from, r.size)
	}
	c := r.chunks[i]
	end := c.Offset + int64(c.Size)
	if from < r.end && r.end < end {
		end = r.end
	}
	ctx, cancel := context.WithCancel(r.ctx)
	fe := &chunkFetch{start: from, end: end, chunk: c, done: make(chan struct{}), cancel: cancel}
	go fe.run(ctx, r.client)
	return fe, nil
}

// drop ends the fetches of the window.
func (r *chunkReader) drop() {
	for i, fe := range r.window {
		fe.cancel()
		select {
		case <-fe.done:
			if fe.body != nil {
				_ = fe.body.Close()
			}
		default:
			// Its goroutine still waits for the reply, which the
			// cancellation ends; it closes the body itself.
			go func() {
				<-fe.done
				if fe.body != nil {
					_ = fe.body.Close()
				}
			}()
		}
		r.window[i] = nil
	}
	r.window = r.window[:0]
}

// run sends fe's fetch, and sends it once more when it fails.
func (fe *chunkFetch) run(ctx context.Context, c *client.Client) {
	defer close(fe.done)
	for {
		fe.attempts++
		fe.body, fe.err = fe.open(ctx, c)
		if fe.err == nil || ctx.Err() != nil || fe.attempts >= fetchAttempts {
			return
		}
		glog.Warningf("filer: %v; fetching it again", fe.err)
	}
}

// open asks a volume server for fe's bytes from fe.start to fe.end and
// returns the reply's body, positioned at fe.start.
func (fe *chunkFetch) open(ctx context.Context, c *client.Client) (io.ReadCloser, error) {
	inChunk := fe.start - fe.chunk.Offset
	want := fe.end - fe.start
	opts := client.GetOptions{Offset: inChunk, Length: want}
	if inChunk == 0 && want == int64(fe.chunk.Size) {
		opts = client.GetOptions{}
	}
	obj, err := c.Get(ctx, fe.chunk.Fid, opts)
	if err != nil {
		return nil, fmt.Errorf("filer: chunk %s: %w", fe.chunk.Fid, err)
	}
	if obj.StatusCode == http.StatusOK && inChunk > 0 {
		// The server sent the whole needle: skip to the wanted bytes.
		if _, err := io.CopyN(io.Discard, obj.Body, inChunk); err != nil {
			_ = obj.Body.Close()
			return nil, fmt.Errorf("filer: chunk %s: skipping %d bytes: %w", fe.chunk.Fid, inChunk, err)
		}
	}
	return obj.Body, nil
}

// Close ends the fetches in progress, if any.
func (r *chunkReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drop()
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
