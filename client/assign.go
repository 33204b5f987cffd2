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

// Assignment is a master's answer to an assign: where to upload.
type Assignment struct {
	// Fid is the first reserved file id.
	Fid string `json:"fid"`
	// URL is the address ("host:port") of the volume server to upload to.
	URL string `json:"url"`
	// PublicURL is the address users outside the cluster reach it at.
	PublicURL string `json:"publicUrl"`
	// Count is how many ids were reserved.
	Count int `json:"count"`
	// JWT is the write token of a secured cluster (-secure.secret), from
	// the reply's Authorization header: it allows uploading (and deleting)
	// Fid and the other reserved ids until it expires (a minute by
	// default). Pass it in UploadRequest.JWT. Empty when the master runs
	// without a secret.
	JWT string `json:"-"`
}

// FileID returns the id of the i-th reserved file: Fid for i == 0, else
// Fid+"_<i>".
func (a Assignment) FileID(i int) string {
	if i == 0 {
		return a.Fid
	}
	return a.Fid + "_" + strconv.Itoa(i)
}

// publicOrURL returns the public address, or the internal one when no public
// one is known.
func (a Assignment) publicOrURL() string {
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
func (c *Client) Assign(ctx context.Context, r AssignRequest) (Assignment, error) {
	if r.Count < 0 {
		return Assignment{}, fmt.Errorf("weed: assign count %d is negative", r.Count)
	}
	path := r.path()
	resp, err := c.doMaster(ctx, func(master string) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, masterURL(master, path), nil)
	})
	if err != nil {
		return Assignment{}, fmt.Errorf("weed: assign: %w", err)
	}
	defer drainAndClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return Assignment{}, errorFromResponse(resp)
	}
	var reply struct {
		Assignment
		Error string `json:"error"`
	}
	if err := decodeReply(resp, &reply); err != nil {
		return Assignment{}, err
	}
	if reply.Error != "" {
		return Assignment{}, &Error{StatusCode: resp.StatusCode, Message: reply.Error, Method: resp.Request.Method, URL: resp.Request.URL.String()}
	}
	if reply.URL == "" {
		return Assignment{}, fmt.Errorf("weed: assign: reply without url")
	}
	if _, err := needle.ParseFileID(reply.Fid); err != nil {
		return Assignment{}, fmt.Errorf("weed: assign: reply fid: %w", err)
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
