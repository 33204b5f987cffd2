package replication

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/internal/security"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/wire"
)

// ErrPeerNotFound means a peer answered 404: it does not hold the volume,
// or (read repair) has no good live copy of the needle.
var ErrPeerNotFound = errors.New("not found on the peer")

// syncCallTimeout bounds one sync call to a peer (a copy batch of up to
// MaxBatchBytes included).
const syncCallTimeout = 2 * time.Minute

// maxSyncReply bounds a JSON reply of a peer (a since listing of a busy
// volume can be long).
const maxSyncReply = 512 << 20

// NewRemotePeer returns the replica of vid on the volume server at addr
// ("host:port"), reached with hc. signer signs the admin token of the
// calls that change the peer (nil: no secret, or weed backup, which only
// reads).
func NewRemotePeer(hc *http.Client, addr string, vid needle.VolumeID, signer *security.Signer) Peer {
	return remotePeer{hc: hc, addr: addr, vid: vid, signer: signer}
}

// remotePeer is another replica of a volume reached over HTTP at addr
// ("host:port").
type remotePeer struct {
	hc   *http.Client
	addr string
	vid  needle.VolumeID
	// signer signs the admin token of the calls that change the peer
	// (nil: no secret, or weed backup, which only reads).
	signer *security.Signer
}

func (p remotePeer) Name() string { return p.addr }

// url builds a request URL for path with ?volume= and the extra query.
func (p remotePeer) url(path string, q url.Values) string {
	if q == nil {
		q = url.Values{}
	}
	q.Set("volume", p.vid.String())
	return "http://" + p.addr + path + "?" + q.Encode()
}

// do sends one request and returns the reply body of a 200; other
// statuses are errors (404 wraps ErrPeerNotFound).
func (p remotePeer) do(ctx context.Context, method, path string, q url.Values, contentType string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, syncCallTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.url(path, q), rd)
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", p.addr, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if wire.ChangesState(method, path) {
		p.signer.AuthorizeAdmin(req)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", p.addr, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSyncReply))
	if err != nil {
		return nil, fmt.Errorf("%s%s: read reply: %w", p.addr, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := httpx.ErrorMessage(data)
		err := fmt.Errorf("%s%s: %d %s", p.addr, path, resp.StatusCode, msg)
		if resp.StatusCode == http.StatusNotFound {
			err = fmt.Errorf("%w: %w", ErrPeerNotFound, err)
		}
		return nil, err
	}
	return data, nil
}

func (p remotePeer) getJSON(ctx context.Context, path string, q url.Values, out any) error {
	data, err := p.do(ctx, http.MethodGet, path, q, "", nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s%s: bad reply: %w", p.addr, path, err)
	}
	return nil
}

func (p remotePeer) Status(ctx context.Context) (SyncStatus, error) {
	var st SyncStatus
	err := p.getJSON(ctx, wire.SyncStatusPath, nil, &st)
	return st, err
}

func (p remotePeer) Since(ctx context.Context, ts uint64) ([]volume.RecordInfo, error) {
	var recs []volume.RecordInfo
	err := p.getJSON(ctx, wire.SyncSincePath, url.Values{"ts": {strconv.FormatUint(ts, 10)}}, &recs)
	return recs, err
}

func (p remotePeer) Records(ctx context.Context, offsets []int64) ([][]byte, error) {
	body, err := json.Marshal(wire.RecordsRequest{Offsets: offsets})
	if err != nil {
		return nil, err
	}
	data, err := p.do(ctx, http.MethodPost, wire.SyncRecordsPath, nil, "application/json", body)
	if err != nil {
		return nil, err
	}
	recs, err := volume.SplitRecords(data)
	if err != nil {
		return nil, fmt.Errorf("%s: records: %w", p.addr, err)
	}
	return recs, nil
}

func (p remotePeer) Apply(ctx context.Context, recs [][]byte, opts volume.ApplyOptions) (volume.ApplyResult, error) {
	var res volume.ApplyResult
	q := url.Values{}
	if opts.AllowNew {
		q.Set("allowNew", "true")
	}
	if opts.Repair {
		q.Set("repair", "true")
	}
	data, err := p.do(ctx, http.MethodPost, wire.SyncApplyPath, q, wire.RecordsContentType, volume.JoinRecords(recs))
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return res, fmt.Errorf("%s%s: bad reply: %w", p.addr, wire.SyncApplyPath, err)
	}
	return res, nil
}

func (p remotePeer) Digest(ctx context.Context) (volume.Digest, error) {
	var d volume.Digest
	err := p.getJSON(ctx, wire.SyncDigestPath, nil, &d)
	return d, err
}

func (p remotePeer) KeyStates(ctx context.Context, buckets []int) ([]volume.RecordInfo, error) {
	var recs []volume.RecordInfo
	err := p.getJSON(ctx, wire.SyncKeysPath, url.Values{"buckets": {wire.FormatBuckets(buckets)}}, &recs)
	return recs, err
}

// LiveRecord fetches the peer's good live record of key (read repair).
func (p remotePeer) LiveRecord(ctx context.Context, key needle.Key) ([]byte, error) {
	data, err := p.do(ctx, http.MethodGet, wire.SyncNeedlePath, url.Values{"key": {strconv.FormatUint(uint64(key), 16)}}, "", nil)
	if err != nil {
		return nil, err
	}
	recs, err := volume.SplitRecords(data)
	if err != nil || len(recs) != 1 {
		return nil, fmt.Errorf("%s: needle %x: %w", p.addr, uint64(key), volume.ErrBadRecord)
	}
	return recs[0], nil
}

// Dat opens the peer's .dat stream; the caller closes it. The size is the
// number of bytes the stream carries.
func (p remotePeer) Dat(ctx context.Context) (io.ReadCloser, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url(wire.SyncDatPath, nil), nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%s%s: %w", p.addr, wire.SyncDatPath, err)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%s%s: %w", p.addr, wire.SyncDatPath, err)
	}
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		err := fmt.Errorf("%s%s: %d %s", p.addr, wire.SyncDatPath, resp.StatusCode, strings.TrimSpace(string(data)))
		if resp.StatusCode == http.StatusNotFound {
			err = fmt.Errorf("%w: %w", ErrPeerNotFound, err)
		}
		return nil, 0, err
	}
	size, err := strconv.ParseInt(resp.Header.Get(wire.DatSizeHeader), 10, 64)
	if err != nil || size < 0 {
		resp.Body.Close()
		return nil, 0, fmt.Errorf("%s%s: missing %s", p.addr, wire.SyncDatPath, wire.DatSizeHeader)
	}
	return resp.Body, size, nil
}

// Hello posts wire.SyncHelloPath.
func (p remotePeer) Hello(ctx context.Context) error {
	_, err := p.do(ctx, http.MethodPost, wire.SyncHelloPath, nil, "", nil)
	return err
}
