package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestBlobSetHeaders(t *testing.T) {
	mod := time.Date(2024, 3, 4, 5, 6, 7, 800, time.FixedZone("x", 3600))
	h := http.Header{}
	Blob{Name: "a \"b\"\r\n\x00.txt", ContentType: "text/plain", Etag: "1234abcd", ModTime: mod}.SetHeaders(h)
	for k, want := range map[string]string{
		"Content-Type":        "text/plain",
		"Etag":                `"1234abcd"`,
		"Last-Modified":       "Mon, 04 Mar 2024 04:06:07 GMT",
		"Accept-Ranges":       "bytes",
		"Content-Disposition": `inline; filename="a \"b\".txt"`,
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}

	h = http.Header{}
	Blob{ContentType: "application/octet-stream", Etag: "0"}.SetHeaders(h)
	if _, ok := h["Last-Modified"]; ok {
		t.Error("Last-Modified set for a zero time")
	}
	if _, ok := h["Content-Disposition"]; ok {
		t.Error("Content-Disposition set without a name")
	}
}

func TestBlobNotModified(t *testing.T) {
	mod := time.Date(2024, 3, 4, 5, 6, 7, 900e6, time.UTC)
	b := Blob{Etag: "1234abcd", ModTime: mod}
	for _, c := range []struct {
		name, header, value string
		want                bool
	}{
		{"no validators", "", "", false},
		{"bare etag", "If-None-Match", "1234abcd", true},
		{"quoted etag", "If-None-Match", `"1234abcd"`, true},
		{"weak etag in a list", "If-None-Match", `"x", W/"1234abcd"`, true},
		{"star", "If-None-Match", "*", true},
		{"other etag", "If-None-Match", `"ffff"`, false},
		{"same second", "If-Modified-Since", "Mon, 04 Mar 2024 05:06:07 GMT", true},
		{"later", "If-Modified-Since", "Mon, 04 Mar 2024 06:00:00 GMT", true},
		{"earlier", "If-Modified-Since", "Mon, 04 Mar 2024 05:06:06 GMT", false},
		{"bad date", "If-Modified-Since", "yesterday", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/f", nil)
		if c.header != "" {
			r.Header.Set(c.header, c.value)
		}
		w := httptest.NewRecorder()
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "3")
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Etag", `"1234abcd"`)
		got := b.NotModified(w, r)
		if got != c.want {
			t.Errorf("%s: NotModified = %v, want %v", c.name, got, c.want)
			continue
		}
		if !got {
			continue
		}
		res := w.Result()
		if res.StatusCode != http.StatusNotModified {
			t.Errorf("%s: status %d", c.name, res.StatusCode)
		}
		for _, k := range []string{"Content-Type", "Content-Length", "Content-Encoding"} {
			if v := res.Header.Get(k); v != "" {
				t.Errorf("%s: 304 carries %s: %s", c.name, k, v)
			}
		}
		if res.Header.Get("Etag") != `"1234abcd"` || res.Header.Get("Last-Modified") != "Mon, 04 Mar 2024 05:06:07 GMT" {
			t.Errorf("%s: 304 headers %v", c.name, res.Header)
		}
	}

	// Without a modification time, If-Modified-Since never matches.
	r := httptest.NewRequest(http.MethodGet, "/f", nil)
	r.Header.Set("If-Modified-Since", "Mon, 04 Mar 2024 05:06:07 GMT")
	if (Blob{Etag: "1"}).NotModified(httptest.NewRecorder(), r) {
		t.Error("If-Modified-Since matched a blob without a time")
	}
}

func TestMimeType(t *testing.T) {
	for _, c := range []struct {
		stored string
		exts   []string
		want   string
	}{
		{"image/png", []string{".txt"}, "image/png"},
		{"", []string{"", ".png"}, "image/png"},
		{"", []string{".nosuchext", ".png"}, "image/png"},
		{"", nil, "application/octet-stream"},
		{"", []string{".nosuchext"}, "application/octet-stream"},
	} {
		if got := MimeType(c.stored, c.exts...); got != c.want {
			t.Errorf("MimeType(%q, %q) = %q, want %q", c.stored, c.exts, got, c.want)
		}
	}
}

func TestWriteEmptyNotFound(t *testing.T) {
	w := httptest.NewRecorder()
	WriteEmptyNotFound(w)
	if w.Code != http.StatusNotFound || w.Body.Len() != 0 || w.Header().Get("Content-Length") != "0" ||
		w.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("WriteEmptyNotFound: %d %v %q", w.Code, w.Header(), w.Body)
	}
}
