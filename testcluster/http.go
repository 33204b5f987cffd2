package testcluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// Settle bounds a test's wait for a cluster to reach a state: heartbeats
// seen, nodes dropped, files flushed, replicas repaired. Generous: the
// machine is small and shared.
const Settle = 45 * time.Second

// RequestTimeout bounds every request of NoFollow, Follow and Plain,
// generously: the machine is shared and a filer upload may be large.
const RequestTimeout = 2 * time.Minute

// refuseRedirects makes a client hand back a redirect as the reply.
func refuseRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// NoFollow is the client of `curl URL`: it does not follow redirects, so
// the test sees the 301s and 302s itself.
var NoFollow = &http.Client{Timeout: RequestTimeout, CheckRedirect: refuseRedirects}

// Follow is the client of `curl -L URL`. Go repeats the method of a 301 or
// 302 only for GET and HEAD (a DELETE becomes a GET), so a test follows a
// DELETE's redirect itself with NoFollow.
var Follow = &http.Client{Timeout: RequestTimeout}

// Plain neither follows redirects nor asks for gzip, like curl without -L
// and --compressed: headers and bodies arrive exactly as the server sent
// them (Go's default transport asks for gzip and inflates it silently).
var Plain = &http.Client{
	Transport:     &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16},
	Timeout:       RequestTimeout,
	CheckRedirect: refuseRedirects,
}

// Reply is a finished HTTP exchange: the status, the headers and the whole
// body.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// String describes r for failure messages: the status code and the body,
// trimmed, cut at 300 bytes and quoted unless it is printable text.
func (r Reply) String() string {
	b, cut := bytes.TrimSpace(r.Body), ""
	if len(b) > 300 {
		b, cut = b[:300], "..."
	}
	if isText(b) {
		return fmt.Sprintf("%d %s%s", r.Status, b, cut)
	}
	return fmt.Sprintf("%d %q%s", r.Status, b, cut)
}

// isText reports whether b is UTF-8 without control characters other than
// white space.
func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range string(b) {
		if unicode.IsControl(c) && !unicode.IsSpace(c) {
			return false
		}
	}
	return true
}

// Text returns the body without the trailing newline JSON encoders add.
func (r Reply) Text() string { return strings.TrimRight(string(r.Body), "\n") }

// Send sends one request with hc, setting the request headers of header,
// and reads the whole reply. When the body cannot be read whole it returns
// the status and headers with the error. Unlike Do it needs no testing.TB,
// so goroutines other than the test's can use it.
func Send(hc *http.Client, method, url string, body io.Reader, header map[string]string) (Reply, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return Reply{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	r := Reply{Status: resp.StatusCode, Header: resp.Header}
	if r.Body, err = io.ReadAll(resp.Body); err != nil {
		return r, fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	return r, nil
}

// Do is Send failing t when no whole reply arrives.
func Do(t testing.TB, hc *http.Client, method, url string, body io.Reader, header map[string]string) Reply {
	t.Helper()
	r, err := Send(hc, method, url, body, header)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Get is `curl URL`: a GET with NoFollow, failing t when no reply arrives.
func Get(t testing.TB, url string) Reply {
	t.Helper()
	return Do(t, NoFollow, http.MethodGet, url, nil, nil)
}

// GetFollow is `curl -L URL`: a GET with Follow, failing t when no reply
// arrives.
func GetFollow(t testing.TB, url string) Reply {
	t.Helper()
	return Do(t, Follow, http.MethodGet, url, nil, nil)
}

// DecodeJSON unmarshals r's body into v, failing t on bad JSON.
func DecodeJSON(t testing.TB, r Reply, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r, err)
	}
}

// RequireJSONError fails t unless r has status and a JSON body
// {"error":"..."} with a non-empty message, and returns the message; what
// names the request in the failure.
func RequireJSONError(t testing.TB, what string, r Reply, status int) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if r.Status != status || json.Unmarshal(r.Body, &e) != nil || e.Error == "" {
		t.Fatalf("%s: %s, want %d with a JSON error", what, r, status)
	}
	return e.Error
}

// FormFile is one file part of a multipart/form-data body.
type FormFile struct {
	// Field is the form field's name; "file" when empty.
	Field string
	// Name is the file name.
	Name string
	// ContentType is the part's Content-Type; the part has none when empty.
	ContentType string
	// Data is the file's content.
	Data []byte
}

// quoteEscaper escapes a Content-Disposition parameter the way
// multipart.Writer.CreateFormFile does.
var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// Multipart encodes files as one multipart/form-data body, the way
// `curl -F field=@name;type=...` does, and returns it with the request's
// Content-Type.
func Multipart(files ...FormFile) (*bytes.Buffer, string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range files {
		field := f.Field
		if field == "" {
			field = "file"
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`,
			quoteEscaper.Replace(field), quoteEscaper.Replace(f.Name)))
		if f.ContentType != "" {
			h.Set("Content-Type", f.ContentType)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			return nil, "", err
		}
		if _, err := w.Write(f.Data); err != nil {
			return nil, "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return &buf, mw.FormDataContentType(), nil
}

// MultipartFile is the body of `curl -F file=@name`: one part in the field
// "file" sent as application/octet-stream, as
// multipart.Writer.CreateFormFile writes it, and its Content-Type.
func MultipartFile(name string, data []byte) (*bytes.Buffer, string, error) {
	return Multipart(FormFile{Name: name, ContentType: "application/octet-stream", Data: data})
}

// SendFile is `curl -F file=@name URL` with the extra request headers of
// header: a multipart POST of data with NoFollow. Unlike PostFile it needs
// no testing.TB.
func SendFile(url, name string, data []byte, header map[string]string) (Reply, error) {
	body, ct, err := MultipartFile(name, data)
	if err != nil {
		return Reply{}, err
	}
	h := map[string]string{"Content-Type": ct}
	for k, v := range header {
		h[k] = v
	}
	return Send(NoFollow, http.MethodPost, url, body, h)
}

// PostFile is SendFile failing t when no whole reply arrives.
func PostFile(t testing.TB, url, name string, data []byte, header map[string]string) Reply {
	t.Helper()
	r, err := SendFile(url, name, data, header)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
