package replication

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
)

// copyTimeout bounds the download of a whole volume.
const copyTimeout = 2 * time.Hour

// downloadDat writes the .dat stream of peer to path, fsynced, and checks
// that it is whole and starts with a superblock of the expected layout.
func downloadDat(ctx context.Context, peer Peer, vid needle.VolumeID, path string, rp needle.Placement) (int64, error) {
	body, size, err := peer.Dat(ctx)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := io.Copy(f, body)
	if err != nil {
		return n, fmt.Errorf("copy the .dat of volume %d from %s: %w", vid, peer.Name(), err)
	}
	if n != size {
		return n, fmt.Errorf("copy the .dat of volume %d from %s: %d of %d bytes", vid, peer.Name(), n, size)
	}
	got, err := volume.DatPlacement(f, n)
	if err != nil {
		return n, fmt.Errorf("copy of volume %d: %w", vid, err)
	}
	if rp != (needle.Placement{}) && got != rp {
		return n, fmt.Errorf("copy of volume %d: replication %s, expected %s", vid, got, rp)
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	return n, nil
}

// CopyVolume copies volume vid (collection, placement rp) from the volume
// server at source into the store, the master's re-replication
// (wire.CopyVolumePath): the copy is registered as a syncing fresh copy
// before it is in the store, and synced with its peers by the sync loop
// before it serves. It returns the bytes copied. A source without the
// volume is ErrPeerNotFound (wrapped); the store's errors
// (volume.ErrVolumeExists, volume.ErrNoFreeSlot, ...) are returned as
// they are. The copy runs in the caller's goroutine, bounded by
// copyTimeout and not by ctx's cancellation.
func (c *Coordinator) CopyVolume(ctx context.Context, vid needle.VolumeID, collection string, rp needle.Placement, source string) (int64, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), copyTimeout)
	defer cancel()
	peer := c.peers.Peer(source, vid)
	var copied int64
	// Syncing before it is in the store: it must never serve before it
	// has synced.
	c.sync.setSyncing(vid, "copied from "+source, true, false)
	_, err := c.store.ImportVolume(vid, collection, func(path string) error {
		n, err := downloadDat(ctx, peer, vid, path, rp)
		copied = n
		return err
	})
	if err != nil {
		c.sync.forget(vid)
		return copied, err
	}
	glog.Infof("volume %d: copied %d bytes from %s in %v; syncing before it serves", vid, copied, source, time.Since(start).Round(time.Millisecond))
	c.beat()
	return copied, nil
}
