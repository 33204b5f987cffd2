package master

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/internal/security"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// Time limits of the calls to volume servers. Compaction copies a whole
// volume (up to 32 GiB) and commit catches up on what was written
// meanwhile, so they get far more than the quick calls.
const (
	adminCallTimeout    = 30 * time.Second
	adminCompactTimeout = 2 * time.Hour
	adminCommitTimeout  = 30 * time.Minute
	adminDialTimeout    = 5 * time.Second
	// maxAdminReply bounds how much of a volume server's reply is read.
	maxAdminReply = 64 << 10
)

// VolumeServerError is a volume server's error answer to an admin call.
type VolumeServerError struct {
	Node       string // "host:port"
	Path       string
	StatusCode int
	Message    string
}

// Error formats the node, the path, the status and the server's message.
func (e *VolumeServerError) Error() string {
	return fmt.Sprintf("volume server %s%s: %d %s", e.Node, e.Path, e.StatusCode, e.Message)
}

// newVolumeTransport returns the keep-alive transport the master uses for
// every call to a volume server (admin calls and /submit uploads).
func newVolumeTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: adminDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// volumeAdmin calls the volume servers' /admin endpoints over one shared
// keep-alive client. Every call carries its own deadline. Safe for
// concurrent use.
type volumeAdmin struct {
	hc *http.Client
	// signer signs every call's admin token (nil: no secret).
	signer *security.Signer
}

func newVolumeAdmin(rt http.RoundTripper, signer *security.Signer) *volumeAdmin {
	return &volumeAdmin{signer: signer, hc: &http.Client{
		Transport: rt,
		// Admin endpoints never redirect; a redirect is a misdirected call.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// AssignVolume asks node to create volume vid of the given layout.
func (a *volumeAdmin) AssignVolume(ctx context.Context, node string, vid needle.VolumeID, collection string, p needle.Placement, ttl needle.TTL) error {
	q := url.Values{
		"volume":      {vid.String()},
		"collection":  {collection},
		"replication": {p.String()},
		"ttl":         {ttl.String()},
	}
	return a.call(ctx, http.MethodPost, node, wire.AssignVolumePath, q, adminCallTimeout, nil)
}

// DeleteVolume asks node to drop volume vid.
func (a *volumeAdmin) DeleteVolume(ctx context.Context, node string, vid needle.VolumeID) error {
	q := url.Values{"volume": {vid.String()}}
	return a.call(ctx, http.MethodPost, node, wire.DeleteVolumePath, q, adminCallTimeout, nil)
}

// VacuumCheck returns the garbage ratio of volume vid on node.
func (a *volumeAdmin) VacuumCheck(ctx context.Context, node string, vid needle.VolumeID, threshold float64) (float64, error) {
	q := url.Values{
		"volume":           {vid.String()},
		"garbageThreshold": {strconv.FormatFloat(threshold, 'f', -1, 64)},
	}
	var reply wire.VacuumCheckReply
	if err := a.call(ctx, http.MethodGet, node, wire.VacuumCheckPath, q, adminCallTimeout, &reply); err != nil {
		return 0, err
	}
	if reply.GarbageRatio < 0 || reply.GarbageRatio > 1 || reply.GarbageRatio != reply.GarbageRatio {
		return 0, fmt.Errorf("volume server %s: volume %d: garbage ratio %v out of range", node, vid, reply.GarbageRatio)
	}
	return reply.GarbageRatio, nil
}

// VacuumCompact asks node to compact volume vid.
func (a *volumeAdmin) VacuumCompact(ctx context.Context, node string, vid needle.VolumeID) error {
	q := url.Values{"volume": {vid.String()}}
	return a.call(ctx, http.MethodPost, node, wire.VacuumCompactPath, q, adminCompactTimeout, nil)
}

// VacuumCommit asks node to switch volume vid to its compacted copy.
func (a *volumeAdmin) VacuumCommit(ctx context.Context, node string, vid needle.VolumeID) error {
	q := url.Values{"volume": {vid.String()}}
	return a.call(ctx, http.MethodPost, node, wire.VacuumCommitPath, q, adminCommitTimeout, nil)
}

// VacuumCleanup asks node to discard an uncommitted compaction of vid.
func (a *volumeAdmin) VacuumCleanup(ctx context.Context, node string, vid needle.VolumeID) error {
	q := url.Values{"volume": {vid.String()}}
	return a.call(ctx, http.MethodPost, node, wire.VacuumCleanupPath, q, adminCallTimeout, nil)
}

// DeleteCollection asks node to drop every volume of collection.
func (a *volumeAdmin) DeleteCollection(ctx context.Context, node, collection string) error {
	q := url.Values{"collection": {collection}}
	return a.call(ctx, http.MethodPost, node, wire.DeleteCollectionPath, q, adminCallTimeout, nil)
}

// call sends one admin request to node and decodes a 2xx JSON reply into
// out (when out is not nil). A non-2xx answer is a *VolumeServerError;
// transport errors are wrapped.
func (a *volumeAdmin) call(ctx context.Context, method, node, path string, q url.Values, timeout time.Duration, out any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target := "http://" + node + path + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return fmt.Errorf("volume server %s%s: %w", node, path, err)
	}
	a.signer.AuthorizeAdmin(req)
	glog.V(3).Infof("master → %s %s", method, target)
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("volume server %s%s: %w", node, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminReply))
	if err != nil {
		return fmt.Errorf("volume server %s%s: read reply: %w", node, path, err)
	}
	if resp.StatusCode/100 != 2 {
		msg := httpx.ErrorMessage(body)
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return &VolumeServerError{Node: node, Path: path, StatusCode: resp.StatusCode, Message: msg}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("volume server %s%s: bad reply %q: %w", node, path, truncate(body, 200), err)
	}
	return nil
}

// truncate returns at most n bytes of b, for error messages.
func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// CopyVolume asks node to copy volume vid from source (re-replication).
// It returns when the copy is on node; node then syncs it before serving.
func (a *volumeAdmin) CopyVolume(ctx context.Context, node string, vid needle.VolumeID, collection string, p needle.Placement, ttl needle.TTL, source string) error {
	q := url.Values{
		"volume":      {vid.String()},
		"collection":  {collection},
		"replication": {p.String()},
		"ttl":         {ttl.String()},
		"source":      {source},
	}
	return a.call(ctx, http.MethodPost, node, wire.CopyVolumePath, q, adminCopyTimeout, nil)
}
