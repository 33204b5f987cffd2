package filer

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/httpx"
)

// handleList serves the listing of the directory dir (canonical): JSON
// with ?pretty= or an Accept naming application/json, an HTML page
// otherwise. Pages follow ?lastFileName= and hold ?limit= children
// (DefaultListLimit, at most MaxListLimit).
func (s *Server) handleList(w http.ResponseWriter, r *http.Request, dir string) {
	q := r.URL.Query()
	limit := DefaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeFilerError(w, r, fmt.Errorf("%w: limit %.32q is not a positive integer", ErrBadParam, v))
			return
		}
		limit = min(n, MaxListLimit)
	}
	after := q.Get("lastFileName")
	if len(after) > MaxPathLen {
		writeFilerError(w, r, fmt.Errorf("%w: lastFileName is longer than %d bytes", ErrBadParam, MaxPathLen))
		return
	}
	l, err := s.filer.List(r.Context(), dir, after, limit)
	if err != nil {
		writeFilerError(w, r, err)
		return
	}
	if wantsJSON(r) {
		httpx.WriteJSON(w, r, http.StatusOK, l)
		return
	}
	writeHTMLListing(w, r, dir, l, limit)
}

// wantsJSON reports whether a listing request asks for JSON.
func wantsJSON(r *http.Request) bool {
	if r.URL.Query().Get("pretty") != "" {
		return true
	}
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "application/json") {
			return true
		}
	}
	return false
}

// escapePath percent-encodes each segment of a canonical path for use in a
// URL, keeping the slashes.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// htmlListing is what the listing page template is given.
type htmlListing struct {
	Directory string
	Parent    string
	Dirs      []htmlLink
	Files     []htmlFile
	LoadMore  string
}

type htmlLink struct {
	Name, Href string
}

type htmlFile struct {
	htmlLink
	Fid   string
	Size  uint64
	Mtime string
}

var listingPage = template.Must(template.New("listing").Parse(`<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>{{.Directory}}</title></head>
<body>
<h1>{{.Directory}}</h1>
<table>
<tr><th>Name</th><th>Size</th><th>Modified</th><th>Fid</th></tr>
{{- if .Parent}}
<tr><td><a href="{{.Parent}}">../</a></td><td></td><td></td><td></td></tr>
{{- end}}
{{- range .Dirs}}
<tr><td><a href="{{.Href}}">{{.Name}}/</a></td><td></td><td></td><td></td></tr>
{{- end}}
{{- range .Files}}
<tr><td><a href="{{.Href}}">{{.Name}}</a></td><td>{{.Size}}</td><td>{{.Mtime}}</td><td>{{.Fid}}</td></tr>
{{- end}}
</table>
{{- if .LoadMore}}
<p><a href="{{.LoadMore}}">Load more</a></p>
{{- end}}
</body>
</html>
`))

// writeHTMLListing renders l as a page with links to its entries and, when
// more follow, a "Load more" link to the next page.
func writeHTMLListing(w http.ResponseWriter, r *http.Request, dir string, l *Listing, limit int) {
	page := htmlListing{Directory: l.Directory}
	if dir != "/" {
		parent, _ := SplitPath(dir)
		page.Parent = escapePath(parent)
		if parent != "/" {
			page.Parent += "/"
		}
	}
	for _, name := range l.Subdirectories {
		page.Dirs = append(page.Dirs, htmlLink{Name: name, Href: escapePath(JoinPath(dir, name)) + "/"})
	}
	for _, f := range l.Files {
		page.Files = append(page.Files, htmlFile{
			htmlLink: htmlLink{Name: f.Name, Href: escapePath(JoinPath(dir, f.Name))},
			Fid:      f.Fid,
			Size:     f.Size,
			Mtime:    f.Mtime,
		})
	}
	if l.ShouldDisplayLoadMore {
		q := url.Values{}
		q.Set("lastFileName", l.LastFileName)
		q.Set("limit", strconv.Itoa(limit))
		page.LoadMore = escapePath(l.Directory) + "?" + q.Encode()
	}
	var buf bytes.Buffer
	if err := listingPage.Execute(&buf, page); err != nil {
		glog.Errorf("filer: render listing of %s: %v", dir, err)
		httpx.WriteError(w, r, http.StatusInternalServerError, "rendering the listing failed")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}
