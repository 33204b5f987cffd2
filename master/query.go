package master

import (
	"bytes"
	"io"
	"net/http"
	"strings"
)

// plainQuery is a URL query of at most maxPlainParams parameters whose
// keys and values need no unescaping (no '%', '+' or ';'): what clients
// send to /dir/assign. parsePlainQuery reads it without allocating; Get
// answers as url.Values.Get would for the same query.
type plainQuery struct {
	n  int
	kv [maxPlainParams][2]string
}

// maxPlainParams bounds a plainQuery; longer queries take url.ParseQuery.
const maxPlainParams = 8

// parsePlainQuery parses raw when it is plain; ok is false otherwise, and
// the caller parses it with net/url.
func parsePlainQuery(raw string) (q plainQuery, ok bool) {
	for i := 0; i < len(raw); i++ {
		if !isPlainQueryByte(raw[i]) {
			return plainQuery{}, false
		}
	}
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		if q.n == maxPlainParams {
			return plainQuery{}, false
		}
		key, value, _ := strings.Cut(part, "=")
		q.kv[q.n] = [2]string{key, value}
		q.n++
	}
	return q, true
}

// isPlainQueryByte reports whether c stands for itself in a query, and
// separates nothing but what '&' and '=' separate.
func isPlainQueryByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '&' || c == '=' || c == '-' || c == '_' || c == '.' || c == '~' || c == ',' || c == ':' || c == '/' || c == '@'
}

// Get returns the first value of key, or "".
func (q *plainQuery) Get(key string) string {
	for i := 0; i < q.n; i++ {
		if q.kv[i][0] == key {
			return q.kv[i][1]
		}
	}
	return ""
}

// maxPlainFormBody bounds the POST bodies plainFormBody reads; an assign's
// form is a few dozen bytes.
const maxPlainFormBody = 512

// plainFormBody reads the form of a POST that has no query, whose
// Content-Type is exactly application/x-www-form-urlencoded and whose body,
// of a declared length of at most maxPlainFormBody bytes, is a plain query.
// ok is false otherwise; the body is then left for ParseForm to read as if
// untouched (what was read of it is put back in front of the rest).
func plainFormBody(r *http.Request) (q plainQuery, ok bool) {
	if r.URL.RawQuery != "" || r.ContentLength <= 0 || r.ContentLength > maxPlainFormBody ||
		len(r.Header["Content-Type"]) != 1 || r.Header["Content-Type"][0] != "application/x-www-form-urlencoded" {
		return plainQuery{}, false
	}
	buf := make([]byte, r.ContentLength)
	n, err := io.ReadFull(r.Body, buf)
	if err != nil {
		r.Body = rewound(buf[:n], r.Body)
		return plainQuery{}, false
	}
	if q, ok = parsePlainQuery(string(buf)); !ok {
		r.Body = rewound(buf, r.Body)
	}
	return q, ok
}

// rewound is body with read, the bytes already taken from it, in front.
func rewound(read []byte, body io.ReadCloser) io.ReadCloser {
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(read), body), body}
}
