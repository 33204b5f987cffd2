package volumeserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
)

// copyTimeout bounds the download of a whole volume.
const copyTimeout = 2 * time.Hour

// downloadDat writes the .dat stream of peer to path, fsynced, and checks
// that it is whole and starts with a superblock of the expected layout.
func downloadDat(ctx context.Context, peer syncPeer, path string, rp needle.Placement) (int64, error) {
	body, size, err := peer.dat(ctx)
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
		return n, fmt.Errorf("copy the .dat of volume %d from %s: %w", peer.vid, peer.addr, err)
	}
	if n != size {
		return n, fmt.Errorf("copy the .dat of volume %d from %s: %d of %d bytes", peer.vid, peer.addr, n, size)
	}
	got, err := volume.DatPlacement(f, n)
	if err != nil {
		return n, fmt.Errorf("copy of volume %d: %w", peer.vid, err)
	}
	if rp != (needle.Placement{}) && got != rp {
		return n, fmt.Errorf("copy of volume %d: replication %s, expected %s", peer.vid, got, rp)
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	return n, nil
}

// handleCopyVolume answers POST /admin/copy_volume?volume=&collection=
// &replication=&source=: the master's re-replication. The volume is
// copied from source, registered as a syncing fresh copy, and synced with
// its peers by the sync loop before it serves.
func (s *Server) handleCopyVolume(w http.ResponseWriter, r *http.Request) {
	vid, collection, rp, err := volumeLayoutParams(r)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	source := r.URL.Query().Get("source")
	if source == "" {
		httpx.WriteError(w, r, http.StatusBadRequest, "source is required")
		return
	}
	if s.store.Volume(vid) != nil {
		s.writeAdminError(w, r, fmt.Errorf("copy volume %d: %w", vid, volume.ErrVolumeExists))
		return
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), copyTimeout)
	defer cancel()
	peer := syncPeer{hc: s.fanout.Client(), addr: source, vid: vid, signer: s.signer}
	var copied int64
	// Syncing before it is in the store: it must never serve before it
	// has synced.
	s.sync.setSyncing(vid, "copied from "+source, true, false)
	_, err = s.store.ImportVolume(vid, collection, func(path string) error {
		n, err := downloadDat(ctx, peer, path, rp)
		copied = n
		return err
	})
	if err != nil {
		s.sync.forget(vid)
		if errors.Is(err, errPeerNotFound) {
			httpx.WriteError(w, r, http.StatusNotFound, err.Error())
			return
		}
		s.writeAdminError(w, r, err)
		return
	}
	glog.Infof("volume %d: copied %d bytes from %s in %v; syncing before it serves", vid, copied, source, time.Since(start).Round(time.Millisecond))
	s.hb.beatSoon()
	httpx.WriteJSON(w, r, http.StatusOK, struct {
		Bytes int64 `json:"bytes"`
	}{copied})
}
