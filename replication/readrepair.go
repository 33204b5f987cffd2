package replication

import (
	"context"
	"errors"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
)

// ReadRepair fetches a good copy of a needle whose local record is damaged
// (readErr is needle.ErrCRC or needle.ErrCorrupt) from a healthy replica,
// appends it here (same bytes, same append time) and reads it again into
// buf. It returns readErr when the volume is not replicated, the error is
// of another kind, or no replica has a good copy.
func (c *Coordinator) ReadRepair(ctx context.Context, vol *volume.Volume, fid needle.FileID, buf []byte, readErr error) (needle.Needle, []byte, error) {
	if !needsSync(vol) || !(errors.Is(readErr, needle.ErrCRC) || errors.Is(readErr, needle.ErrCorrupt)) {
		return needle.Needle{}, buf, readErr
	}
	peers, err := c.OtherReplicas(ctx, vol.ID())
	if err != nil {
		return needle.Needle{}, buf, errors.Join(readErr, err)
	}
	for _, p := range peers {
		if !p.Healthy() {
			continue
		}
		rec, err := c.peers.Peer(p.URL, vol.ID()).LiveRecord(ctx, fid.Key)
		if err != nil {
			glog.V(1).Infof("read repair of %s: %v", fid, err)
			continue
		}
		res, err := vol.ApplyRecords([][]byte{rec}, volume.ApplyOptions{Repair: true})
		if err != nil {
			glog.Warningf("read repair of %s from %s: %v", fid, p.URL, err)
			continue
		}
		n, out, err := vol.Read(fid.Key, fid.Cookie, buf)
		if err == nil {
			glog.Warningf("read repair: %s was damaged here (%v); replaced with the copy of %s (%d record applied)", fid, readErr, p.URL, res.Applied)
			return n, out, nil
		}
		buf = out
	}
	return needle.Needle{}, buf, readErr
}
