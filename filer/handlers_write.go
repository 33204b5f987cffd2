package filer

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/weedfs/weed/internal/httpx"
)

// maxUploadParts bounds the files one multipart request may hold.
const maxUploadParts = 1000

// maxMimeLen is the longest content type stored with a needle.
const maxMimeLen = 255

// writeReply is the answer for one written file: {"name","size"}.
type writeReply struct {
	Name string `json:"name"`
	Size uint64 `json:"size"`
}

// handleWrite serves POST and PUT. A multipart body to a directory path
// ("/dir/") stores each file part under its file name; a multipart or raw
// body to a file path stores one file there. The files become visible only
// once the whole body has been stored; on failure the needles already
// stored are deleted. 201 {"name","size"} for one file, an array for
// several.
func (s *Server) handleWrite(w http.ResponseWriter, r *http.Request) {
	p, isDir, err := CleanPath(r.URL.Path)
	if err != nil {
		writeFilerError(w, r, err)
		return
	}
	params, err := s.writeParams(r)
	if err != nil {
		writeFilerError(w, r, err)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" || mt == "multipart/mixed" {
		s.writeMultipart(w, r, p, isDir, params)
		return
	}
	if isDir {
		writeFilerError(w, r, fmt.Errorf("%w: a raw body needs a file path, not the directory %s", ErrBadUpload, r.URL.Path))
		return
	}
	ctx := r.Context()
	if err := s.filer.CheckWritable(ctx, p); err != nil {
		writeFilerError(w, r, err)
		return
	}
	e, err := s.filer.WriteFile(ctx, r.Body, NewFile{
		Path:    p,
		Mime:    uploadMime(r.Header.Get("Content-Type"), p),
		Gzipped: r.Header.Get("Content-Encoding") == "gzip",
		Params:  params,
	})
	if err != nil {
		writeFilerError(w, r, err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusCreated, writeReply{Name: e.Name(), Size: e.Size})
}

// writeParams reads ?replication=&collection=&ttl=&maxMB= (from the query
// only: the body is the upload) and checks them.
func (s *Server) writeParams(r *http.Request) (WriteParams, error) {
	q := r.URL.Query()
	p := WriteParams{Replication: q.Get("replication"), Collection: q.Get("collection"), TTL: q.Get("ttl")}
	if v := q.Get("maxMB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return p, fmt.Errorf("%w: maxMB %.32q is not a positive integer", ErrBadParam, v)
		}
		p.MaxMB = n
	}
	return s.filer.ResolveParams(p)
}

// writeMultipart stores the file parts of a multipart body: under their
// file names in the directory p, or as the one file p. Parts without a
// file name (form fields) are skipped, except a part named "file" written
// to a file path.
func (s *Server) writeMultipart(w http.ResponseWriter, r *http.Request, p string, isDir bool, params WriteParams) {
	ctx := r.Context()
	mr, err := r.MultipartReader()
	if err != nil {
		writeFilerError(w, r, fmt.Errorf("%w: %w", ErrBadUpload, err))
		return
	}
	var pending []*Entry
	fail := func(err error) {
		for _, e := range pending {
			s.filer.Discard(ctx, e)
		}
		writeFilerError(w, r, err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fail(fmt.Errorf("%w: multipart body: %w", ErrBadUpload, err))
			return
		}
		name, err := partFileName(part)
		if err != nil {
			_ = part.Close()
			fail(err)
			return
		}
		if name == "" && (isDir || part.FormName() != "file") {
			_ = part.Close()
			continue
		}
		target := p
		switch {
		case len(pending) == maxUploadParts:
			err = fmt.Errorf("%w: more than %d files in one upload", ErrBadUpload, maxUploadParts)
		case isDir:
			if err = CheckName(name); err == nil {
				target = JoinPath(p, name)
			}
		case len(pending) > 0:
			err = fmt.Errorf("%w: several files sent to the file path %s", ErrBadUpload, p)
		}
		if err == nil {
			err = s.filer.CheckWritable(ctx, target)
		}
		if err != nil {
			_ = part.Close()
			fail(err)
			return
		}
		e, err := s.filer.StoreChunks(ctx, part, NewFile{
			Path:    target,
			Mime:    uploadMime(part.Header.Get("Content-Type"), target),
			Gzipped: part.Header.Get("Content-Encoding") == "gzip",
			Params:  params,
		})
		_ = part.Close()
		if err != nil {
			fail(err)
			return
		}
		pending = append(pending, e)
	}
	if len(pending) == 0 {
		fail(fmt.Errorf("%w: no file in the multipart body", ErrBadUpload))
		return
	}
	replies := make([]writeReply, 0, len(pending))
	for i, e := range pending {
		if err := s.filer.Commit(ctx, e); err != nil {
			pending = pending[i:]
			fail(err)
			return
		}
		replies = append(replies, writeReply{Name: e.Name(), Size: e.Size})
	}
	if len(replies) == 1 {
		httpx.WriteJSON(w, r, http.StatusCreated, replies[0])
		return
	}
	httpx.WriteJSON(w, r, http.StatusCreated, replies)
}

// partFileName returns the filename parameter of a part's
// Content-Disposition exactly as sent (not reduced to its base name, so
// that a name with a "/" is refused rather than rewritten), or "".
func partFileName(part *multipart.Part) (string, error) {
	cd := part.Header.Get("Content-Disposition")
	if cd == "" {
		return "", nil
	}
	_, params, err := mime.ParseMediaType(cd)
	if err != nil {
		return "", fmt.Errorf("%w: part Content-Disposition %.64q: %w", ErrBadUpload, cd, err)
	}
	return params["filename"], nil
}

// uploadMime returns the content type to store for an upload sent with the
// Content-Type ct to path p: ct itself unless it says nothing about the
// bytes (empty, application/octet-stream, a form encoding), else the type of
// p's extension, else "".
func uploadMime(ct, p string) string {
	ct = strings.TrimSpace(ct)
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case err != nil || len(ct) > maxMimeLen:
	case mt == "application/octet-stream", mt == "application/x-www-form-urlencoded", strings.HasPrefix(mt, "multipart/"):
	default:
		return ct
	}
	return mime.TypeByExtension(path.Ext(p))
}
