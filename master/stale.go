package master

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/master/raftnode"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// StaleMarker records which replicas missed an operation, through Raft,
// and accepts the syncs that catch them up. raftnode.Node implements it;
// the Server is given it as Deps.Stale. Leader-only methods return
// raftnode.ErrNotLeader (wrapped) on a follower.
type StaleMarker interface {
	// MarkStale records that the replicas on nodes missed an operation on
	// vid, and with wildcard that every replica not in reached did.
	MarkStale(ctx context.Context, vid needle.VolumeID, nodes []string, wildcard bool, reached []string) error
	// SyncTicket returns a ticket: a sync that starts after it sees every
	// operation whose mark was recorded so far. Leader only.
	SyncTicket() (uint64, error)
	// ReportSynced records a sync of node made, from ticket on, with the
	// replicas in from, and returns whether node is still stale.
	ReportSynced(ctx context.Context, vid needle.VolumeID, node string, ticket uint64, from []string) (bool, error)
	// ForgetReplica drops the marks of a replica that was deleted.
	ForgetReplica(ctx context.Context, vid needle.VolumeID, node string) error
	// IsStale reports whether node is marked stale for vid.
	IsStale(vid needle.VolumeID, node string) bool
	// StaleMarks returns every volume's marks.
	StaleMarks() map[needle.VolumeID]raftnode.StaleVolumeMarks
}

// handleStale answers StalePath: POST records marks, GET reports one
// replica with a sync ticket.
func (s *Server) handleStale(w http.ResponseWriter, r *http.Request) {
	q, ok := s.staleForm(w, r)
	if !ok {
		return
	}
	vid, err := needle.ParseVolumeID(q.Get("volume"))
	if err != nil || vid == 0 {
		httpx.WriteError(w, r, http.StatusBadRequest, "volume is required")
		return
	}
	nodes := splitNodes(q.Get("node"))
	if r.Method == http.MethodGet {
		if len(nodes) != 1 {
			httpx.WriteError(w, r, http.StatusBadRequest, "node is required")
			return
		}
		ticket, err := s.stale.SyncTicket()
		if err != nil {
			writeGrowthError(w, r, "sync ticket", err)
			return
		}
		httpx.WriteJSON(w, r, http.StatusOK, wire.StaleReply{Stale: s.stale.IsStale(vid, nodes[0]), Seq: ticket})
		return
	}
	wildcard, _ := strconv.ParseBool(q.Get("any"))
	if len(nodes) == 0 && !wildcard {
		httpx.WriteError(w, r, http.StatusBadRequest, "node or any=true is required")
		return
	}
	if err := s.stale.MarkStale(r.Context(), vid, nodes, wildcard, splitNodes(q.Get("reached"))); err != nil {
		glog.Warningf("stale mark of volume %d: %v", vid, err)
		writeGrowthError(w, r, "stale mark", err)
		return
	}
	s.topo.RefreshStale(vid)
	httpx.WriteJSON(w, r, http.StatusOK, struct{}{})
}

// handleSynced answers wire.SyncedPath.
func (s *Server) handleSynced(w http.ResponseWriter, r *http.Request) {
	q, ok := s.staleForm(w, r)
	if !ok {
		return
	}
	vid, err := needle.ParseVolumeID(q.Get("volume"))
	node := q.Get("node")
	ticket, terr := strconv.ParseUint(q.Get("seq"), 10, 64)
	if err != nil || vid == 0 || node == "" || terr != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, "volume, node and seq are required")
		return
	}
	stale, err := s.stale.ReportSynced(r.Context(), vid, node, ticket, splitNodes(q.Get("from")))
	if err != nil {
		writeGrowthError(w, r, "synced", err)
		return
	}
	s.topo.RefreshStale(vid)
	httpx.WriteJSON(w, r, http.StatusOK, wire.StaleReply{Stale: stale})
}

// staleForm decodes the form of wire.StalePath and wire.SyncedPath. It answers 501
// when this master keeps no marks, 400 on a bad form, and then reports
// false.
func (s *Server) staleForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if s.stale == nil {
		httpx.WriteError(w, r, http.StatusNotImplemented, "this master keeps no stale marks")
		return nil, false
	}
	q, err := formValues(w, r)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return nil, false
	}
	return q, true
}

// handleStaleList answers wire.StaleListPath.
func (s *Server) handleStaleList(w http.ResponseWriter, r *http.Request) {
	marks := map[needle.VolumeID]raftnode.StaleVolumeMarks{}
	if s.stale != nil {
		marks = s.stale.StaleMarks()
	}
	httpx.WriteJSON(w, r, http.StatusOK, marks)
}

// splitNodes splits a comma list of node addresses.
func splitNodes(s string) []string {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// writeFanoutView answers /dir/lookup?volumeId=N&syncing=true: every
// replica the master knows, syncing and stale ones included and flagged.
// Volume servers use it to fan writes and deletes out.
func (s *Server) writeFanoutView(w http.ResponseWriter, r *http.Request, vid needle.VolumeID) {
	view, err := s.topo.Volume(vid)
	if err != nil || len(view.Replicas) == 0 {
		httpx.WriteJSON(w, r, http.StatusNotFound, LookupResult{VolumeID: vid.String(), Error: errLookupNotFound})
		return
	}
	locs := make([]wire.ReplicaLocation, 0, len(view.Replicas))
	for _, rep := range view.Replicas {
		locs = append(locs, wire.ReplicaLocation{URL: rep.URL, PublicURL: rep.PublicURL, Syncing: rep.Info.Syncing, Stale: rep.Stale})
	}
	httpx.WriteJSON(w, r, http.StatusOK, wire.FanoutView{VolumeID: vid.String(), Locations: locs})
}
