package volumeserver

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/golang/glog"

	"github.com/weedfs/weed/images"
	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/needle"
)

// resizeParams returns the ?width=, ?height= and ?mode= of a read, and
// whether they ask for a resize (a width or a height above 0). Values that
// are not numbers count as 0, as in weed-fs.
func resizeParams(r *http.Request) (width, height int, mode images.Mode, ok bool) {
	q := r.URL.Query()
	width, _ = strconv.Atoi(q.Get("width"))
	height, _ = strconv.Atoi(q.Get("height"))
	return width, height, images.Mode(q.Get("mode")), width > 0 || height > 0
}

// serveResized answers a read of an image needle with ?width= or ?height=
// with the resized image (images.Resize), its own length and an ETag of the
// stored one's checksum and the box, and reports true. It reports false,
// having written nothing, when the request asks no resize or the needle is
// not a JPEG, PNG or GIF that decodes and is larger than the box: the
// caller then serves the needle unchanged, as weed-fs does. Called only for
// requests with a query, so a plain read pays nothing.
func (s *Server) serveResized(w http.ResponseWriter, r *http.Request, p needle.URLPath, n *needle.Needle) bool {
	width, height, mode, ok := resizeParams(r)
	if !ok {
		return false
	}
	name := p.Filename
	if name == "" {
		name = string(n.Name)
	}
	b := needleBlob(p, n, name, string(n.Mime))
	if !images.IsResizable(b.ContentType) {
		return false
	}
	data := n.Data
	if n.IsGzipped() {
		var buf bytes.Buffer
		if err := gunzip(data, &buf, s.maxUpload*maxInflateRatio); err != nil {
			return false
		}
		data = buf.Bytes()
	}
	out, w2, h2, err := images.Resize(data, b.ContentType, width, height, mode)
	if err != nil {
		if !errors.Is(err, images.ErrNotImage) {
			glog.Warningf("read %s: %v", p.FileID, err)
		}
		glog.V(2).Infof("read %s: served unresized: %v", p.FileID, err)
		return false
	}
	if len(out) == len(data) && (len(out) == 0 || &out[0] == &data[0]) {
		return false // no larger than the box: the stored bytes
	}
	// The resized bytes are another representation: their own ETag.
	b.Etag = fmt.Sprintf("%s-%dx%d%s", b.Etag, w2, h2, mode)
	setFileHeaders(w, b, n)
	if b.NotModified(w, r) {
		return true
	}
	if !wantsPartOrCondition(r.Header) {
		w.Header()["Content-Length"] = []string{strconv.Itoa(len(out))}
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(out)
		}
		return true
	}
	http.ServeContent(w, r, "", b.ModTime, bytes.NewReader(out))
	return true
}

// orientUpload turns a JPEG upload upright by its EXIF orientation when
// the server runs with ServerOptions.FixJPEGOrientation (weed-fs's
// -images.fix.orientation): a JPEG by its type or its name's extension,
// sent uncompressed. Anything else, or a JPEG that does not decode, is
// stored as sent.
func (s *Server) orientUpload(up upload) upload {
	if !s.opts.FixJPEGOrientation || up.Gzipped {
		return up
	}
	ext := strings.ToLower(filepath.Ext(up.Name))
	if httpx.MimeType(up.Mime, ext) != "image/jpeg" && ext != ".jpg" && ext != ".jpeg" {
		return up
	}
	out, changed, err := images.FixJPEGOrientation(up.Data)
	if err != nil {
		glog.V(1).Infof("upload %q: stored as sent: %v", up.Name, err)
		return up
	}
	if changed {
		up.Data = out
	}
	return up
}
