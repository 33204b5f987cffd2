package httpx

import (
	"mime"
	"net/http"
	"strings"
	"time"
)

// Blob is what the reply to a read of a stored file says about it, in the
// headers volume servers (for a needle) and filers (for a path) both send.
type Blob struct {
	// Name is the file name given in Content-Disposition; empty sends none.
	Name string
	// ContentType is the Content-Type (see MimeType).
	ContentType string
	// Etag is the entity tag, unquoted.
	Etag string
	// ModTime is sent as Last-Modified; the zero time sends none.
	ModTime time.Time
}

// SetHeaders sets Content-Type, Etag (quoted), Last-Modified,
// Accept-Ranges: bytes and Content-Disposition (inline) in h. It is on the
// path of every read: the values share one allocation and the keys are
// written in their canonical form directly.
func (b Blob) SetHeaders(h http.Header) {
	vals := make([]string, 5)
	set := func(i int, key, value string) {
		vals[i] = value
		h[key] = vals[i : i+1 : i+1]
	}
	set(0, "Content-Type", b.ContentType)
	set(1, "Etag", `"`+b.Etag+`"`)
	if !b.ModTime.IsZero() {
		set(2, "Last-Modified", FormatHTTPDate(b.ModTime))
	}
	set(3, "Accept-Ranges", "bytes")
	if b.Name != "" {
		set(4, "Content-Disposition", ContentDisposition(b.Name))
	}
}

// NotModified answers 304 when r's validators match the blob:
// If-None-Match against Etag (quoted or bare, weak or not, or *), else
// If-Modified-Since against ModTime. It reports whether it answered. The
// 304 carries Last-Modified and whatever headers w already holds but
// Content-Type, Content-Length and Content-Encoding.
func (b Blob) NotModified(w http.ResponseWriter, r *http.Request) bool {
	match := false
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for _, tag := range strings.Split(inm, ",") {
			tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
			if tag == "*" || strings.Trim(tag, `"`) == b.Etag {
				match = true
				break
			}
		}
	} else if ims := r.Header.Get("If-Modified-Since"); ims != "" && !b.ModTime.IsZero() {
		if t, err := http.ParseTime(ims); err == nil && !b.ModTime.Truncate(time.Second).After(t) {
			match = true
		}
	}
	if !match {
		return false
	}
	h := w.Header()
	if !b.ModTime.IsZero() {
		h.Set("Last-Modified", FormatHTTPDate(b.ModTime))
	}
	h.Del("Content-Type")
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	w.WriteHeader(http.StatusNotModified)
	return true
}

// MimeType returns stored when it is not empty, else the type of the first
// of exts (extensions with their dot; empty ones are skipped) that
// mime.TypeByExtension knows, else application/octet-stream.
func MimeType(stored string, exts ...string) string {
	if stored != "" {
		return stored
	}
	for _, ext := range exts {
		if ext == "" {
			continue
		}
		if t := mime.TypeByExtension(ext); t != "" {
			return t
		}
	}
	return "application/octet-stream"
}

// dispositionEscaper makes a file name safe inside a quoted header
// parameter.
var dispositionEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "", "\n", "", "\x00", "")

// ContentDisposition returns the Content-Disposition value that names a
// file served inline.
func ContentDisposition(name string) string {
	if strings.ContainsAny(name, "\\\"\r\n\x00") {
		name = dispositionEscaper.Replace(name)
	}
	return `inline; filename="` + name + `"`
}

// WriteEmptyNotFound answers 404 with an empty body, as weed-fs did for a
// missing file.
func WriteEmptyNotFound(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNotFound)
}
