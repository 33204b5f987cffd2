package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/security"
	"github.com/weedfs/weed/needle"
)

// GetOptions adjusts a read. The zero value reads the whole file.
type GetOptions struct {
	// Offset and Length select a byte range (Range: bytes=Offset-...).
	// Length 0 means "to the end"; with Offset 0 too, no range is asked.
	Offset, Length int64
	// AcceptGzip asks for the bytes as stored when the server stored them
	// gzipped; Object.ContentEncoding then says "gzip". Without it the body
	// is always the original bytes.
	AcceptGzip bool
}

// Object is a file being read. The caller must close Body.
type Object struct {
	// Body yields the file's bytes (or the requested range).
	Body io.ReadCloser
	// Name is the stored file name from Content-Disposition, or "".
	Name string
	// MimeType is the Content-Type of the reply.
	MimeType string
	// Size is the number of bytes Body yields, or -1 when unknown.
	Size int64
	// ETag is the needle's checksum, unquoted.
	ETag string
	// LastModified is the needle's modification time, zero when not sent.
	LastModified time.Time
	// ContentEncoding is "gzip" when Body yields gzip bytes (AcceptGzip).
	ContentEncoding string
	// StatusCode is 200, or 206 for a range.
	StatusCode int
	// Location is the volume server that answered ("host:port").
	Location string
}

// addr returns the address reads and deletes go to.
func (c *Client) addr(l Location) string {
	if c.usePublic && l.PublicURL != "" {
		return l.PublicURL
	}
	return l.URL
}

// order returns the locations in random order; a single location is
// returned as is, without allocating.
func order(locs []Location) []Location {
	if len(locs) < 2 {
		return locs
	}
	out := make([]Location, len(locs))
	for i, j := range rand.Perm(len(locs)) {
		out[i] = locs[j]
	}
	return out
}

// Get reads file fid. It looks the volume up (cached), tries its servers in
// random order and moves to the next one on a network error or a 5xx. When
// every cached location failed that way, the cache entry is dropped and the
// volume looked up again once. A missing file is an error matching
// ErrNotFound; other refusals (416 for a bad range) are *Error values.
func (c *Client) Get(ctx context.Context, fid string, opts GetOptions) (*Object, error) {
	id, err := needle.ParseFileID(fid)
	if err != nil {
		return nil, fmt.Errorf("weed: get %q: %w", fid, err)
	}
	if opts.Offset < 0 || opts.Length < 0 {
		return nil, fmt.Errorf("weed: get %s: negative range %d+%d", fid, opts.Offset, opts.Length)
	}
	locs, err := c.Lookup(ctx, id.Volume)
	if err != nil {
		return nil, fmt.Errorf("weed: get %s: %w", fid, err)
	}
	obj, retry, err := c.getFrom(ctx, fid, locs, opts)
	if err == nil || !retry || ctx.Err() != nil {
		return obj, err
	}
	c.Invalidate(id.Volume)
	glog.V(1).Infof("weed client: get %s: %v; looking volume %d up again", fid, err, id.Volume)
	locs, err = c.Lookup(ctx, id.Volume)
	if err != nil {
		return nil, fmt.Errorf("weed: get %s: %w", fid, err)
	}
	obj, retry, err = c.getFrom(ctx, fid, locs, opts)
	if retry {
		c.Invalidate(id.Volume)
	}
	return obj, err
}

// getFrom tries locs in random order. retry reports that every location
// failed with a network error or a 5xx (stale locations, worth a new lookup).
func (c *Client) getFrom(ctx context.Context, fid string, locs []Location, opts GetOptions) (obj *Object, retry bool, err error) {
	var notFound, lastErr error
	for _, l := range order(locs) {
		addr := c.addr(l)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, volumeURL(addr, fid), nil)
		if err != nil {
			return nil, false, fmt.Errorf("weed: get %s: %w", fid, err)
		}
		if opts.Offset > 0 || opts.Length > 0 {
			r := "bytes=" + strconv.FormatInt(opts.Offset, 10) + "-"
			if opts.Length > 0 {
				r += strconv.FormatInt(opts.Offset+opts.Length-1, 10)
			}
			req.Header.Set("Range", r)
		}
		if opts.AcceptGzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, false, fmt.Errorf("weed: get %s: %w", fid, ctx.Err())
			}
			lastErr = fmt.Errorf("weed: get %s from %s: %w", fid, addr, err)
			continue
		}
		switch {
		case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent:
			return newObject(resp, addr), false, nil
		case resp.StatusCode == http.StatusNotFound:
			notFound = errorFromResponse(resp)
			drainAndClose(resp.Body)
		case resp.StatusCode >= 500:
			lastErr = errorFromResponse(resp)
			drainAndClose(resp.Body)
		default:
			e := errorFromResponse(resp)
			drainAndClose(resp.Body)
			return nil, false, e
		}
	}
	if notFound != nil {
		return nil, false, notFound
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("weed: get %s: %w: volume has no locations", fid, ErrNotFound)
	}
	return nil, true, lastErr
}

func newObject(resp *http.Response, addr string) *Object {
	h := resp.Header
	o := &Object{
		Body:            resp.Body,
		Size:            resp.ContentLength,
		ETag:            strings.Trim(h.Get("Etag"), `"`),
		ContentEncoding: h.Get("Content-Encoding"),
		StatusCode:      resp.StatusCode,
		Location:        addr,
	}
	if ct := h.Get("Content-Type"); ct != "" {
		o.MimeType = ct
	}
	if lm := h.Get("Last-Modified"); lm != "" {
		if t, err := http.ParseTime(lm); err == nil {
			o.LastModified = t
		}
	}
	if cd := h.Get("Content-Disposition"); cd != "" {
		o.Name = dispositionName(cd)
	}
	return o
}

// dispositionName returns the file name of a Content-Disposition header, or
// "" when it has none or cannot be parsed.
func dispositionName(cd string) string {
	_, params, err := mime.ParseMediaType(cd)
	if err != nil {
		return ""
	}
	return params["filename"]
}

// maxDeleteRedirects bounds how many 301s a Delete follows.
const maxDeleteRedirects = 3

// Delete deletes file fid through one of the servers holding its volume
// (which deletes it on every replica) and returns the size it had. Servers
// are tried in random order, moving on after a network error or a 5xx. A
// missing file is an error matching ErrNotFound.
//
// In a secured cluster (-secure.secret) a delete needs a token for fid. A
// Client with the secret (WithSecret) signs it; any other asks a master for
// one (GET /dir/lookup?fileId=<fid>, which answers it to clients its white
// list admits) when a volume server refused the delete with 401, and from
// then on (or once an assign brought a token) before every delete.
func (c *Client) Delete(ctx context.Context, fid string) (int64, error) {
	id, err := needle.ParseFileID(fid)
	if err != nil {
		return 0, fmt.Errorf("weed: delete %q: %w", fid, err)
	}
	var token string
	fetched := false
	switch {
	case c.signer != nil:
		token = c.signer.Sign(fid, 1)
	case c.secured.Load():
		if token, err = c.deleteToken(ctx, fid); err != nil {
			return 0, err
		}
		fetched = true
	}
	locs, err := c.Lookup(ctx, id.Volume)
	if err != nil {
		return 0, fmt.Errorf("weed: delete %s: %w", fid, err)
	}
	var lastErr error
	failed := false
	for _, l := range order(locs) {
		target := volumeURL(c.addr(l), fid)
		size, err := c.deleteAt(ctx, target, token)
		var e *Error
		if !fetched && errors.As(err, &e) && e.StatusCode == http.StatusUnauthorized {
			fetched = true
			c.secured.Store(true)
			t, terr := c.deleteToken(ctx, fid)
			if terr != nil {
				return 0, fmt.Errorf("%w (%w)", err, terr)
			}
			if t != "" {
				token = t
				size, err = c.deleteAt(ctx, target, token)
			}
		}
		switch {
		case err == nil:
			return size, nil
		case ctx.Err() != nil:
			return 0, fmt.Errorf("weed: delete %s: %w", fid, ctx.Err())
		case errors.As(err, &e) && e.StatusCode < 500:
			return 0, err
		}
		failed = true
		lastErr = err
	}
	if failed {
		c.Invalidate(id.Volume)
	}
	return 0, lastErr
}

// deleteToken asks a master for a token allowing the delete of fid
// (/dir/lookup?fileId=, its Authorization header). It returns "" when the
// master gives none: it has no secret, its white list does not admit this
// client, or it does not know the volume.
func (c *Client) deleteToken(ctx context.Context, fid string) (string, error) {
	path := "/dir/lookup?fileId=" + url.QueryEscape(fid)
	resp, err := c.doMaster(ctx, func(master string) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, masterURL(master, path), nil)
	})
	if err != nil {
		return "", fmt.Errorf("weed: token for deleting %s: %w", fid, err)
	}
	drainAndClose(resp.Body)
	return security.BearerToken(resp.Header.Get(security.AuthorizationHeader)), nil
}

// deleteAt sends DELETE to target, following redirects as DELETEs, with
// token (when not empty) on every hop.
func (c *Client) deleteAt(ctx context.Context, target, token string) (int64, error) {
	for hop := 0; ; hop++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, target, nil)
		if err != nil {
			return 0, fmt.Errorf("weed: delete: %w", err)
		}
		if token != "" {
			req.Header.Set(security.AuthorizationHeader, "Bearer "+token)
		}
		resp, err := c.noRedirect.Do(req)
		if err != nil {
			return 0, fmt.Errorf("weed: delete %s: %w", target, err)
		}
		switch {
		case resp.StatusCode/100 == 2:
			var reply struct {
				Size  int64  `json:"size"`
				Error string `json:"error"`
			}
			err := decodeReply(resp, &reply)
			drainAndClose(resp.Body)
			if err != nil {
				return 0, err
			}
			if reply.Error != "" {
				return 0, &Error{StatusCode: resp.StatusCode, Message: reply.Error, Method: http.MethodDelete, URL: target}
			}
			return reply.Size, nil
		case resp.StatusCode/100 == 3 && resp.Header.Get("Location") != "" && hop < maxDeleteRedirects:
			next, err := resp.Location()
			drainAndClose(resp.Body)
			if err != nil {
				return 0, fmt.Errorf("weed: delete %s: bad redirect: %w", target, err)
			}
			target = next.String()
		default:
			e := errorFromResponse(resp)
			drainAndClose(resp.Body)
			return 0, e
		}
	}
}
