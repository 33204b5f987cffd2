package client

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/glog"
	"golang.org/x/sync/singleflight"

	"github.com/weedfs/weed/internal/security"
)

// DefaultLookupTTL is how long a volume's locations are cached when no
// WithLookupTTL option is given.
const DefaultLookupTTL = 10 * time.Minute

// DefaultMasterTimeout is how long a master may take to start answering a
// call (assign, lookup, delete token, submit once its body is sent) before
// the Client moves on to the next master, when no WithMasterTimeout option
// is given. It is above the 5 s a follower holds a request while the
// masters elect a leader, so that an election is ridden over rather than
// cut short; a master that is paused or hung costs one such wait, after
// which the Client starts with a master that answered.
const DefaultMasterTimeout = 6 * time.Second

// LastMasterTimeout is how long the last master a call tries (the only one,
// with a single master) may take to start answering: with no other master
// to move on to, it is given time for what an assign may wait for, a new
// leader's settling and a volume growth (up to 2 minutes).
const LastMasterTimeout = 3 * time.Minute

// Client talks to a weed cluster. It is safe for concurrent use; create one
// per cluster and share it, so that its lookup cache and its HTTP
// connections are shared too.
type Client struct {
	masters []string
	// current is the index in masters of the master that answered last.
	current atomic.Int32

	hc *http.Client
	// mc sends the calls to masters: hc with a bound on the wait for a
	// master's answer (masterTimeout); mcLast those to the last master a
	// call tries (LastMasterTimeout).
	mc, mcLast    *http.Client
	masterTimeout time.Duration
	// noRedirect shares hc's transport but does not follow redirects, so
	// that a DELETE answered with 301 is re-sent as a DELETE.
	noRedirect *http.Client
	lookupTTL  time.Duration
	usePublic  bool
	// signer, when set (WithSecret), signs the tokens of deletes and of
	// uploads that carry none.
	signer *security.Signer
	// secured is set once a master handed out a token or a volume server
	// asked for one: deletes then fetch their token before they are sent.
	secured atomic.Bool

	cache   sync.Map // needle.VolumeID -> *cacheEntry
	flights singleflight.Group
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send every request through hc (its
// transport, timeouts and cookie jar). The default is a client on
// http.DefaultTransport without a timeout: bound calls with the context.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc = hc }
}

// WithMasterTimeout bounds how long a master may take to start answering
// (its response headers, after the request was sent) before the call moves
// on to the next master (default DefaultMasterTimeout; d <= 0: no bound
// but the context's). The last master a call tries gets LastMasterTimeout
// instead, when that is longer. The bounds are applied to copies of the
// transport when it is an *http.Transport (the default); another
// RoundTripper keeps its own timeouts.
func WithMasterTimeout(d time.Duration) Option {
	return func(c *Client) { c.masterTimeout = d }
}

// WithLookupTTL sets how long volume locations stay cached. A ttl <= 0
// disables the cache: every read asks a master (concurrent lookups of one
// volume still share one request).
func WithLookupTTL(ttl time.Duration) Option {
	return func(c *Client) { c.lookupTTL = ttl }
}

// WithPublicURLs makes reads and deletes go to the publicUrl of a volume
// location instead of its url (for clients outside the cluster's network).
// A location without a publicUrl is reached at its url.
func WithPublicURLs() Option {
	return func(c *Client) { c.usePublic = true }
}

// WithSecret gives the Client the cluster's -secure.secret, for daemons
// that hold it (the filer): it signs the tokens of its deletes, and of
// uploads whose UploadRequest carries none, itself instead of asking a
// master. An empty secret changes nothing.
func WithSecret(secret string) Option {
	return func(c *Client) { c.signer = security.NewSigner(secret, 0) }
}

// New returns a Client for the masters listed in masters: one or more
// "host:port" addresses separated by commas (an "http://" prefix is
// accepted). It does no I/O.
func New(masters string, opts ...Option) (*Client, error) {
	c := &Client{lookupTTL: DefaultLookupTTL, masterTimeout: DefaultMasterTimeout}
	for _, m := range strings.Split(masters, ",") {
		m = strings.TrimSuffix(strings.TrimSpace(m), "/")
		m = strings.TrimPrefix(m, "http://")
		if m == "" {
			continue
		}
		c.masters = append(c.masters, m)
	}
	if len(c.masters) == 0 {
		return nil, fmt.Errorf("weed: no master address in %q", masters)
	}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	nr := *c.hc
	nr.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.noRedirect = &nr
	c.mc = boundedClient(c.hc, c.masterTimeout)
	c.mcLast = c.mc
	if c.masterTimeout > 0 && c.masterTimeout < LastMasterTimeout {
		c.mcLast = boundedClient(c.hc, LastMasterTimeout)
	}
	return c, nil
}

// boundedClient returns hc with its transport's wait for response headers
// bounded by d: a copy of hc over a clone of its *http.Transport (its own
// pool of connections). It returns hc itself when d <= 0 or the transport
// is not an *http.Transport.
func boundedClient(hc *http.Client, d time.Duration) *http.Client {
	if d <= 0 {
		return hc
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	t, ok := rt.(*http.Transport)
	if !ok {
		return hc
	}
	t = t.Clone()
	if t.ResponseHeaderTimeout <= 0 || t.ResponseHeaderTimeout > d {
		t.ResponseHeaderTimeout = d
	}
	bc := *hc
	bc.Transport = t
	return &bc
}

// Masters returns the master addresses the Client was built with, the one
// that answered last first.
func (c *Client) Masters() []string {
	n := len(c.masters)
	start := int(c.current.Load())
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, c.masters[(start+i)%n])
	}
	return out
}

// HTTPClient returns the *http.Client the Client sends requests through.
func (c *Client) HTTPClient() *http.Client { return c.hc }

// doMaster sends the request built by newReq to the masters in turn,
// starting with the one that answered last, until one answers with a status
// below 500. A network error, a master that does not start answering
// within the master timeout (paused, hung; LastMasterTimeout for the last
// one) or a 5xx moves on to the next master; the
// master that answers is remembered. newReq is called once per attempt; an
// error from it stops the loop (a request body that cannot be sent again).
// The caller owns the returned response's body.
func (c *Client) doMaster(ctx context.Context, newReq func(master string) (*http.Request, error)) (*http.Response, error) {
	n := len(c.masters)
	start := int(c.current.Load())
	var lastErr error
	for i := 0; i < n; i++ {
		idx := (start + i) % n
		req, err := newReq(c.masters[idx])
		if err != nil {
			if lastErr != nil {
				return nil, fmt.Errorf("%w (not retried on %s: %v)", lastErr, c.masters[idx], err)
			}
			return nil, err
		}
		hc := c.mc
		if i == n-1 {
			hc = c.mcLast
		}
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("weed: master %s: %w", c.masters[idx], ctx.Err())
			}
			glog.V(1).Infof("weed client: master %s: %v; trying the next one", c.masters[idx], err)
			lastErr = fmt.Errorf("weed: master %s: %w", c.masters[idx], err)
			continue
		}
		if resp.StatusCode >= 500 {
			e := errorFromResponse(resp)
			drainAndClose(resp.Body)
			glog.V(1).Infof("weed client: %v; trying the next master", e)
			lastErr = e
			continue
		}
		if int(c.current.Load()) != idx {
			c.current.Store(int32(idx))
		}
		return resp, nil
	}
	if n == 1 {
		return nil, lastErr
	}
	return nil, fmt.Errorf("weed: all %d masters failed, the last with: %w", n, lastErr)
}

// volumeURL returns "http://<addr>/<fid>" for a volume server address that
// may or may not carry a scheme.
func volumeURL(addr, fid string) string {
	if strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://") {
		return strings.TrimSuffix(addr, "/") + "/" + fid
	}
	return "http://" + addr + "/" + fid
}

// masterURL returns "http://<master><path>".
func masterURL(master, path string) string {
	return "http://" + master + path
}
