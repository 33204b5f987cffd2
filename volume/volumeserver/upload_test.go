package volumeserver

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/weedfs/weed/needle"
)

func TestParseUpload(t *testing.T) {
	mp := func(parts ...string) string {
		return strings.Join(parts, "") + "--b--\r\n"
	}
	part := func(disposition, header, body string) string {
		return "--b\r\nContent-Disposition: " + disposition + "\r\n" + header + "\r\n" + body + "\r\n"
	}
	const mpType = "multipart/form-data; boundary=b"
	cases := []struct {
		name, ctype, encoding, filename, body string
		want                                  upload
		bad                                   bool
	}{
		{name: "file field", ctype: mpType,
			body: mp(part(`form-data; name="file"; filename="a.txt"`, "Content-Type: text/plain\r\n", "hello")),
			want: upload{Data: []byte("hello"), Name: "a.txt", Mime: "text/plain"}},
		{name: "first file part wins over later ones", ctype: mpType,
			body: mp(part(`form-data; name="x"`, "", "field"), part(`form-data; name="up"; filename="one.bin"`, "", "1"), part(`form-data; name="file"; filename="two"`, "", "2")),
			want: upload{Data: []byte("1"), Name: "one.bin"}},
		{name: "path in the part name is dropped", ctype: mpType,
			body: mp(part(`form-data; name="file"; filename="../../etc/passwd"`, "", "x")),
			want: upload{Data: []byte("x"), Name: "passwd"}},
		{name: "gzip part", ctype: mpType,
			body: mp(part(`form-data; name="file"; filename="z"`, "Content-Encoding: gzip\r\n", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00")),
			want: upload{Data: []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00"), Name: "z", Gzipped: true}},
		{name: "raw", ctype: "text/csv; charset=utf-8", filename: "t.csv", body: "a,b",
			want: upload{Data: []byte("a,b"), Name: "t.csv", Mime: "text/csv; charset=utf-8"}},
		{name: "raw form-urlencoded is no type", ctype: "application/x-www-form-urlencoded", body: "a=b",
			want: upload{Data: []byte("a=b")}},
		{name: "raw unparsable type", ctype: "text/;;", body: "x", want: upload{Data: []byte("x")}},
		{name: "no file part", ctype: mpType, body: mp(part(`form-data; name="x"`, "", "v")), bad: true},
		{name: "no closing boundary", ctype: mpType, body: part(`form-data; name="file"; filename="a"`, "", "v"), bad: true},
		{name: "no boundary", ctype: "multipart/form-data", body: "x", bad: true},
		{name: "raw name with a newline", filename: "a\nb", body: "x", bad: true},
		{name: "false gzip", encoding: "gzip", body: "not gzip at all, no", bad: true},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		got, err := parseUpload(uploadRequest{ContentType: c.ctype, ContentEncoding: c.encoding, Filename: c.filename, Body: strings.NewReader(c.body)}, &buf)
		if c.bad {
			if !errors.Is(err, errBadUpload) {
				t.Errorf("%s: err = %v, want errBadUpload", c.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !bytes.Equal(got.Data, c.want.Data) || got.Name != c.want.Name || got.Mime != c.want.Mime || got.Gzipped != c.want.Gzipped {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
	// A body over the limit is not a bad upload but a *http.MaxBytesError.
	rec := &recorder{header: make(http.Header)}
	limited := http.MaxBytesReader(rec, readCloser{strings.NewReader("too long")}, 3)
	_, err := parseUpload(uploadRequest{Body: limited}, new(bytes.Buffer))
	var tooBig *http.MaxBytesError
	if !errors.As(err, &tooBig) || errors.Is(err, errBadUpload) {
		t.Errorf("over the limit: %v", err)
	}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

func TestCompressible(t *testing.T) {
	cases := []struct {
		mime, name string
		want       bool
	}{
		{"text/plain", "", true},
		{"text/html; charset=utf-8", "", true},
		{"application/json", "", true},
		{"application/vnd.api+json", "", true},
		{"image/svg+xml", "", true},
		{"", "app.JS", true},
		{"", "notes.md", true},
		{"image/png", "a.png", false},
		{"application/octet-stream", "a.bin", false},
		{"", "", false},
		{"application/zip", "a.zip", false},
	}
	for _, c := range cases {
		if got := compressible(c.mime, c.name); got != c.want {
			t.Errorf("compressible(%q, %q) = %v, want %v", c.mime, c.name, got, c.want)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	cases := map[string]bool{
		"":                    false,
		"gzip":                true,
		"deflate, gzip;q=0.8": true,
		"GZIP":                true,
		"gzip;q=0":            false,
		"gzip; q=0.000":       false,
		"*":                   true,
		"identity, br":        false,
		"x-gzip-not-really":   false,
	}
	for ae, want := range cases {
		r := &http.Request{Header: http.Header{"Accept-Encoding": {ae}}}
		if got := acceptsGzip(r); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", ae, got, want)
		}
	}
}

func FuzzParseUpload(f *testing.F) {
	f.Add("multipart/form-data; boundary=b", "", []byte("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"))
	f.Add("multipart/form-data; boundary=b", "", []byte("--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"b\"\r\nContent-Encoding: gzip\r\n\r\n\x1f\x8b\x08\r\n--b--"))
	f.Add("multipart/mixed; boundary=\"q q\"", "gzip", []byte("--q q\r\n\r\n--q q--"))
	f.Add("text/plain", "gzip", []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Add("", "", []byte{})
	f.Fuzz(func(t *testing.T, contentType, encoding string, body []byte) {
		var buf bytes.Buffer
		up, err := parseUpload(uploadRequest{ContentType: contentType, ContentEncoding: encoding, Filename: "f", Body: bytes.NewReader(body)}, &buf)
		if err != nil {
			return
		}
		if len(up.Data) > len(body) {
			t.Fatalf("parsed %d bytes of data from a %d byte body", len(up.Data), len(body))
		}
		if len(up.Name) > needle.MaxNameSize || len(up.Mime) > needle.MaxMimeSize {
			t.Fatalf("name %d bytes, mime %d bytes", len(up.Name), len(up.Mime))
		}
		if up.Gzipped && !looksGzipped(up.Data) {
			t.Fatal("gzip flag on data that is not gzip")
		}
		// What parses must compress and build without failing.
		var gz bytes.Buffer
		if compressible(up.Mime, up.Name) && gzipIfSmaller(up.Data, &gz) && gz.Len() >= len(up.Data) {
			t.Fatalf("kept gzip of %d bytes for %d bytes of data", gz.Len(), len(up.Data))
		}
	})
}
