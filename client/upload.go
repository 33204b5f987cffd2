package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weedfs/weed/internal/security"
)

// UploadRequest describes one file to store as a needle.
type UploadRequest struct {
	// Filename is the name stored with the needle (and served back in
	// Content-Disposition). When empty, Body is sent as a raw request body
	// and the needle has no name; otherwise it is sent as the multipart
	// field "file".
	Filename string
	// MimeType is stored with the needle. When empty it is derived from the
	// extension of Filename, and left to the server when that gives none.
	MimeType string
	// Body is read once. A body of known size up to 64 KiB is read into
	// memory first and sent in one write; a larger one, or one of unknown
	// size, is streamed without being buffered whole. No Read of Body
	// starts after Upload or Submit returns (one in progress when the call
	// fails may still complete).
	Body io.Reader
	// Size, when positive, is the exact length of Body. Otherwise it is
	// taken from Body when Body has a Len method (bytes.Reader,
	// bytes.Buffer, strings.Reader) or is a regular *os.File; failing that
	// the body is sent with chunked transfer encoding.
	Size int64
	// TTL is the needle ttl ("3m", "1d"...), or "".
	TTL string
	// Gzipped says that Body is already gzip-compressed: the server stores
	// it as is and serves it inflated to clients that do not accept gzip.
	Gzipped bool
	// ChunkManifest says that Body is a ChunkManifest in JSON; the server
	// flags the needle and serves the whole chunked file on reads.
	ChunkManifest bool
	// ModTime, when not zero, is stored as the needle's last-modified time.
	ModTime time.Time
	// JWT is the write token of a secured cluster (Assignment.JWT), sent
	// as "Authorization: Bearer <JWT>". Empty sends none, unless the
	// Client has the secret (WithSecret) and signs one.
	JWT string
}

// UploadResult is a volume server's answer to an upload.
type UploadResult struct {
	// Name is the stored file name.
	Name string `json:"name"`
	// Size is the stored size in bytes (of the gzipped bytes when the
	// server chose to store them compressed).
	Size int64 `json:"size"`
	// ETag is the needle's checksum as the server reported it, unquoted.
	ETag string `json:"-"`
}

// Upload stores r as the needle fid on the volume server at addr
// ("host:port", as returned by Assign), with POST /<fid>. The body is
// streamed; memory use does not depend on its size. An error answer is an
// *Error; in a secured cluster, a missing or expired r.JWT is a 401 one.
func (c *Client) Upload(ctx context.Context, addr, fid string, r UploadRequest) (UploadResult, error) {
	q := url.Values{}
	if r.TTL != "" {
		q.Set("ttl", r.TTL)
	}
	if r.ChunkManifest {
		q.Set("cm", "true")
	}
	if !r.ModTime.IsZero() {
		q.Set("ts", strconv.FormatInt(r.ModTime.Unix(), 10))
	}
	target := volumeURL(addr, fid)
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	body, err := newUploadBody(r)
	if err != nil {
		return UploadResult{}, err
	}
	defer body.stop()
	req, err := body.newRequest(ctx, target)
	if err != nil {
		return UploadResult{}, fmt.Errorf("weed: upload %s: %w", fid, err)
	}
	token := r.JWT
	if token == "" && c.signer != nil {
		token = c.signer.Sign(fid, 1)
	}
	if token != "" {
		req.Header.Set(security.AuthorizationHeader, "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return UploadResult{}, fmt.Errorf("weed: upload %s to %s: %w", fid, addr, err)
	}
	defer drainAndClose(resp.Body)
	if resp.StatusCode/100 != 2 {
		return UploadResult{}, errorFromResponse(resp)
	}
	var reply struct {
		UploadResult
		Error string `json:"error"`
	}
	if err := decodeReply(resp, &reply); err != nil {
		return UploadResult{}, err
	}
	if reply.Error != "" {
		return UploadResult{}, &Error{StatusCode: resp.StatusCode, Message: reply.Error, Method: http.MethodPost, URL: target}
	}
	reply.ETag = strings.Trim(resp.Header.Get("Etag"), `"`)
	return reply.UploadResult, nil
}

// SubmitRequest is an upload through a master's /submit, which assigns a fid
// and stores the file in one call.
type SubmitRequest struct {
	// Collection, Replication and TTL are as in AssignRequest.
	Collection, Replication, TTL string
	// Filename (required), MimeType, Body and Size are as in UploadRequest.
	Filename, MimeType string
	Body               io.Reader
	Size               int64
}

// UploadedFile describes a stored file. Its JSON form is the one of weed's
// /submit reply and of `weed upload`'s output.
type UploadedFile struct {
	// FileName is the stored file name.
	FileName string `json:"fileName"`
	// FileURL is "<publicUrl>/<fid>".
	FileURL string `json:"fileUrl"`
	// Fid is the file id.
	Fid string `json:"fid"`
	// Size is the stored size in bytes.
	Size int64 `json:"size"`
}

// Submit stores a file through a master (POST /submit). The body is sent to
// the next master only when the previous one failed before reading any of
// it, or when Body is an io.Seeker and can be rewound.
func (c *Client) Submit(ctx context.Context, r SubmitRequest) (UploadedFile, error) {
	if r.Filename == "" {
		return UploadedFile{}, errors.New("weed: submit needs a file name")
	}
	q := url.Values{}
	if r.Collection != "" {
		q.Set("collection", r.Collection)
	}
	if r.Replication != "" {
		q.Set("replication", r.Replication)
	}
	if r.TTL != "" {
		q.Set("ttl", r.TTL)
	}
	path := "/submit"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	body, err := newUploadBody(UploadRequest{Filename: r.Filename, MimeType: r.MimeType, Body: r.Body, Size: r.Size})
	if err != nil {
		return UploadedFile{}, err
	}
	defer body.stop()
	var start int64 = -1
	if s, ok := r.Body.(io.Seeker); ok && body.src != nil {
		if off, err := s.Seek(0, io.SeekCurrent); err == nil {
			start = off
		}
	}
	attempts := 0
	resp, err := c.doMaster(ctx, func(master string) (*http.Request, error) {
		attempts++
		if attempts > 1 && body.src != nil {
			read, busy := body.src.stop()
			if busy {
				return nil, errors.New("the body is still being read by the failed attempt")
			}
			if read > 0 {
				if start < 0 {
					return nil, errors.New("the body was partly sent and cannot be rewound")
				}
				if _, err := r.Body.(io.Seeker).Seek(start, io.SeekStart); err != nil {
					return nil, fmt.Errorf("rewinding the body: %w", err)
				}
			}
			body.src = &guardedReader{r: r.Body}
		}
		return body.newRequest(ctx, masterURL(master, path))
	})
	if err != nil {
		return UploadedFile{}, fmt.Errorf("weed: submit %s: %w", r.Filename, err)
	}
	defer drainAndClose(resp.Body)
	if resp.StatusCode/100 != 2 {
		return UploadedFile{}, errorFromResponse(resp)
	}
	var reply struct {
		UploadedFile
		Error string `json:"error"`
	}
	if err := decodeReply(resp, &reply); err != nil {
		return UploadedFile{}, err
	}
	if reply.Error != "" {
		return UploadedFile{}, &Error{StatusCode: resp.StatusCode, Message: reply.Error, Method: http.MethodPost, URL: resp.Request.URL.String()}
	}
	return reply.UploadedFile, nil
}

// smallBodyLimit is the largest body of known size that is assembled in
// memory: such an upload leaves in one write, and can be sent again to
// another master. Larger bodies, and bodies of unknown size, are streamed.
const smallBodyLimit = 64 << 10

// uploadBody is a request body: an optional multipart prefix, the caller's
// bytes, an optional multipart suffix. Either the whole of it is in mem, or
// it is streamed from src between head and tail.
type uploadBody struct {
	contentType string
	length      int64 // -1 when unknown
	mem         []byte
	head, tail  []byte
	src         *guardedReader
}

// newRequest returns a POST of the body to target. A streamed body can be
// sent once per guardedReader.
func (b *uploadBody) newRequest(ctx context.Context, target string) (*http.Request, error) {
	var rd io.Reader
	switch {
	case b.length == 0:
		rd = http.NoBody
	case b.mem != nil:
		rd = bytes.NewReader(b.mem)
	case b.head == nil:
		rd = b.src
	default:
		rd = io.MultiReader(bytes.NewReader(b.head), b.src, bytes.NewReader(b.tail))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", b.contentType)
	req.ContentLength = b.length
	return req, nil
}

// stop ends the reading of a streamed body.
func (b *uploadBody) stop() {
	if b.src != nil {
		b.src.stop()
	}
}

func newUploadBody(r UploadRequest) (*uploadBody, error) {
	if r.Body == nil {
		return nil, errors.New("weed: upload without a body")
	}
	size := r.Size
	if size <= 0 {
		size = bodyLength(r.Body)
	}
	mimeType := r.MimeType
	if mimeType == "" && r.Filename != "" {
		mimeType = mime.TypeByExtension(filepath.Ext(r.Filename))
	}
	if mimeType == "" {
		mimeType = "application/octet-stream"
	}
	b := &uploadBody{contentType: mimeType, length: size}
	var head, tail []byte
	if r.Filename != "" {
		var rnd [16]byte
		binary.LittleEndian.PutUint64(rnd[:8], rand.Uint64())
		binary.LittleEndian.PutUint64(rnd[8:], rand.Uint64())
		const ctPrefix = "multipart/form-data; boundary="
		var ctBuf [len(ctPrefix) + 32]byte
		copy(ctBuf[:], ctPrefix)
		boundary := ctBuf[len(ctPrefix):]
		hex.Encode(boundary, rnd[:])
		b.contentType = string(ctBuf[:])
		name := quoteEscaper.Replace(r.Filename)
		ct := headerEscaper.Replace(mimeType)
		headLen := 2 + len(boundary) + len(dispositionPrefix) + len(name) + len(typePrefix) + len(ct) + 4
		if r.Gzipped {
			headLen += len(gzipHeader)
		}
		tailLen := 4 + len(boundary) + 4
		small := size >= 0 && size <= smallBodyLimit
		if size >= 0 {
			b.length = int64(headLen) + size + int64(tailLen)
		}
		// A small body is assembled in one buffer: head, data, tail.
		bufLen := headLen
		if small {
			bufLen += int(size) + tailLen + 1
		}
		head = make([]byte, 0, bufLen)
		head = append(head, "--"...)
		head = append(head, boundary...)
		head = append(head, dispositionPrefix...)
		head = append(head, name...)
		head = append(head, typePrefix...)
		head = append(head, ct...)
		if r.Gzipped {
			head = append(head, gzipHeader...)
		}
		head = append(head, "\r\n\r\n"...)
		if small {
			if err := b.readSmallBody(r.Body, head, size, boundary); err != nil {
				return nil, err
			}
			return b, nil
		}
		tail = make([]byte, 0, tailLen)
		tail = append(tail, "\r\n--"...)
		tail = append(tail, boundary...)
		tail = append(tail, "--\r\n"...)
	} else if size >= 0 && size <= smallBodyLimit {
		if err := b.readSmallBody(r.Body, make([]byte, 0, size+1), size, nil); err != nil {
			return nil, err
		}
		return b, nil
	}
	b.head, b.tail = head, tail
	b.src = &guardedReader{r: r.Body}
	return b, nil
}

// Parts of the multipart head.
const (
	dispositionPrefix = "\r\nContent-Disposition: form-data; name=\"file\"; filename=\""
	typePrefix        = "\"\r\nContent-Type: "
	gzipHeader        = "\r\nContent-Encoding: gzip"
)

// readSmallBody reads exactly size bytes of body after head into the spare
// capacity of head (which has room for size+1 bytes and the tail), appends
// the multipart tail when boundary is not nil, and keeps the result in mem.
func (b *uploadBody) readSmallBody(body io.Reader, head []byte, size int64, boundary []byte) error {
	mem := head
	// One spare byte checks that body holds no more than size.
	n, err := io.ReadFull(body, mem[len(mem):len(mem)+int(size)+1])
	switch {
	case n == int(size) && (err == io.ErrUnexpectedEOF || err == io.EOF):
	case n > int(size):
		return fmt.Errorf("weed: upload body is longer than its size %d", size)
	case err != nil:
		return fmt.Errorf("weed: reading upload body (%d of %d bytes): %w", n, size, err)
	}
	mem = mem[:len(mem)+n]
	if boundary != nil {
		mem = append(mem, "\r\n--"...)
		mem = append(mem, boundary...)
		mem = append(mem, "--\r\n"...)
	}
	b.mem = mem
	b.length = int64(len(mem))
	return nil
}

var (
	quoteEscaper  = strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "", "\n", "")
	headerEscaper = strings.NewReplacer("\r", "", "\n", "")
)

// bodyLength returns the number of bytes left in r when that can be known
// without reading, else -1.
func bodyLength(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len())
	case *os.File:
		fi, err := v.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		off, err := v.Seek(0, io.SeekCurrent)
		if err != nil || off > fi.Size() {
			return -1
		}
		return fi.Size() - off
	}
	return -1
}

// errBodyStopped is what a guardedReader returns once its upload is over.
var errBodyStopped = errors.New("weed: upload body read after the upload ended")

// guardedReader wraps the caller's body so that no Read of it starts after
// the call that was handed it returns (an HTTP transport may still be
// reading a request body in its own goroutine when Do returns), and records
// how much of it was read. It never blocks on the wrapped reader while
// holding its lock.
type guardedReader struct {
	mu       sync.Mutex
	r        io.Reader
	n        int64
	inflight bool
	stopped  bool
}

func (g *guardedReader) Read(p []byte) (int, error) {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return 0, errBodyStopped
	}
	g.inflight = true
	g.mu.Unlock()
	n, err := g.r.Read(p)
	g.mu.Lock()
	g.inflight = false
	g.n += int64(n)
	g.mu.Unlock()
	return n, err
}

// stop makes every later Read fail. It reports how many bytes were read and
// whether a Read of the wrapped reader is still in progress.
func (g *guardedReader) stop() (read int64, busy bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopped = true
	return g.n, g.inflight
}
