package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// ErrNotFound means the master does not know the volume, or no volume server
// holds the needle (a wrong cookie is answered the same way). Check it with
// errors.Is; a 404 *Error matches it.
var ErrNotFound = errors.New("weed: not found")

// ErrUnsafeName means a stored file name cannot be used as a local file name
// in the download directory (it contains a path separator, is "." or "..",
// or would otherwise leave the directory).
var ErrUnsafeName = errors.New("weed: unsafe file name")

// Error is an error answer from a weed master or volume server: the HTTP
// status and the server's message exactly as it sent it (the "error" field of
// its JSON reply, or the body text when the reply is not JSON). Use
// errors.As to get at it; errors.Is(err, ErrNotFound) holds for a 404.
type Error struct {
	// StatusCode is the HTTP status of the reply.
	StatusCode int
	// Message is the server's message verbatim; it may be empty.
	Message string
	// Method and URL name the request that failed.
	Method, URL string
}

// Error formats the status, the message and the request.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	return fmt.Sprintf("weed: %s %s: %d: %s", e.Method, e.URL, e.StatusCode, msg)
}

// Is reports whether target is ErrNotFound and the status is 404.
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == http.StatusNotFound
}

// maxErrorBody bounds how much of an error reply is read.
const maxErrorBody = 64 << 10

// errorFromResponse reads (a bounded part of) resp's body and turns it into
// an *Error. It does not close the body.
func errorFromResponse(resp *http.Response) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{StatusCode: resp.StatusCode, Method: resp.Request.Method, URL: resp.Request.URL.String()}
	var reply struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &reply); err == nil {
		e.Message = reply.Error
	} else {
		e.Message = strings.TrimSpace(string(body))
	}
	return e
}

// replyBuffers holds buffers for reading small reply bodies.
var replyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledReply is the largest buffer put back into replyBuffers.
const maxPooledReply = 64 << 10

// readSmall reads a reply body of at most limit bytes into a pooled buffer
// and passes it to use; the buffer is reused after use returns.
func readSmall(body io.Reader, limit int, use func([]byte) error) error {
	bp := replyBuffers.Get().(*[]byte)
	buf := (*bp)[:0]
	var err error
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= limit {
				err = fmt.Errorf("reply longer than %d bytes", limit)
				break
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, rerr := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	if err == nil {
		err = use(buf)
	}
	if cap(buf) <= maxPooledReply {
		*bp = buf[:0]
		replyBuffers.Put(bp)
	}
	return err
}

// drainAndClose reads what is left of a small reply body so that the
// keep-alive connection can be reused, then closes it.
func drainAndClose(body io.ReadCloser) {
	_ = readSmall(body, maxErrorBody, func([]byte) error { return nil })
	_ = body.Close()
}

// decodeReply reads a JSON reply body of at most 1 MiB into out.
func decodeReply(resp *http.Response, out any) error {
	err := readSmall(resp.Body, 1<<20, func(b []byte) error { return json.Unmarshal(b, out) })
	if err != nil {
		return fmt.Errorf("weed: %s %s: decoding reply: %w", resp.Request.Method, resp.Request.URL, err)
	}
	return nil
}
