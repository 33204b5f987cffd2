package replication

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults of FanoutOptions' zero fields.
const (
	DefaultFanoutTimeout     = 2 * time.Minute
	DefaultFanoutDialTimeout = 5 * time.Second
	DefaultFanoutIdlePerHost = 64
)

// maxReplyBody bounds how much of a replica's reply Send reads.
const maxReplyBody = 64 << 10

// FanoutOptions tune a Fanout. The zero value gives the defaults above.
type FanoutOptions struct {
	// Timeout bounds each call to one target (the whole request, reply
	// included), on top of the caller's context.
	Timeout time.Duration
	// DialTimeout bounds connecting to a target.
	DialTimeout time.Duration
	// IdleConnsPerHost is how many keep-alive connections are kept open to
	// each target between calls.
	IdleConnsPerHost int
}

// Fanout sends one operation to several replicas at once over its own pool
// of keep-alive connections. It is safe for concurrent use; create one per
// server and share it.
type Fanout struct {
	hc      *http.Client
	tr      *http.Transport
	timeout time.Duration
}

// NewFanout returns a Fanout with its own http.Transport. It does no I/O.
func NewFanout(opts FanoutOptions) *Fanout {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultFanoutTimeout
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultFanoutDialTimeout
	}
	if opts.IdleConnsPerHost <= 0 {
		opts.IdleConnsPerHost = DefaultFanoutIdlePerHost
	}
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          opts.IdleConnsPerHost * 16,
		MaxIdleConnsPerHost:   opts.IdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Replica traffic is needle records, already compact; never let the
		// transport negotiate gzip on our behalf.
		DisableCompression: true,
	}
	return &Fanout{
		tr: tr,
		hc: &http.Client{
			Transport: tr,
			// A replica never redirects a replicated write or delete; a
			// redirect means the target does not hold the volume.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		timeout: opts.Timeout,
	}
}

// Client returns the *http.Client the Fanout sends through, for callers that
// build their own requests inside Do.
func (f *Fanout) Client() *http.Client { return f.hc }

// Close drops the idle keep-alive connections. The Fanout stays usable.
func (f *Fanout) Close() { f.tr.CloseIdleConnections() }

// TargetError is the failure of one target of a fan-out.
type TargetError struct {
	Target string
	Err    error
}

func (e *TargetError) Error() string { return e.Target + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *TargetError) Unwrap() error { return e.Err }

// Each calls fn for every target concurrently (inline when there is only
// one) and waits for all of them. fn gets a context bounded by the Fanout's
// Timeout. The result has one entry per target, in the order of targets:
// nil for a success, otherwise a *TargetError.
func (f *Fanout) Each(ctx context.Context, targets []string, fn func(ctx context.Context, target string) error) []error {
	errs := make([]error, len(targets))
	call := func(i int) {
		cctx, cancel := context.WithTimeout(ctx, f.timeout)
		defer cancel()
		if err := fn(cctx, targets[i]); err != nil {
			errs[i] = &TargetError{Target: targets[i], Err: err}
		}
	}
	if len(targets) == 1 {
		call(0)
		return errs
	}
	var wg sync.WaitGroup
	for i := range targets {
		wg.Go(func() { call(i) })
	}
	wg.Wait()
	return errs
}

// Do is Each that reports only whether every target succeeded: nil, or the
// errors.Join of the *TargetError of every target that failed.
func (f *Fanout) Do(ctx context.Context, targets []string, fn func(ctx context.Context, target string) error) error {
	return errors.Join(f.Each(ctx, targets, fn)...)
}

// StatusError is a non-2xx answer of a target: its status and the message of
// its JSON {"error":"..."} reply (or its body text).
type StatusError struct {
	Method, URL string
	StatusCode  int
	Message     string
}

func (e *StatusError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.StatusCode, msg)
}

// Send makes one request with body (nil for none) and returns the reply body
// (at most 64 KiB of it) when the status is 2xx. Another status is a
// *StatusError; transport failures are wrapped. The body is sent from memory,
// so the transport can resend it on a keep-alive connection that the target
// closed meanwhile.
func (f *Fanout) Send(ctx context.Context, method, url, contentType string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBody))
	// Drain a longer reply so the connection goes back to the pool.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxReplyBody))
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(reply))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(reply, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return nil, &StatusError{Method: method, URL: url, StatusCode: resp.StatusCode, Message: msg}
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: read reply: %w", method, url, err)
	}
	return reply, nil
}
