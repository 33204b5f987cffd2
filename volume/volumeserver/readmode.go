package volumeserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"

	"github.com/golang/glog"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/needle"
)

// The read modes of ServerOptions.ReadMode (-readMode, SeaweedFS's names):
// how a read of a volume this server does not hold is answered.
const (
	// ReadModeRedirect answers 301 to a holder (weed-fs 0.70's behaviour
	// and the default).
	ReadModeRedirect = "redirect"
	// ReadModeProxy fetches the file from a holder and streams it, for
	// clients that do not follow redirects.
	ReadModeProxy = "proxy"
	// ReadModeLocal answers 404.
	ReadModeLocal = "local"
)

// proxiedHeader marks a read this server proxies to another, which answers
// it from its own volumes only (no second hop, no loop).
const proxiedHeader = "X-Weed-Proxied-Read"

// readMode returns the read mode opts ask for: ReadMode, else the one
// ReadRedirect implies (nil or true: redirect; false: local).
func readMode(opts ServerOptions) (string, error) {
	switch opts.ReadMode {
	case ReadModeRedirect, ReadModeProxy, ReadModeLocal:
		return opts.ReadMode, nil
	case "":
		if opts.ReadRedirect == nil || *opts.ReadRedirect {
			return ReadModeRedirect, nil
		}
		return ReadModeLocal, nil
	}
	return "", fmt.Errorf("volume: read mode %q is not proxy, redirect or local", opts.ReadMode)
}

// initReadModeAndChunkClient sets up what the read modes and the deletion of
// chunked files need: the read mode, and a client that signs its chunk
// deletes with the cluster's secret.
func (s *Server) initReadModeAndChunkClient() error {
	mode, err := readMode(s.opts)
	if err != nil {
		return err
	}
	s.readMode = mode
	s.readRedirect = mode == ReadModeRedirect
	opts := []client.Option{client.WithHTTPClient(s.fanout.Client()), client.WithLookupTTL(s.opts.LookupTTL)}
	if s.opts.Secret != "" {
		opts = append(opts, client.WithSecret(s.opts.Secret))
	}
	s.chunkClient, err = client.New(strings.Join(s.opts.Masters, ","), opts...)
	if err != nil {
		return fmt.Errorf("volume: %w", err)
	}
	return nil
}

// readElsewhere answers a read of a volume this server does not hold, by
// the read mode: a redirect (redirectRead), a proxied reply (proxyRead) or
// 404.
func (s *Server) readElsewhere(w http.ResponseWriter, r *http.Request, fid needle.FileID) {
	if s.readMode == ReadModeProxy && r.Header.Get(proxiedHeader) == "" {
		s.proxyRead(w, r, fid)
		return
	}
	s.redirectRead(w, r, fid)
}

// holdersOf returns the volume servers other than this one that hold
// fid's volume, asking the master again once when the cached answer names
// none.
func (s *Server) holdersOf(ctx context.Context, fid needle.FileID) []client.Location {
	var holders []client.Location
	for attempt := 0; attempt < 2 && len(holders) == 0; attempt++ {
		if attempt > 0 {
			s.client.Invalidate(fid.Volume)
		}
		locs, err := s.client.Lookup(ctx, fid.Volume)
		if err != nil {
			if !errors.Is(err, client.ErrNotFound) {
				glog.V(1).Infof("read %s: lookup of volume %d: %v", fid, fid.Volume, err)
			}
			break
		}
		for _, l := range locs {
			if l.URL != s.self() && l.URL != "" {
				holders = append(holders, l)
			}
		}
	}
	return holders
}

// proxiedRequestHeaders are the request headers a proxied read passes on:
// ranges, preconditions and the encodings the client accepts.
var proxiedRequestHeaders = [...]string{"Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "Accept-Encoding"}

// hopHeaders are the reply headers a proxy does not pass on.
var hopHeaders = map[string]bool{"Connection": true, "Keep-Alive": true, "Transfer-Encoding": true, "Trailer": true, "Upgrade": true, "Proxy-Authenticate": true}

// proxyRead answers a read of a volume held elsewhere with the reply of a
// holder (tried in random order, moving on after a network error or a
// 5xx): its status, headers and body, the request's range, conditional and
// Accept-Encoding headers passed on. 404 when no holder is known, 502 when
// none answers.
func (s *Server) proxyRead(w http.ResponseWriter, r *http.Request, fid needle.FileID) {
	holders := s.holdersOf(r.Context(), fid)
	if len(holders) == 0 {
		httpx.WriteEmptyNotFound(w)
		return
	}
	var lastErr error
	for _, i := range rand.Perm(len(holders)) {
		target := "http://" + holders[i].URL + r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, target, nil)
		if err != nil {
			lastErr = err
			break
		}
		for _, k := range proxiedRequestHeaders {
			if v, ok := r.Header[k]; ok {
				req.Header[k] = v
			}
		}
		if req.Header.Get("Accept-Encoding") == "" {
			// Keep the transport from asking gzip and inflating it.
			req.Header.Set("Accept-Encoding", "identity")
		}
		req.Header.Set(proxiedHeader, "1")
		resp, err := s.fanout.Client().Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		if resp.StatusCode >= 500 {
			lastErr = fmt.Errorf("%s: %s", target, resp.Status)
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			continue
		}
		h := w.Header()
		for k, v := range resp.Header {
			if !hopHeaders[k] {
				h[k] = v
			}
		}
		w.WriteHeader(resp.StatusCode)
		if _, err := io.Copy(w, resp.Body); err != nil {
			glog.V(1).Infof("read %s: proxied from %s: %v", fid, holders[i].URL, err)
		}
		resp.Body.Close()
		return
	}
	if r.Context().Err() != nil {
		return
	}
	glog.Warningf("read %s: proxy: no holder answered: %v", fid, lastErr)
	httpx.WriteError(w, r, http.StatusBadGateway, fmt.Sprintf("read %s: no holder of volume %d answered: %v", fid, fid.Volume, lastErr))
}
