package volumeserver

import (
	"bytes"
	"path/filepath"
	"strings"
)

// The upload fast path. Clients (package client, weed-fs's and SeaweedFS's
// tools, curl -F) send a file as a multipart body of exactly one part:
//
//	--<boundary>\r\n
//	Content-Disposition: form-data; name="file"; filename="<name>"\r\n
//	[Content-Type: <type>\r\n] [Content-Encoding: gzip\r\n]
//	\r\n
//	<data>\r\n--<boundary>--[\r\n]
//
// parseOnePart reads that shape from a body already in memory, so the file
// bytes are used where they lie instead of being copied out of a
// mime/multipart.Reader (which also allocates a 4 KiB buffer and a header
// map per request). Anything else, or anything it is unsure of, it declines,
// and parseUpload runs mime/multipart on the same bytes; so what it accepts
// must mean what mime/multipart makes of it (FuzzOnePartMatchesMultipart
// checks that).

// multipartBoundary returns the boundary of a Content-Type of the form
// "multipart/form-data; boundary=<token>" (the form clients send), with
// ok=false for any other form, which mime.ParseMediaType must then parse.
func multipartBoundary(contentType string) (boundary string, ok bool) {
	const prefix = "multipart/form-data; boundary="
	b, found := strings.CutPrefix(contentType, prefix)
	if !found || b == "" || len(b) > 70 {
		return "", false
	}
	for i := 0; i < len(b); i++ {
		if !isPlainTokenByte(b[i]) {
			return "", false
		}
	}
	return b, true
}

// isPlainTokenByte reports whether c may appear in a plain media type,
// parameter name or unquoted parameter value: a safe subset of the RFC 2045
// token characters, all of which mime.ParseMediaType keeps as they are.
func isPlainTokenByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '+' || c == '\''
}

// plainMediaType returns t when it is a lower-case "type/subtype" without
// parameters, which mime.ParseMediaType returns unchanged; ok is false for
// anything else.
func plainMediaType(t string) (mediaType string, ok bool) {
	slash := strings.IndexByte(t, '/')
	if slash <= 0 || slash == len(t)-1 {
		return "", false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if i != slash && (!isPlainTokenByte(c) || 'A' <= c && c <= 'Z') {
			return "", false
		}
	}
	return t, true
}

// parseOnePart parses body as a multipart body of one file part delimited
// by boundary. ok is false when the body is not of that shape; the caller
// then parses it with mime/multipart. The returned Data aliases body.
func parseOnePart(body []byte, boundary string) (up upload, ok bool) {
	b, ok := cutDelimiter(body, boundary)
	if !ok || !bytes.HasPrefix(b, crlf) {
		return upload{}, false
	}
	b = b[2:]
	var disposition, contentType, encoding []byte
	for {
		i := bytes.Index(b, crlf)
		if i < 0 {
			return upload{}, false
		}
		line := b[:i]
		b = b[i+2:]
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return upload{}, false
		}
		key := line[:colon]
		for _, c := range key {
			if !isPlainTokenByte(c) {
				return upload{}, false // spaces, folding, odd keys: leave them to textproto
			}
		}
		value := bytes.Trim(line[colon+1:], " \t")
		var field *[]byte
		switch {
		case strings.EqualFold(string(key), "Content-Disposition"):
			field = &disposition
		case strings.EqualFold(string(key), "Content-Type"):
			field = &contentType
		case strings.EqualFold(string(key), "Content-Encoding"):
			field = &encoding
		default:
			// Content-Transfer-Encoding changes the bytes; any header
			// this parser does not know is mime/multipart's business.
			return upload{}, false
		}
		if *field != nil {
			return upload{}, false
		}
		*field = value
	}
	for _, v := range [][]byte{contentType, encoding} {
		for _, c := range v {
			if c < 0x20 || c >= 0x7f {
				return upload{}, false
			}
		}
	}
	name, isFile, ok := fileDisposition(disposition)
	if !ok || !isFile {
		return upload{}, false
	}
	// The data ends at the first "\r\n--boundary"; in this shape the
	// closing delimiter follows it and nothing but a line end comes after.
	end := -1
	for off := 0; ; {
		i := bytes.Index(b[off:], crlfDashes)
		if i < 0 {
			return upload{}, false
		}
		i += off
		if rest := b[i+2:]; len(rest) >= 2+len(boundary) && string(rest[2:2+len(boundary)]) == boundary {
			end = i
			break
		}
		off = i + 1
	}
	rest := b[end+4+len(boundary):]
	if !bytes.HasPrefix(rest, dashes) {
		return upload{}, false // a second part, or something odd
	}
	if rest = rest[2:]; len(rest) != 0 && !bytes.Equal(rest, crlf) {
		return upload{}, false
	}
	up.Data = b[:end]
	up.Name = name
	if len(contentType) > 0 {
		up.Mime = string(contentType)
	}
	up.Gzipped = isGzipEncoding(string(encoding))
	return up, true
}

var (
	crlf       = []byte("\r\n")
	dashes     = []byte("--")
	crlfDashes = []byte("\r\n--")
)

// cutDelimiter returns what follows "--boundary" at the start of body.
func cutDelimiter(body []byte, boundary string) ([]byte, bool) {
	if len(body) < 2+len(boundary) || !bytes.HasPrefix(body, dashes) || string(body[2:2+len(boundary)]) != boundary {
		return nil, false
	}
	return body[2+len(boundary):], true
}

// fileDisposition parses a part's Content-Disposition of the plain form
// `form-data; name="..."; filename="..."` (parameters in any order, either
// absent, quoted values of printable ASCII without '"' or '\'), as
// mime/multipart.Part's FormName and FileName would: isFile reports that
// the part carries a file (a file name, or the name "file") and name is the
// base of its file name. ok is false for any other form.
func fileDisposition(v []byte) (name string, isFile, ok bool) {
	rest, found := bytes.CutPrefix(v, []byte("form-data"))
	if !found {
		return "", false, false
	}
	var formName, fileName []byte
	var seenName, seenFile bool
	for len(rest) > 0 {
		rest = bytes.TrimLeft(rest, " \t")
		if len(rest) == 0 || rest[0] != ';' {
			return "", false, false
		}
		rest = bytes.TrimLeft(rest[1:], " \t")
		eq := bytes.IndexByte(rest, '=')
		if eq <= 0 || len(rest) < eq+2 || rest[eq+1] != '"' {
			return "", false, false
		}
		param := rest[:eq]
		rest = rest[eq+2:]
		quote := bytes.IndexByte(rest, '"')
		if quote < 0 {
			return "", false, false
		}
		value := rest[:quote]
		rest = rest[quote+1:]
		for _, c := range value {
			if c < 0x20 || c >= 0x7f || c == '\\' {
				return "", false, false
			}
		}
		switch string(param) {
		case "name":
			if seenName {
				return "", false, false
			}
			seenName, formName = true, value
		case "filename":
			if seenFile {
				return "", false, false
			}
			seenFile, fileName = true, value
		default:
			return "", false, false
		}
	}
	if len(fileName) > 0 {
		name = filepath.Base(string(fileName))
	}
	return name, name != "" || string(formName) == "file", true
}
