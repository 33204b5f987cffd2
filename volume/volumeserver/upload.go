package volumeserver

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/weedfs/weed/needle"
)

// errBadUpload means a request body or its parameters cannot be stored: the
// handler answers 400 with the message.
var errBadUpload = errors.New("bad upload")

// upload is a file as a client sent it, before the needle is built.
type upload struct {
	// Data is the file's bytes (gzip-compressed when Gzipped). It aliases
	// the buffer given to parseUpload.
	Data []byte
	// Name is the file name ("" when none was given).
	Name string
	// Mime is the content type the client gave, "" when none or
	// application/octet-stream.
	Mime string
	// Gzipped reports that the client sent the bytes gzip-compressed
	// (Content-Encoding: gzip on the request or on the file part).
	Gzipped bool
}

// uploadRequest is what parseUpload needs of an HTTP request, so that the
// parser can be exercised without one.
type uploadRequest struct {
	ContentType     string
	ContentEncoding string
	// Filename is the ?filename= parameter, used for raw bodies.
	Filename string
	// Length is the body's length when known (Content-Length), else -1; a
	// hint for the buffer.
	Length int64
	// Admitted is the bytes the request was admitted for by the server's
	// in-flight upload budget: a Length within it sizes the buffer up
	// front, once, instead of growing it by doubling (which holds up to
	// three times the body for a while).
	Admitted int64
	Body     io.Reader
}

// maxPresizedBody bounds the buffer parseUpload sizes from a claimed
// Content-Length before any byte arrives, unless the length was admitted
// by the upload budget; longer bodies grow it as they come, so a false
// length cannot make the server allocate more than the budget allows.
const maxPresizedBody = 1 << 20

// parseUpload reads a client's file from req into buf (which it resets)
// and returns it. The body is either multipart (the part named "file", or
// else the first part that carries a file name; the name comes from the
// part) or raw (the name from ?filename=, the type from Content-Type). A
// malformed or truncated body is errBadUpload; read errors of the body
// (such as *http.MaxBytesError) are returned wrapped. The returned Data
// aliases buf.
//
// The whole body is read into buf first (the file part is held whole in
// memory either way); a multipart body of the usual one-part shape is then
// parsed in place (parseOnePart), any other with mime/multipart.
func parseUpload(req uploadRequest, buf *bytes.Buffer) (upload, error) {
	buf.Reset()
	var up upload
	boundary, isMultipart := multipartBoundary(req.ContentType)
	if !isMultipart && req.ContentType != "" {
		mediaType, params, err := mime.ParseMediaType(req.ContentType)
		if err != nil {
			// An unparsable type on a raw body is just not stored.
			mediaType, params = "", nil
		}
		if strings.HasPrefix(mediaType, "multipart/") {
			isMultipart = true
			boundary = params["boundary"]
			if boundary == "" {
				return up, fmt.Errorf("%w: multipart body without a boundary", errBadUpload)
			}
		}
	}
	if req.Length > 0 && (req.Length <= maxPresizedBody || req.Length <= req.Admitted) {
		buf.Grow(int(req.Length) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(req.Body); err != nil {
		return upload{}, bodyError(err)
	}
	if isMultipart {
		var ok bool
		up, ok = parseOnePart(buf.Bytes(), boundary)
		if !ok {
			raw := bytes.Clone(buf.Bytes())
			buf.Reset()
			var err error
			up, err = parseMultipart(multipart.NewReader(bytes.NewReader(raw), boundary), buf)
			if err != nil {
				return upload{}, err
			}
		}
	} else {
		up.Data = buf.Bytes()
		up.Name = req.Filename
		up.Mime = req.ContentType
		up.Gzipped = isGzipEncoding(req.ContentEncoding)
	}
	if err := up.check(); err != nil {
		return upload{}, err
	}
	return up, nil
}

// parseMultipart reads the file part of a multipart body into buf and
// checks that the rest of the body is well formed (a truncated body is
// refused even when the file part itself is complete).
func parseMultipart(mr *multipart.Reader, buf *bytes.Buffer) (upload, error) {
	var up upload
	found := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return upload{}, bodyError(err)
		}
		if found || (part.FormName() != "file" && part.FileName() == "") {
			if _, err := io.Copy(io.Discard, part); err != nil {
				return upload{}, bodyError(err)
			}
			continue
		}
		found = true
		if _, err := buf.ReadFrom(part); err != nil {
			return upload{}, bodyError(err)
		}
		up.Name = part.FileName()
		up.Mime = part.Header.Get("Content-Type")
		up.Gzipped = isGzipEncoding(part.Header.Get("Content-Encoding"))
	}
	if !found {
		return upload{}, fmt.Errorf("%w: multipart body has no file part", errBadUpload)
	}
	up.Data = buf.Bytes()
	return up, nil
}

// bodyError classifies an error met while reading a request body: a body
// over the size limit or a failing connection is passed on wrapped, a
// malformed or truncated body is errBadUpload.
func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return fmt.Errorf("read body: %w", err)
	}
	return fmt.Errorf("%w: malformed or truncated body: %w", errBadUpload, err)
}

// check validates the fields that go into the needle and drops a content
// type that says nothing.
func (up *upload) check() error {
	if len(up.Name) > needle.MaxNameSize {
		return fmt.Errorf("%w: file name longer than %d bytes", errBadUpload, needle.MaxNameSize)
	}
	if !utf8.ValidString(up.Name) || strings.ContainsAny(up.Name, "\x00\r\n") {
		return fmt.Errorf("%w: file name %q is not valid", errBadUpload, up.Name)
	}
	if up.Mime != "" {
		mt, ok := plainMediaType(up.Mime)
		var err error
		if !ok {
			mt, _, err = mime.ParseMediaType(up.Mime)
		}
		if err != nil || mt == "application/octet-stream" || mt == "application/x-www-form-urlencoded" ||
			strings.HasPrefix(mt, "multipart/") || len(up.Mime) > needle.MaxMimeSize {
			up.Mime = ""
		}
	}
	if up.Gzipped && !looksGzipped(up.Data) {
		return fmt.Errorf("%w: Content-Encoding gzip but the body is not gzip data", errBadUpload)
	}
	return nil
}

func isGzipEncoding(ce string) bool {
	return strings.EqualFold(strings.TrimSpace(ce), "gzip")
}

// looksGzipped reports whether b starts like a gzip stream.
func looksGzipped(b []byte) bool {
	return len(b) >= 18 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8
}

// compressible reports whether a file of this type or name is worth trying
// to store gzipped: text, and the text-based formats of the web.
func compressible(mimeType, name string) bool {
	mt, ok := plainMediaType(mimeType)
	if !ok && mimeType != "" {
		mt, _, _ = mime.ParseMediaType(mimeType)
		mt = strings.ToLower(mt)
	}
	if strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml") {
		return true
	}
	switch mt {
	case "application/json", "application/javascript", "application/x-javascript",
		"application/ecmascript", "application/xml", "application/x-sh",
		"application/x-yaml", "application/yaml", "application/toml", "application/sql",
		"application/csv", "application/x-ndjson", "application/graphql":
		return true
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".txt", ".text", ".html", ".htm", ".xhtml", ".css", ".js", ".mjs", ".json",
		".xml", ".svg", ".csv", ".tsv", ".md", ".markdown", ".log", ".yaml", ".yml",
		".toml", ".ini", ".conf", ".cfg", ".sql", ".sh", ".go", ".c", ".h", ".cc",
		".cpp", ".hpp", ".java", ".py", ".rb", ".php", ".pl", ".rs", ".ts", ".tex":
		return true
	}
	return false
}

// Gzip tuning: data under minGzipSize is never compressed, and compressed
// data is kept only when it is at most gzipKeepRatio of the original.
const (
	minGzipSize   = 64
	gzipKeepRatio = 0.9
)

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// gzipIfSmaller compresses data into out (which it resets) and reports
// whether the result saves enough to be stored instead.
func gzipIfSmaller(data []byte, out *bytes.Buffer) bool {
	if len(data) < minGzipSize {
		return false
	}
	out.Reset()
	out.Grow(len(data) / 2)
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(out)
	if _, err := zw.Write(data); err != nil {
		return false
	}
	if err := zw.Close(); err != nil {
		return false
	}
	return float64(out.Len()) <= gzipKeepRatio*float64(len(data))
}

// maxInflateRatio bounds how much larger than the largest upload an
// inflated file may grow, so a gzip bomb uploaded pre-compressed cannot
// exhaust memory on reads.
const maxInflateRatio = 4

// errInflateTooLarge means a gzipped needle inflates past the read limit.
var errInflateTooLarge = errors.New("inflated file too large")

// gunzip inflates data into out (which it resets), refusing to produce more
// than limit bytes.
func gunzip(data []byte, out *bytes.Buffer, limit int64) error {
	out.Reset()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("inflate: %w", err)
	}
	if n := len(data); n >= 4 {
		// The gzip trailer holds the inflated size modulo 2^32: a hint.
		hint := int64(data[n-4]) | int64(data[n-3])<<8 | int64(data[n-2])<<16 | int64(data[n-1])<<24
		if hint <= limit {
			out.Grow(int(hint))
		}
	}
	n, err := out.ReadFrom(io.LimitReader(zr, limit+1))
	if err != nil {
		return fmt.Errorf("inflate: %w", err)
	}
	if n > limit {
		return fmt.Errorf("%w: more than %d bytes", errInflateTooLarge, limit)
	}
	return nil
}
