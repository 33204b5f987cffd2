// Package httpx holds the few HTTP helpers every weed server shares: JSON
// replies in the weed-fs shape, JSON errors, and query parsing.
package httpx

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/golang/glog"
)

// WriteJSON writes v as JSON with the given status. With ?pretty=y (any
// non-empty "pretty" parameter) the JSON is indented, as weed-fs did.
func WriteJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if r != nil && r.URL.Query().Get("pretty") != "" {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		glog.Errorf("encode json reply: %v", err)
		http.Error(w, `{"error":"internal error"}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r == nil || r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
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
