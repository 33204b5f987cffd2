package volumeserver

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/internal/version"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/replication"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/wire"
)

// StatusReply is the answer to GET /status.
type StatusReply struct {
	Version string
	Volumes []wire.VolumeInfo
}

// handleStatus answers GET /status: the version and every volume.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	vols := s.store.Status()
	if vols == nil {
		vols = []wire.VolumeInfo{}
	}
	s.repl.MarkHeartbeat(vols)
	httpx.WriteJSON(w, r, http.StatusOK, StatusReply{Version: version.Version, Volumes: vols})
}

// handleAssignVolume creates an empty volume
// (POST /admin/assign_volume?volume=&collection=&replication=&ttl=) and
// tells the master at once.
func (s *Server) handleAssignVolume(w http.ResponseWriter, r *http.Request) {
	vid, collection, rp, err := volumeLayoutParams(r)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ttl, err := needle.ParseTTL(r.URL.Query().Get("ttl"))
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.store.AddVolume(vid, collection, rp, ttl); err != nil {
		s.writeAdminError(w, r, fmt.Errorf("create volume %d: %w", vid, err))
		return
	}
	glog.Infof("created volume %d (collection %q, replication %s, ttl %q)", vid, collection, rp, ttl)
	s.hb.beatSoon()
	httpx.WriteJSON(w, r, http.StatusOK, struct{}{})
}

// handleDeleteVolume removes a volume and its files
// (POST /admin/delete_volume?volume=).
func (s *Server) handleDeleteVolume(w http.ResponseWriter, r *http.Request) {
	vid, err := volumeParam(r)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.store.DeleteVolume(vid); err != nil {
		s.writeAdminError(w, r, fmt.Errorf("delete volume %d: %w", vid, err))
		return
	}
	s.repl.Forget(vid)
	glog.Infof("deleted volume %d", vid)
	s.hb.beatSoon()
	httpx.WriteJSON(w, r, http.StatusOK, struct{}{})
}

// handleDeleteCollection removes every volume of a collection
// (POST /admin/delete_collection?collection=).
func (s *Server) handleDeleteCollection(w http.ResponseWriter, r *http.Request) {
	collection := r.URL.Query().Get("collection")
	if collection == "" {
		httpx.WriteError(w, r, http.StatusBadRequest, "collection is required")
		return
	}
	if err := volume.CheckCollection(collection); err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.store.DeleteCollection(collection); err != nil {
		s.writeAdminError(w, r, fmt.Errorf("delete collection %q: %w", collection, err))
		return
	}
	glog.Infof("deleted collection %q", collection)
	s.hb.beatSoon()
	httpx.WriteJSON(w, r, http.StatusOK, struct{}{})
}

// handleVacuumCheck reports a volume's garbage ratio
// (GET /admin/vacuum/check?volume=&garbageThreshold=).
func (s *Server) handleVacuumCheck(w http.ResponseWriter, r *http.Request) {
	vol, ok := s.adminVolume(w, r)
	if !ok {
		return
	}
	if _, ok := httpx.FloatParam(r, "garbageThreshold", 0, 0, 1); !ok {
		httpx.WriteError(w, r, http.StatusBadRequest, "garbageThreshold must be a number between 0 and 1")
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, wire.VacuumCheckReply{GarbageRatio: vol.GarbageRatio()})
}

// handleVacuumCompact copies a volume's live needles aside
// (POST /admin/vacuum/compact?volume=).
func (s *Server) handleVacuumCompact(w http.ResponseWriter, r *http.Request) {
	s.vacuumStep(w, r, "compact", (*volume.Volume).Compact)
}

// handleVacuumCommit swaps the compacted copy in
// (POST /admin/vacuum/commit?volume=).
func (s *Server) handleVacuumCommit(w http.ResponseWriter, r *http.Request) {
	s.vacuumStep(w, r, "commit the compaction of", (*volume.Volume).CommitCompact)
}

// handleVacuumCleanup discards an uncommitted compaction
// (POST /admin/vacuum/cleanup?volume=).
func (s *Server) handleVacuumCleanup(w http.ResponseWriter, r *http.Request) {
	s.vacuumStep(w, r, "clean up the compaction of", (*volume.Volume).CleanupCompact)
}

func (s *Server) vacuumStep(w http.ResponseWriter, r *http.Request, what string, step func(*volume.Volume) error) {
	vol, ok := s.adminVolume(w, r)
	if !ok {
		return
	}
	if err := step(vol); err != nil {
		s.writeAdminError(w, r, fmt.Errorf("%s volume %d: %w", what, vol.ID(), err))
		return
	}
	glog.V(1).Infof("vacuum: %s volume %d done", what, vol.ID())
	httpx.WriteJSON(w, r, http.StatusOK, struct{}{})
}

// adminVolume returns the volume named by ?volume=, answering 400 or 404
// itself when there is none.
func (s *Server) adminVolume(w http.ResponseWriter, r *http.Request) (*volume.Volume, bool) {
	vid, err := volumeParam(r)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return nil, false
	}
	vol := s.store.Volume(vid)
	if vol == nil {
		httpx.WriteError(w, r, http.StatusNotFound, fmt.Sprintf("volume %d not found on %s", vid, s.self()))
		return nil, false
	}
	return vol, true
}

// volumeParam parses the required ?volume= parameter.
func volumeParam(r *http.Request) (needle.VolumeID, error) {
	s := r.URL.Query().Get("volume")
	if s == "" {
		return 0, errors.New("volume is required")
	}
	vid, err := needle.ParseVolumeID(s)
	if err != nil {
		return 0, fmt.Errorf("volume %q: %w", s, err)
	}
	if vid == 0 {
		return 0, errors.New("volume ids start at 1")
	}
	return vid, nil
}

// volumeLayoutParams parses the ?volume= (required), ?collection= and
// ?replication= parameters of a volume to create or copy.
func volumeLayoutParams(r *http.Request) (needle.VolumeID, string, needle.Placement, error) {
	vid, err := volumeParam(r)
	if err != nil {
		return 0, "", needle.Placement{}, err
	}
	q := r.URL.Query()
	collection := q.Get("collection")
	if err := volume.CheckCollection(collection); err != nil {
		return 0, "", needle.Placement{}, err
	}
	rp, err := needle.ParsePlacement(q.Get("replication"))
	if err != nil {
		return 0, "", needle.Placement{}, err
	}
	return vid, collection, rp, nil
}

// writeAdminError answers a failed admin call: 404 no such volume, 409 the
// volume exists or a compaction is (not) running, 507 no free slot, 503 out
// of file descriptors, 500 otherwise.
func (s *Server) writeAdminError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, volume.ErrBadCollection):
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
	case errors.Is(err, volume.ErrVolumeExists), errors.Is(err, volume.ErrCompacting):
		glog.V(1).Infof("%s %s: %v", r.Method, r.URL.Path, err)
		httpx.WriteError(w, r, http.StatusConflict, err.Error())
	case errors.Is(err, volume.ErrNoFreeSlot):
		glog.Warningf("%s %s: %v", r.Method, r.URL.Path, err)
		httpx.WriteError(w, r, http.StatusInsufficientStorage, err.Error())
	default:
		s.writeStoreError(w, r, err)
	}
}

// handleCopyVolume answers POST /admin/copy_volume?volume=&collection=
// &replication=&source=: the master's re-replication
// (replication.Coordinator.CopyVolume).
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
	copied, err := s.repl.CopyVolume(r.Context(), vid, collection, rp, source)
	if err != nil {
		if errors.Is(err, replication.ErrPeerNotFound) {
			httpx.WriteError(w, r, http.StatusNotFound, err.Error())
			return
		}
		s.writeAdminError(w, r, err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, struct {
		Bytes int64 `json:"bytes"`
	}{copied})
}
