package filer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path"
	"sync"

	"github.com/golang/glog"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/needle"
)

// handleRead serves GET and HEAD: a directory's listing, or a file's bytes
// with the headers a volume server sends. A missing file is 404 with an
// empty body, as on a volume server; a missing directory (a path ending in
// "/") is 404 with a JSON error.
func (s *Server) handleRead(w http.ResponseWriter, r *http.Request) {
	p, isDir, err := CleanPath(r.URL.Path)
	if err != nil {
		writeFilerError(w, r, err)
		return
	}
	e, err := s.filer.Find(r.Context(), p)
	switch {
	case errors.Is(err, ErrNotFound) && !isDir:
		httpx.WriteEmptyNotFound(w)
		return
	case err != nil:
		writeFilerError(w, r, err)
		return
	case e.IsDirectory && s.opts.DisableDirListing:
		w.Header().Set("Allow", "POST, PUT, DELETE")
		httpx.WriteError(w, r, http.StatusMethodNotAllowed, "directory listing is disabled")
		return
	case e.IsDirectory:
		s.handleList(w, r, p)
		return
	case isDir:
		writeFilerError(w, r, fmt.Errorf("filer: list %s: %w", p, ErrNotDirectory))
		return
	}
	if isSingleNeedle(e) && s.opts.RedirectOnRead {
		s.redirectNeedle(w, r, e)
		return
	}
	if isSingleNeedle(e) {
		s.proxyNeedle(w, r, e)
		return
	}
	s.serveChunked(w, r, e)
}

// forwardedHeaders are the request headers a proxied read passes on to the
// volume server.
var forwardedHeaders = []string{"Range", "If-Range", "If-None-Match", "If-Modified-Since"}

// returnedHeaders are the reply headers a proxied read passes back.
var returnedHeaders = []string{
	"Content-Type", "Content-Length", "Content-Encoding", "Content-Range",
	"Etag", "Last-Modified", "Accept-Ranges", "Vary",
}

// proxyNeedle serves a file stored as one needle by passing the request to
// a volume server holding it and streaming its answer back, headers
// included. Servers are tried in random order; a network error or a 5xx
// moves to the next, and when all of them failed so the volume is looked up
// again once.
func (s *Server) proxyNeedle(w http.ResponseWriter, r *http.Request, e *Entry) {
	fid := e.Chunks[0].Fid
	id, err := needle.ParseFileID(fid)
	if err != nil {
		writeFilerError(w, r, fmt.Errorf("filer: %s has a bad fid %q: %w", e.FullPath, fid, err))
		return
	}
	c := s.filer.Client()
	for round := 0; round < 2; round++ {
		locs, err := c.Lookup(r.Context(), id.Volume)
		if errors.Is(err, client.ErrNotFound) {
			glog.Errorf("filer: %s: volume of %s not found", e.FullPath, fid)
			httpx.WriteEmptyNotFound(w)
			return
		}
		if err != nil {
			writeFilerError(w, r, fmt.Errorf("filer: read %s: %w", e.FullPath, err))
			return
		}
		var notFound bool
		var lastErr error
		for _, i := range rand.Perm(len(locs)) {
			resp, err := s.fetchNeedle(r, locs[i].URL, fid)
			switch {
			case err != nil:
				if r.Context().Err() != nil {
					return
				}
				lastErr = err
				continue
			case resp.StatusCode == http.StatusNotFound:
				notFound = true
				drain(resp.Body)
				continue
			case resp.StatusCode >= 500:
				lastErr = fmt.Errorf("%s answered %s", locs[i].URL, resp.Status)
				drain(resp.Body)
				continue
			}
			copyReply(w, r, e, resp)
			return
		}
		if notFound {
			glog.Errorf("filer: %s: needle %s not found on any volume server", e.FullPath, fid)
			httpx.WriteEmptyNotFound(w)
			return
		}
		glog.Warningf("filer: read %s (%s): %v", e.FullPath, fid, lastErr)
		c.Invalidate(id.Volume)
		if round == 1 || lastErr == nil {
			if lastErr == nil {
				lastErr = errors.New("the volume has no locations")
			}
			writeFilerError(w, r, fmt.Errorf("filer: read %s: no volume server answered: %w", e.FullPath, lastErr))
			return
		}
	}
}

// fetchNeedle sends r's method and validators for fid to the volume server
// at addr. The caller owns the reply's body.
func (s *Server) fetchNeedle(r *http.Request, addr, fid string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+addr+"/"+fid, nil)
	if err != nil {
		return nil, err
	}
	for _, k := range forwardedHeaders {
		if v := r.Header.Values(k); len(v) > 0 {
			req.Header[k] = v
		}
	}
	if ae := r.Header.Values("Accept-Encoding"); len(ae) > 0 {
		req.Header["Accept-Encoding"] = ae
	} else {
		req.Header.Set("Accept-Encoding", "identity")
	}
	return s.hc.Do(req)
}

// copyReply streams a volume server's reply back to the client, with the
// file's own name in Content-Disposition.
func copyReply(w http.ResponseWriter, r *http.Request, e *Entry, resp *http.Response) {
	defer resp.Body.Close()
	h := w.Header()
	for _, k := range returnedHeaders {
		if v := resp.Header.Values(k); len(v) > 0 {
			h[k] = v
		}
	}
	if resp.StatusCode/100 == 2 {
		h.Set("Content-Disposition", httpx.ContentDisposition(e.Name()))
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, resp.Body); err != nil && r.Context().Err() == nil {
		glog.Warningf("filer: read %s: streaming from the volume server: %v", e.FullPath, err)
	}
}

// drain reads what is left of a small reply body and closes it, so that its
// connection can be reused.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

// serveChunked serves a file of several chunks (or none) by streaming its
// chunks in order, with Range, If-None-Match and If-Modified-Since over the
// whole file. Only the chunks a range covers are fetched.
func (s *Server) serveChunked(w http.ResponseWriter, r *http.Request, e *Entry) {
	h := w.Header()
	b := httpx.Blob{
		Name:        e.Name(),
		ContentType: httpx.MimeType(e.Mime, path.Ext(e.Name())),
		Etag:        chunkedETag(e.Chunks),
		ModTime:     e.Mtime,
	}
	b.SetHeaders(h)
	if b.NotModified(w, r) {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	cr := newChunkReader(ctx, s.filer.Client(), e)
	defer func() {
		cancel()
		_ = cr.Close()
	}()
	cr.end = rangeEnd(r.Header.Get("Range"), cr.size)
	lw := &lazyWriter{w: w}
	http.ServeContent(lw, r, "", e.Mtime, cr)
	err := cr.Err()
	switch {
	case err != nil && !lw.committed:
		for _, k := range []string{"Etag", "Accept-Ranges", "Content-Disposition", "Content-Range", "Last-Modified"} {
			h.Del(k)
		}
		writeFilerError(w, r, fmt.Errorf("filer: read %s: %w", e.FullPath, err))
	case err != nil:
		if r.Context().Err() == nil {
			glog.Errorf("filer: read %s: %v; reply cut short", e.FullPath, err)
		}
	default:
		lw.commit()
	}
}

// lazyWriter holds back the status line until the first byte of the body,
// so that a failure to fetch the first chunk can still be answered with an
// error instead of a truncated 200.
type lazyWriter struct {
	w         http.ResponseWriter
	status    int
	committed bool
}

func (l *lazyWriter) Header() http.Header { return l.w.Header() }

func (l *lazyWriter) WriteHeader(status int) {
	if !l.committed && l.status == 0 {
		l.status = status
	}
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	l.commit()
	return l.w.Write(p)
}

// ReadFrom copies src to the reply with a large buffer: io.Copy calls it
// for the body http.ServeContent sends, so that a chunked file goes out in
// fewer, larger writes than io.Copy's 32 KiB.
func (l *lazyWriter) ReadFrom(src io.Reader) (int64, error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	return io.CopyBuffer(struct{ io.Writer }{l}, src, *bp)
}

// copyBufferSize is the buffer a chunked file's reply is copied through:
// large enough for few system calls, small enough to stay in a core's
// cache.
const copyBufferSize = 256 << 10

// copyBuffers holds *[]byte of copyBufferSize.
var copyBuffers = sync.Pool{New: func() any {
	b := make([]byte, copyBufferSize)
	return &b
}}

// commit sends the held status (200 when none was set).
func (l *lazyWriter) commit() {
	if l.committed {
		return
	}
	l.committed = true
	if l.status == 0 {
		l.status = http.StatusOK
	}
	l.w.WriteHeader(l.status)
}

// redirectNeedle answers a read of a file stored as one needle with a 302
// to a volume server holding it, chosen at random (-redirectOnRead).
func (s *Server) redirectNeedle(w http.ResponseWriter, r *http.Request, e *Entry) {
	fid := e.Chunks[0].Fid
	id, err := needle.ParseFileID(fid)
	if err != nil {
		writeFilerError(w, r, fmt.Errorf("filer: %s has a bad fid %q: %w", e.FullPath, fid, err))
		return
	}
	locs, err := s.filer.Client().Lookup(r.Context(), id.Volume)
	if errors.Is(err, client.ErrNotFound) || err == nil && len(locs) == 0 {
		glog.Errorf("filer: %s: volume of %s not found", e.FullPath, fid)
		httpx.WriteEmptyNotFound(w)
		return
	}
	if err != nil {
		writeFilerError(w, r, fmt.Errorf("filer: read %s: %w", e.FullPath, err))
		return
	}
	loc := locs[rand.IntN(len(locs))]
	addr := loc.PublicURL
	if addr == "" {
		addr = loc.URL
	}
	http.Redirect(w, r, "http://"+addr+"/"+fid, http.StatusFound)
}
