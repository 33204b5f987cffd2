package httpx

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestErrorMessage(t *testing.T) {
	for body, want := range map[string]string{
		`{"error":"volume 3 not found"}` + "\n": "volume 3 not found",
		`{"error":""}`:                          `{"error":""}`,
		"  plain text\n":                        "plain text",
		`{"size":3}`:                            `{"size":3}`,
		"":                                      "",
	} {
		if got := ErrorMessage([]byte(body)); got != want {
			t.Errorf("ErrorMessage(%q) = %q, want %q", body, got, want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain name.txt", `say "hi"`, `back\slash`, "tab\tnew\nline\r\x00\x1f\x7f",
		"<html>&amp;", "héllo wörld", "\u2028\u2029", "bad \xff utf-8", "ok/slash"} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := string(AppendJSONString([]byte("x"), s)); got != "x"+strings.TrimSuffix(want.String(), "\n") {
			t.Errorf("AppendJSONString(%q) = %s, want x%s", s, got, want.String())
		}
	}
}

// selfEncoded is a JSONAppender whose AppendJSON differs from what
// encoding/json makes of it, to show which encoder ran.
type selfEncoded struct {
	A int `json:"a"`
}

func (selfEncoded) AppendJSON(b []byte) []byte { return append(b, `{"self":true}`...) }

func TestWriteJSON(t *testing.T) {
	for _, c := range []struct {
		target, want string
	}{
		{"/x", `{"self":true}` + "\n"},
		{"/x?prettyish=", `{"self":true}` + "\n"},
		{"/x?pretty=y", "{\n  \"a\": 1\n}\n"},
		{"/x?pre%74ty=1", "{\n  \"a\": 1\n}\n"},
		{"/x?replication=000&collection=pretty", `{"self":true}` + "\n"},
		{"/x?replication=000&pretty=1", "{\n  \"a\": 1\n}\n"},
	} {
		w := httptest.NewRecorder()
		WriteJSON(w, httptest.NewRequest(http.MethodGet, c.target, nil), http.StatusCreated, selfEncoded{A: 1})
		if w.Code != http.StatusCreated || w.Body.String() != c.want || w.Header().Get("Content-Type") != "application/json" ||
			w.Header().Get("Content-Length") != strconv.Itoa(len(c.want)) {
			t.Errorf("%s: %d %q %v", c.target, w.Code, w.Body.String(), w.Header())
		}
	}
	w := httptest.NewRecorder()
	WriteJSON(w, httptest.NewRequest(http.MethodHead, "/x", nil), http.StatusOK, map[string]int{"b": 2})
	if w.Body.Len() != 0 || w.Header().Get("Content-Length") != "8" {
		t.Errorf("HEAD: %q %v", w.Body.String(), w.Header())
	}
}
