package volumeserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/replication"
	"github.com/weedfs/weed/volume"
)

// handleRead serves GET and HEAD /<fid> in every path form: the needle's
// bytes with its headers, ranges and conditional requests; a redirect to a
// holder for a volume held elsewhere; 404 with an empty body for a missing,
// deleted or wrongly-cookied needle.
func (s *Server) handleRead(w http.ResponseWriter, r *http.Request) {
	p, err := needle.ParseURLPath(r.URL.Path)
	if err != nil && !fidShaped(r.URL.Path) {
		httpx.WriteError(w, r, http.StatusNotFound, fmt.Sprintf("not found: %s", r.URL.Path))
		return
	}
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, fmt.Sprintf("bad file id %q: %v", r.URL.Path, err))
		return
	}
	vol := s.store.Volume(p.FileID.Volume)
	if vol == nil {
		s.readElsewhere(w, r, p.FileID)
		return
	}
	if s.refuseSyncing(w, r, vol) {
		return
	}
	bp := s.recordBufs.get()
	defer s.recordBufs.put(bp)
	n, buf, err := vol.Read(p.FileID.Key, p.FileID.Cookie, (*bp)[:cap(*bp)])
	if err != nil && !replication.IsMissing(err) {
		n, buf, err = s.repl.ReadRepair(r.Context(), vol, p.FileID, buf, err)
	}
	if cap(buf) > cap(*bp) {
		*bp = buf[:0]
	}
	switch {
	case err == nil:
	case replication.IsMissing(err) || errors.Is(err, volume.ErrVolumeNotFound):
		glog.V(3).Infof("read %s: %v", p.FileID, err)
		httpx.WriteEmptyNotFound(w)
		return
	default:
		s.writeStoreError(w, r, fmt.Errorf("read %s: %w", p.FileID, err))
		return
	}
	if n.IsChunkManifest() && r.URL.Query().Get("cm") != "false" {
		s.serveChunked(w, r, p, &n)
		return
	}
	if r.URL.RawQuery != "" && s.serveResized(w, r, p, &n) {
		return
	}
	s.serveNeedle(w, r, p, &n)
}

// serveNeedle writes one needle's bytes (the stored gzip bytes to a client
// that accepts them, the original bytes otherwise) with its headers.
func (s *Server) serveNeedle(w http.ResponseWriter, r *http.Request, p needle.URLPath, n *needle.Needle) {
	name := p.Filename
	if name == "" {
		name = string(n.Name)
	}
	b := needleBlob(p, n, name, string(n.Mime))
	setFileHeaders(w, b, n)
	if n.IsGzipped() {
		w.Header().Add("Vary", "Accept-Encoding")
	}
	if b.NotModified(w, r) {
		return
	}
	data := n.Data
	if n.IsGzipped() {
		if r.Header.Get("Range") == "" && acceptsGzip(r) {
			h := w.Header()
			h.Set("Content-Encoding", "gzip")
			h.Set("Content-Length", strconv.Itoa(len(data)))
			w.WriteHeader(http.StatusOK)
			if r.Method != http.MethodHead {
				_, _ = w.Write(data)
			}
			return
		}
		buf := s.bodyBufs.get()
		defer s.bodyBufs.put(buf)
		if err := gunzip(data, buf, s.maxUpload*maxInflateRatio); err != nil {
			glog.Errorf("read %s: %v", p.FileID, err)
			httpx.WriteError(w, r, http.StatusInternalServerError, fmt.Sprintf("read %s: %v", p.FileID, err))
			return
		}
		data = buf.Bytes()
	}
	if !wantsPartOrCondition(r.Header) {
		// The common GET: the whole body with its length, in one Write,
		// so that the headers and a small body leave in one segment
		// (http.ServeContent hands a reader to the connection's ReadFrom,
		// which sends them in two).
		w.Header()["Content-Length"] = []string{strconv.Itoa(len(data))}
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(data)
		}
		return
	}
	http.ServeContent(w, r, "", b.ModTime, bytes.NewReader(data))
}

// wantsPartOrCondition reports whether a request carries a header that
// http.ServeContent acts on beyond sending the whole body: a range or a
// precondition (If-None-Match and If-Modified-Since were answered before,
// but ServeContent is left every case it knows).
func wantsPartOrCondition(h http.Header) bool {
	for _, k := range [...]string{"Range", "If-Range", "If-Match", "If-Unmodified-Since", "If-None-Match", "If-Modified-Since"} {
		if _, ok := h[k]; ok {
			return true
		}
	}
	return false
}

// needleBlob describes needle n served as name (either may be empty): its
// type is mimeType, else the one of name's or the path's extension.
func needleBlob(p needle.URLPath, n *needle.Needle, name, mimeType string) httpx.Blob {
	var modTime time.Time
	if n.HasLastModified() && n.LastModified > 0 {
		modTime = time.Unix(int64(n.LastModified), 0)
	}
	return httpx.Blob{
		Name:        name,
		ContentType: httpx.MimeType(mimeType, filepath.Ext(name), p.Ext),
		Etag:        needle.Etag(n.Checksum),
		ModTime:     modTime,
	}
}

// setFileHeaders sets the headers every file reply carries: b's
// (Content-Type, Etag, Last-Modified, Accept-Ranges, Content-Disposition)
// and the Seaweed-* pairs stored in n.
func setFileHeaders(w http.ResponseWriter, b httpx.Blob, n *needle.Needle) {
	h := w.Header()
	b.SetHeaders(h)
	if n.HasPairs() && len(n.Pairs) > 0 {
		var pairs map[string]string
		if err := json.Unmarshal(n.Pairs, &pairs); err == nil {
			for k, v := range pairs {
				h.Set(PairHeaderPrefix+k, v)
			}
		}
	}
}

// acceptsGzip reports whether the request's Accept-Encoding admits gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.TrimSpace(enc) != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		if q == "q=0" || q == "q=0.0" || q == "q=0.00" || q == "q=0.000" {
			return false
		}
		return true
	}
	return false
}

// redirectRead answers a read of a volume this server does not hold: 301 to
// a holder's public address when read redirection is on and the master
// knows one, 404 otherwise.
func (s *Server) redirectRead(w http.ResponseWriter, r *http.Request, fid needle.FileID) {
	if !s.readRedirect {
		httpx.WriteEmptyNotFound(w)
		return
	}
	var holders []client.Location
	for attempt := 0; attempt < 2 && len(holders) == 0; attempt++ {
		if attempt > 0 {
			s.client.Invalidate(fid.Volume)
		}
		locs, err := s.client.Lookup(r.Context(), fid.Volume)
		if err != nil {
			if !errors.Is(err, client.ErrNotFound) {
				glog.V(1).Infof("read %s: lookup of volume %d: %v", fid, fid.Volume, err)
			}
			break
		}
		for _, l := range locs {
			if l.URL != s.self() && (l.PublicURL != "" || l.URL != "") {
				holders = append(holders, l)
			}
		}
	}
	if len(holders) == 0 {
		httpx.WriteEmptyNotFound(w)
		return
	}
	l := holders[rand.IntN(len(holders))]
	addr := l.PublicURL
	if addr == "" {
		addr = l.URL
	}
	glog.V(3).Infof("read %s: volume %d is on %s, redirecting", fid, fid.Volume, addr)
	redirectTo(w, r, addr)
}

// redirectTo answers 301 to the request's path and query on the server at
// addr ("host:port").
func redirectTo(w http.ResponseWriter, r *http.Request, addr string) {
	target := "http://" + addr + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, target, http.StatusMovedPermanently)
}

// serveChunked serves the file a chunk-manifest needle describes, reading
// its chunks as the reply is written; ranges address the logical file.
func (s *Server) serveChunked(w http.ResponseWriter, r *http.Request, p needle.URLPath, n *needle.Needle) {
	data := n.Data
	if n.IsGzipped() {
		buf := s.bodyBufs.get()
		defer s.bodyBufs.put(buf)
		if err := gunzip(data, buf, s.maxUpload*maxInflateRatio); err != nil {
			httpx.WriteError(w, r, http.StatusInternalServerError, fmt.Sprintf("read %s: chunk manifest: %v", p.FileID, err))
			return
		}
		data = buf.Bytes()
	}
	m, err := client.ParseChunkManifest(data)
	if err != nil {
		glog.Errorf("read %s: %v", p.FileID, err)
		httpx.WriteError(w, r, http.StatusInternalServerError, fmt.Sprintf("read %s: chunk manifest: %v", p.FileID, err))
		return
	}
	name := p.Filename
	if name == "" {
		name = m.Name
	}
	if name == "" {
		name = string(n.Name)
	}
	b := needleBlob(p, n, name, m.Mime)
	setFileHeaders(w, b, n)
	if b.NotModified(w, r) {
		return
	}
	f := newChunkedFile(r.Context(), s, m)
	http.ServeContent(w, r, "", b.ModTime, f)
	if err := f.Close(); err != nil {
		glog.Errorf("read %s: chunked file: %v", p.FileID, err)
	}
}

// chunkedFile is the logical file of a chunk manifest as an io.ReadSeeker.
// Chunks are opened lazily at the read position (from the local store when
// this server holds the chunk's volume, else through the client) and read
// sequentially; gaps between chunks read as zeros. http.ServeContent may
// still be reading it from its multipart goroutine when Close is called, so
// every method takes the lock, and Close cancels the reads in flight first.
type chunkedFile struct {
	ctx    context.Context
	cancel context.CancelFunc
	s      *Server
	m      *client.ChunkManifest

	mu     sync.Mutex
	pos    int64
	closed bool

	cur    io.ReadCloser // the open chunk, positioned at curPos
	curPos int64
	curEnd int64
	err    error // the first read error, for the log
}

func newChunkedFile(ctx context.Context, s *Server, m *client.ChunkManifest) *chunkedFile {
	ctx, cancel := context.WithCancel(ctx)
	return &chunkedFile{ctx: ctx, cancel: cancel, s: s, m: m}
}

// errChunkedFileClosed is returned by reads after Close.
var errChunkedFileClosed = errors.New("chunked file closed")

func (f *chunkedFile) Seek(offset int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += f.m.Size
	default:
		return f.pos, fmt.Errorf("chunked file: bad whence %d", whence)
	}
	if offset < 0 {
		return f.pos, errors.New("chunked file: seek before the start")
	}
	f.pos = offset
	return offset, nil
}

func (f *chunkedFile) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, errChunkedFileClosed
	}
	if f.pos >= f.m.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	chunks := f.m.Chunks
	// The first chunk that ends after pos.
	i := sort.Search(len(chunks), func(i int) bool { return chunks[i].Offset+chunks[i].Size > f.pos })
	if i == len(chunks) || chunks[i].Offset > f.pos {
		gapEnd := f.m.Size
		if i < len(chunks) {
			gapEnd = chunks[i].Offset
		}
		n := int(min(int64(len(p)), gapEnd-f.pos))
		clear(p[:n])
		f.pos += int64(n)
		return n, nil
	}
	c := chunks[i]
	end := min(c.Offset+c.Size, f.m.Size)
	if f.cur == nil || f.curPos != f.pos {
		f.closeChunk()
		rc, err := f.open(c, f.pos-c.Offset, end-f.pos)
		if err != nil {
			f.fail(err)
			return 0, err
		}
		f.cur, f.curPos, f.curEnd = rc, f.pos, end
	}
	n, err := f.cur.Read(p[:min(int64(len(p)), f.curEnd-f.pos)])
	f.pos += int64(n)
	f.curPos = f.pos
	if f.pos >= f.curEnd {
		f.closeChunk()
		return n, nil
	}
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("chunk %s ended %d bytes early: %w", c.Fid, f.curEnd-f.pos, io.ErrUnexpectedEOF)
	}
	if err != nil {
		f.closeChunk()
		f.fail(err)
	}
	return n, err
}

// open returns length bytes of chunk c from offset off.
func (f *chunkedFile) open(c client.ChunkInfo, off, length int64) (io.ReadCloser, error) {
	fid, err := needle.ParseFileID(c.Fid)
	if err != nil {
		return nil, fmt.Errorf("chunk %q: %w", c.Fid, err)
	}
	if vol := f.s.store.Volume(fid.Volume); vol != nil {
		return f.openLocal(vol, fid, off, length)
	}
	obj, err := f.s.client.Get(f.ctx, c.Fid, client.GetOptions{Offset: off, Length: length})
	if err != nil {
		return nil, fmt.Errorf("chunk %s: %w", c.Fid, err)
	}
	return obj.Body, nil
}

// openLocal reads a chunk held by this server straight from the store.
func (f *chunkedFile) openLocal(vol *volume.Volume, fid needle.FileID, off, length int64) (io.ReadCloser, error) {
	n, _, err := vol.Read(fid.Key, fid.Cookie, nil)
	if err != nil {
		return nil, fmt.Errorf("chunk %s: %w", fid, err)
	}
	data := n.Data
	if n.IsGzipped() {
		var buf bytes.Buffer
		if err := gunzip(data, &buf, f.s.maxUpload*maxInflateRatio); err != nil {
			return nil, fmt.Errorf("chunk %s: %w", fid, err)
		}
		data = buf.Bytes()
	}
	if off > int64(len(data)) {
		return nil, fmt.Errorf("chunk %s: %d bytes, the manifest reads from %d: %w", fid, len(data), off, io.ErrUnexpectedEOF)
	}
	data = data[off:min(int64(len(data)), off+length)]
	return io.NopCloser(bytes.NewReader(data)), nil
}

func (f *chunkedFile) fail(err error) {
	if f.err == nil {
		f.err = err
	}
}

func (f *chunkedFile) closeChunk() {
	if f.cur != nil {
		_ = f.cur.Close()
		f.cur = nil
	}
}

// Close stops the reads in flight, releases the open chunk and returns the
// first read error met, if any.
func (f *chunkedFile) Close() error {
	f.cancel()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.closeChunk()
	return f.err
}

// fidShaped reports whether path looks meant as a fid: its first element
// holds a "," (vid,keycookie) or is a decimal volume id. Other paths
// (/metrics, /favicon.ico) are unknown pages, 404, not bad fids.
func fidShaped(path string) bool {
	first := strings.TrimPrefix(path, "/")
	if i := strings.IndexByte(first, '/'); i >= 0 {
		first = first[:i]
	}
	if strings.Contains(first, ",") {
		return true
	}
	if first == "" {
		return false
	}
	for _, c := range first {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
