package volumeserver

import (
	"bytes"
	"mime/multipart"
	"testing"
)

func TestParseOnePart(t *testing.T) {
	const b = "0123abcd"
	head := "--" + b + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
	cases := []struct {
		name, body string
		want       upload
		ok         bool
	}{
		{name: "client shape", body: head + "Content-Type: text/plain\r\n\r\nhello\r\n--" + b + "--\r\n",
			want: upload{Data: []byte("hello"), Name: "a.txt", Mime: "text/plain"}, ok: true},
		{name: "no final line end", body: head + "\r\nhello\r\n--" + b + "--",
			want: upload{Data: []byte("hello"), Name: "a.txt"}, ok: true},
		{name: "empty file", body: head + "\r\n\r\n--" + b + "--\r\n",
			want: upload{Data: []byte{}, Name: "a.txt"}, ok: true},
		{name: "gzip, keys in any case", body: "--" + b + "\r\ncontent-disposition: form-data; filename=\"d/z.gz\"; name=\"up\"\r\nCONTENT-ENCODING: gzip\r\n\r\n\x1f\x8b\x08\r\n--" + b + "--\r\n",
			want: upload{Data: []byte("\x1f\x8b\x08"), Name: "z.gz", Gzipped: true}, ok: true},
		{name: "field named file, no file name", body: "--" + b + "\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--" + b + "--\r\n",
			want: upload{Data: []byte("x")}, ok: true},
		{name: "boundary-like bytes in the data", body: head + "\r\na\r\n--" + b + "x\r\n--" + b + "--\r\n"},
		{name: "two parts", body: head + "\r\na\r\n--" + b + "\r\n" + head + "\r\nb\r\n--" + b + "--\r\n"},
		{name: "preamble", body: "hi\r\n" + head + "\r\na\r\n--" + b + "--\r\n"},
		{name: "epilogue", body: head + "\r\na\r\n--" + b + "--\r\nbye"},
		{name: "transfer encoding", body: head + "Content-Transfer-Encoding: quoted-printable\r\n\r\na=3D\r\n--" + b + "--\r\n"},
		{name: "not a file part", body: "--" + b + "\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--" + b + "--\r\n"},
		{name: "escaped name", body: "--" + b + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\\\"b\"\r\n\r\nv\r\n--" + b + "--\r\n"},
		{name: "duplicate header", body: head + head[len(b)+4:] + "\r\nv\r\n--" + b + "--\r\n"},
		{name: "truncated", body: head + "\r\nhello"},
		{name: "bare LF", body: "--" + b + "\nContent-Disposition: form-data; name=\"file\"\n\nv\n--" + b + "--\n"},
	}
	for _, c := range cases {
		got, ok := parseOnePart([]byte(c.body), b)
		if ok != c.ok {
			t.Errorf("%s: ok = %v, want %v", c.name, ok, c.ok)
			continue
		}
		if ok && (!bytes.Equal(got.Data, c.want.Data) || got.Name != c.want.Name || got.Mime != c.want.Mime || got.Gzipped != c.want.Gzipped) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestMultipartBoundary(t *testing.T) {
	for ct, want := range map[string]string{
		"multipart/form-data; boundary=0123abcdef":     "0123abcdef",
		"multipart/form-data; boundary=a-b_c.d+e'f":    "a-b_c.d+e'f",
		"multipart/form-data; boundary=\"quoted\"":     "",
		"multipart/form-data; boundary=a b":            "",
		"multipart/form-data; boundary=":               "",
		"Multipart/Form-Data; boundary=x":              "",
		"multipart/form-data; boundary=x; charset=utf": "",
		"multipart/mixed; boundary=x":                  "",
	} {
		got, ok := multipartBoundary(ct)
		if got != want || ok != (want != "") {
			t.Errorf("multipartBoundary(%q) = %q, %v; want %q", ct, got, ok, want)
		}
	}
}

// FuzzOnePartMatchesMultipart checks the upload fast path against
// mime/multipart: whatever parseOnePart accepts, mime/multipart parses to
// the same file.
func FuzzOnePartMatchesMultipart(f *testing.F) {
	f.Add("b", []byte("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"))
	f.Add("0123", []byte("--0123\r\ncontent-disposition: form-data; filename=\"../x\"; name=\"f\"\r\nContent-Encoding: gzip\r\n\r\n\x1f\x8b\x08\r\n--0123--"))
	f.Add("b", []byte("--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\r\n--bb\r\n--b--\r\n"))
	f.Add("b", []byte("--b\r\nContent-Disposition: form-data ; name=\"file\"\r\nContent-Type:  a/b \t\r\n\r\nx\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		if boundary == "" {
			return
		}
		fast, ok := parseOnePart(body, boundary)
		if !ok {
			return
		}
		var buf bytes.Buffer
		slow, err := parseMultipart(multipart.NewReader(bytes.NewReader(body), boundary), &buf)
		if err != nil {
			t.Fatalf("fast path took a body mime/multipart refuses (%v): %+v", err, fast)
		}
		if !bytes.Equal(fast.Data, slow.Data) || fast.Name != slow.Name || fast.Mime != slow.Mime || fast.Gzipped != slow.Gzipped {
			t.Fatalf("fast path %+v, mime/multipart %+v", fast, slow)
		}
	})
}
