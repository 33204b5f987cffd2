package volumeserver

import (
	"fmt"
	"math/rand/v2"
	"net/http"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/wire"
)

// refuseSyncing answers a request this replica must not serve: a read of
// a volume that is syncing and marked stale (or a fresh copy), or a client
// write or delete of a volume that is syncing; or any of them while the
// server is cut off from the masters. Reads and deletes are redirected to
// a healthy replica, writes refused. It reports whether it answered.
func (s *Server) refuseSyncing(w http.ResponseWriter, r *http.Request, vol *volume.Volume) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if !s.repl.RefusesReads(r.Context(), vol) {
			return false
		}
	} else if !s.repl.RefusesPrimary(vol) {
		return false
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		httpx.WriteError(w, r, http.StatusServiceUnavailable, fmt.Sprintf("volume %d is syncing on %s; write to a healthy replica", vol.ID(), s.self()))
		return true
	}
	peers, err := s.repl.OtherReplicas(r.Context(), vol.ID())
	var healthy []wire.ReplicaLocation
	for _, p := range peers {
		if p.Healthy() {
			healthy = append(healthy, p)
		}
	}
	if len(healthy) == 0 {
		msg := fmt.Sprintf("volume %d is syncing on %s and no healthy replica is known", vol.ID(), s.self())
		if err != nil {
			msg += ": " + err.Error()
		}
		httpx.WriteError(w, r, http.StatusServiceUnavailable, msg)
		return true
	}
	l := healthy[rand.IntN(len(healthy))]
	addr := l.PublicURL
	if addr == "" {
		addr = l.URL
	}
	glog.V(3).Infof("%s %s: volume %d is syncing here, redirecting to %s", r.Method, r.URL.Path, vol.ID(), addr)
	redirectTo(w, r, addr)
	return true
}
