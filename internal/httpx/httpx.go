// Package httpx holds the few HTTP helpers every weed server shares: JSON
// replies in the weed-fs shape, JSON errors, and query parsing.
package httpx

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/golang/glog"
)

// JSONAppender is implemented by reply types on hot paths that encode
// themselves without reflection: AppendJSON appends exactly what
// encoding/json (without HTML escaping) would encode for the value.
type JSONAppender interface {
	AppendJSON(b []byte) []byte
}

// replyBufs recycles the buffers of JSON replies.
var replyBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 512)
	return &b
}}

// maxPooledReply keeps large replies' buffers out of the pool.
const maxPooledReply = 64 << 10

// WriteJSON writes v as JSON with the given status. With ?pretty=y (any
// non-empty "pretty" parameter) the JSON is indented, as weed-fs did. A v
// that is a JSONAppender encodes itself (unless pretty); anything else goes
// through encoding/json.
func WriteJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	bp := replyBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledReply {
			replyBufs.Put(bp)
		}
	}()
	// The query is parsed only when it may hold "pretty", plain or escaped.
	raw := ""
	if r != nil {
		raw = r.URL.RawQuery
	}
	pretty := (strings.Contains(raw, "pretty") || strings.IndexByte(raw, '%') >= 0) && r.URL.Query().Get("pretty") != ""
	var out []byte
	if a, ok := v.(JSONAppender); ok && !pretty {
		out = append(a.AppendJSON((*bp)[:0]), '\n')
	} else {
		buf := bytes.NewBuffer((*bp)[:0])
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		if pretty {
			enc.SetIndent("", "  ")
		}
		if err := enc.Encode(v); err != nil {
			glog.Errorf("encode json reply: %v", err)
			http.Error(w, `{"error":"internal error"}`, http.StatusInternalServerError)
			return
		}
		out = buf.Bytes()
	}
	*bp = out[:0]
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(out))}
	w.WriteHeader(status)
	if r == nil || r.Method != http.MethodHead {
		_, _ = w.Write(out)
	}
}

// AppendJSONString appends s as a JSON string, as encoding/json without
// HTML escaping encodes it.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return appendEscapedJSONString(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendEscapedJSONString is AppendJSONString for strings that need
// escapes: encoding/json does it, so the two can never differ.
func appendEscapedJSONString(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		// A string always encodes; keep the reply well formed anyway.
		return append(b, `""`...)
	}
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

// ErrorBody is the JSON body of every error reply: {"error":"..."}.
type ErrorBody struct {
	Error string `json:"error"`
}

// ErrorMessage returns the message of an error reply's body: the "error"
// of an ErrorBody, else the body itself, trimmed.
func ErrorMessage(body []byte) string {
	var e ErrorBody
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return strings.TrimSpace(string(body))
}

// WriteError writes {"error": msg} with the given status.
func WriteError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	WriteJSON(w, r, status, ErrorBody{Error: msg})
}

// IntParam parses an optional integer query parameter, returning def when it
// is absent and ok=false when it is present but not an integer in [min, max].
func IntParam(r *http.Request, name string, def, min, max int64) (v int64, ok bool) {
	s := r.FormValue(name)
	if s == "" {
		return def, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		return 0, false
	}
	return n, true
}

// FloatParam parses an optional float query parameter in [min, max].
func FloatParam(r *http.Request, name string, def, min, max float64) (v float64, ok bool) {
	s := r.FormValue(name)
	if s == "" {
		return def, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < min || f > max || f != f {
		return 0, false
	}
	return f, true
}
