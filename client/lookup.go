package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
)

// Location is one volume server holding a volume.
type Location struct {
	// URL is the server's address inside the cluster ("host:port").
	URL string `json:"url"`
	// PublicURL is its address for users outside the cluster.
	PublicURL string `json:"publicUrl"`
}

// lookupTimeout bounds a shared master lookup, which runs detached from the
// contexts of the callers waiting for it.
const lookupTimeout = 30 * time.Second

type cacheEntry struct {
	locations []Location
	expires   time.Time
}

// Lookup returns the servers holding volume vid. Answers are cached for the
// Client's lookup TTL, and concurrent lookups of a volume missing from the
// cache share a single master request. The returned slice is shared with the
// cache: callers must not modify it. An unknown volume is an error matching
// ErrNotFound.
func (c *Client) Lookup(ctx context.Context, vid needle.VolumeID) ([]Location, error) {
	if locs, ok := c.cached(vid); ok {
		return locs, nil
	}
	ch := c.flights.DoChan(vid.String(), func() (any, error) {
		// A flight that started after another one filled the cache must
		// not ask again.
		if locs, ok := c.cached(vid); ok {
			return locs, nil
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
		defer cancel()
		locs, err := c.lookupMaster(fctx, vid)
		if err != nil {
			return nil, err
		}
		if c.lookupTTL > 0 {
			c.cache.Store(vid, &cacheEntry{locations: locs, expires: time.Now().Add(c.lookupTTL)})
		}
		return locs, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.([]Location), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("weed: lookup of volume %d: %w", vid, ctx.Err())
	}
}

// Invalidate drops the cached locations of volume vid, so that the next
// Lookup asks a master. Reads call it when a location fails.
func (c *Client) Invalidate(vid needle.VolumeID) {
	if _, loaded := c.cache.LoadAndDelete(vid); loaded {
		glog.V(2).Infof("weed client: dropped cached locations of volume %d", vid)
	}
}

func (c *Client) cached(vid needle.VolumeID) ([]Location, bool) {
	v, ok := c.cache.Load(vid)
	if !ok {
		return nil, false
	}
	e := v.(*cacheEntry)
	if time.Now().After(e.expires) {
		c.cache.CompareAndDelete(vid, v)
		return nil, false
	}
	return e.locations, true
}

// lookupMaster asks a master where volume vid lives (GET /dir/lookup).
func (c *Client) lookupMaster(ctx context.Context, vid needle.VolumeID) ([]Location, error) {
	path := "/dir/lookup?volumeId=" + url.QueryEscape(vid.String())
	resp, err := c.doMaster(ctx, func(master string) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, masterURL(master, path), nil)
	})
	if err != nil {
		return nil, fmt.Errorf("weed: lookup of volume %d: %w", vid, err)
	}
	defer drainAndClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, errorFromResponse(resp)
	}
	var reply struct {
		VolumeID  string     `json:"volumeId"`
		Locations []Location `json:"locations"`
		Error     string     `json:"error"`
	}
	if err := decodeReply(resp, &reply); err != nil {
		return nil, err
	}
	if reply.Error != "" || len(reply.Locations) == 0 {
		msg := reply.Error
		if msg == "" {
			msg = "volumeId has no locations."
		}
		return nil, &Error{StatusCode: http.StatusNotFound, Message: msg, Method: resp.Request.Method, URL: resp.Request.URL.String()}
	}
	glog.V(3).Infof("weed client: volume %d is on %v", vid, reply.Locations)
	return reply.Locations, nil
}
