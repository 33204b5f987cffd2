package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/weedfs/weed/internal/security"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// AssignRequest asks a master for file ids. Zero fields take the master's
// defaults (count 1, its default replication, no collection, no ttl, any
// data center).
type AssignRequest struct {
	// Count is how many consecutive ids to reserve: the reply's Fid, then
	// Fid+"_1" ... Fid+"_<Count-1>".
	Count int
	// Replication is "xyz" (for example "001"), or "" for the default.
	Replication string
	// Collection groups volumes ("" is the default collection).
	Collection string
	// TTL is a needle ttl such as "3m", "1d", or "".
	TTL string
	// DataCenter restricts the pick to one data center.
	DataCenter string
}

// publicOrURL returns the public address, or the internal one when no public
// one is known.
func publicOrURL(a wire.Assignment) string {
	if a.PublicURL != "" {
		return a.PublicURL
	}
	return a.URL
}

// path returns "/dir/assign" with the request's parameters.
func (r AssignRequest) path() string {
	var b strings.Builder
	b.Grow(64 + len(r.Replication) + len(r.Collection) + len(r.TTL) + len(r.DataCenter))
	b.WriteString("/dir/assign")
	sep := byte('?')
	param := func(k, v string) {
		b.WriteByte(sep)
		sep = '&'
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(v))
	}
	if r.Count > 1 {
		param("count", strconv.Itoa(r.Count))
	}
	if r.Replication != "" {
		param("replication", r.Replication)
	}
	if r.Collection != "" {
		param("collection", r.Collection)
	}
	if r.TTL != "" {
		param("ttl", r.TTL)
	}
	if r.DataCenter != "" {
		param("dataCenter", r.DataCenter)
	}
	return b.String()
}

// Assign reserves file ids on a master (GET /dir/assign). A refusal, such as
// 406 "Cannot grow volume group! Not enough data node found!", is an *Error
// with the master's status and message.
func (c *Client) Assign(ctx context.Context, r AssignRequest) (wire.Assignment, error) {
	if r.Count < 0 {
		return wire.Assignment{}, fmt.Errorf("weed: assign count %d is negative", r.Count)
	}
	path := r.path()
	resp, err := c.doMaster(ctx, func(master string) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, masterURL(master, path), nil)
	})
	if err != nil {
		return wire.Assignment{}, fmt.Errorf("weed: assign: %w", err)
	}
	defer drainAndClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return wire.Assignment{}, errorFromResponse(resp)
	}
	var reply struct {
		wire.Assignment
		Error string `json:"error"`
	}
	if err := decodeReply(resp, &reply); err != nil {
		return wire.Assignment{}, err
	}
	if reply.Error != "" {
		return wire.Assignment{}, &Error{StatusCode: resp.StatusCode, Message: reply.Error, Method: resp.Request.Method, URL: resp.Request.URL.String()}
	}
	if reply.URL == "" {
		return wire.Assignment{}, fmt.Errorf("weed: assign: reply without url")
	}
	if _, err := needle.ParseFileID(reply.Fid); err != nil {
		return wire.Assignment{}, fmt.Errorf("weed: assign: reply fid: %w", err)
	}
	if reply.Count == 0 {
		reply.Count = 1
	}
	if v := resp.Header.Get(security.AuthorizationHeader); v != "" {
		reply.JWT = security.BearerToken(v)
		if reply.JWT != "" && !c.secured.Load() {
			c.secured.Store(true)
		}
	}
	return reply.Assignment, nil
}
