package replication

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/weedfs/weed/internal/security"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// Peer is another replica of a volume: a Side, plus the calls only a
// remote replica answers.
type Peer interface {
	Side
	// Hello announces that this replica rejoins (wire.SyncHelloPath): the
	// peer drops its cached fan-out view of the volume, and answers once
	// every write and delete that used the old view has appended there.
	Hello(ctx context.Context) error
	// LiveRecord returns the peer's good live record of key (read repair);
	// ErrPeerNotFound when it has none.
	LiveRecord(ctx context.Context, key needle.Key) ([]byte, error)
	// Dat opens the peer's .dat stream; the caller closes it. The size is
	// the number of bytes the stream carries.
	Dat(ctx context.Context) (io.ReadCloser, int64, error)
}

// HTTPPeers reaches the other replicas over the volume servers' HTTP API
// (Peers): writes and deletes through a Fanout's keep-alive pool, signed
// with signer when the cluster has a secret (nil: none).
type HTTPPeers struct {
	fanout *Fanout
	signer *security.Signer
}

// NewHTTPPeers returns the HTTP Peers over fanout.
func NewHTTPPeers(fanout *Fanout, signer *security.Signer) *HTTPPeers {
	return &HTTPPeers{fanout: fanout, signer: signer}
}

// SendWrite posts the record to /<fid>?type=replicate.
func (h *HTTPPeers) SendWrite(ctx context.Context, target string, fid needle.FileID, rec []byte) error {
	u := "http://" + target + "/" + fid.String() + "?type=replicate"
	if h.signer != nil {
		u += "&" + security.QueryParam + "=" + h.signer.Sign(fid.String(), 1)
	}
	_, err := h.fanout.Send(ctx, http.MethodPost, u, wire.NeedleContentType, rec)
	return err
}

// SendDelete sends DELETE /<fid>?type=replicate&ts=[&rollback=]. A replica
// that does not have the needle (404) is fine: it is gone there.
func (h *HTTPPeers) SendDelete(ctx context.Context, target string, fid needle.FileID, ts, rolledBack uint64) error {
	u := "http://" + target + "/" + fid.String() + "?type=replicate&ts=" + strconv.FormatUint(ts, 10)
	if rolledBack != 0 {
		u += "&rollback=" + strconv.FormatUint(rolledBack, 10)
	}
	if h.signer != nil {
		u += "&" + security.QueryParam + "=" + h.signer.Sign(fid.String(), 1)
	}
	_, err := h.fanout.Send(ctx, http.MethodDelete, u, "", nil)
	var se *StatusError
	if errors.As(err, &se) && se.StatusCode == http.StatusNotFound {
		return nil
	}
	return err
}

// Peer returns target's replica of vid, reached through the Fanout's pool.
func (h *HTTPPeers) Peer(target string, vid needle.VolumeID) Peer {
	return remotePeer{hc: h.fanout.Client(), addr: target, vid: vid, signer: h.signer}
}
