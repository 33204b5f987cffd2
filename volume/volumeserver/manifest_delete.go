package volumeserver

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"

	"github.com/golang/glog"
	"golang.org/x/sync/errgroup"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
)

// chunkDeleteParallelism bounds the chunk deletes a manifest's delete has
// in flight.
const chunkDeleteParallelism = 8

// deleteChunksOf deletes, before the delete of fid, the chunks fid names
// when it is a chunk manifest, as SeaweedFS does: each through a holder of
// the chunk's volume found with the master's lookup, which deletes it on
// every replica. A chunk already gone counts as deleted. It reports true
// when the delete of fid itself may go on (not a manifest, or every chunk
// deleted); on a failure it answers 500 and reports false, leaving the
// manifest, so that the delete can be retried.
func (s *Server) deleteChunksOf(w http.ResponseWriter, r *http.Request, vol *volume.Volume, fid needle.FileID) bool {
	n, _, err := vol.Read(fid.Key, fid.Cookie, nil)
	if err != nil || !n.IsChunkManifest() {
		return true // the delete answers what is wrong, if anything
	}
	data := n.Data
	if n.IsGzipped() {
		var buf bytes.Buffer
		if err := gunzip(data, &buf, s.maxUpload*maxInflateRatio); err != nil {
			glog.Warningf("delete %s: chunk manifest: %v; deleting the manifest only", fid, err)
			return true
		}
		data = buf.Bytes()
	}
	m, err := client.ParseChunkManifest(data)
	if err != nil {
		glog.Warningf("delete %s: chunk manifest: %v; deleting the manifest only", fid, err)
		return true
	}
	g, ctx := errgroup.WithContext(r.Context())
	g.SetLimit(chunkDeleteParallelism)
	for _, c := range m.Chunks {
		g.Go(func() error {
			_, err := s.chunkClient.Delete(ctx, c.Fid)
			if err != nil && !errors.Is(err, client.ErrNotFound) {
				return fmt.Errorf("chunk %s: %w", c.Fid, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		glog.Warningf("delete %s: %v; the manifest is kept", fid, err)
		httpx.WriteJSON(w, r, http.StatusInternalServerError, DeleteReply{Error: fmt.Sprintf("delete %s: %v; the manifest is kept, retry the delete", fid, err)})
		return false
	}
	glog.V(2).Infof("delete %s: deleted its %d chunks", fid, len(m.Chunks))
	return true
}
