package master

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/internal/rlimit"
	"github.com/weedfs/weed/internal/version"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/topology"
)

// MaxGrowCount is the largest count one /vol/grow may ask for.
const MaxGrowCount = 1000

// GrowResult is the body of a successful /vol/grow: how many volumes were
// created.
type GrowResult struct {
	Count int `json:"count"`
}

// VolStatusResult is the body of /vol/status.
type VolStatusResult struct {
	Version string             `json:"Version"`
	Volumes topology.VolStatus `json:"Volumes"`
}

// CollectionDeleteResult is the body of a successful /col/delete.
type CollectionDeleteResult struct {
	Collection string            `json:"collection"`
	Volumes    []needle.VolumeID `json:"volumes"`
}

// handleVolGrow answers /vol/grow?count=&replication=&collection=&ttl=&dataCenter=.
// Without count it grows the default number for the replication.
func (s *Server) handleVolGrow(w http.ResponseWriter, r *http.Request) {
	req, count, ok := s.growParams(w, r, 0, MaxGrowCount)
	if !ok {
		return
	}
	req.Count = int(count)
	n, err := s.growth.Grow(r.Context(), req)
	if err != nil {
		writeGrowthError(w, r, "grow", err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, GrowResult{Count: n})
}

// handleVolVacuum answers /vol/vacuum?garbageThreshold=: it vacuums now and
// replies with /dir/status, or 507 with a JSON error naming the volumes and
// servers when a volume's vacuum failed for lack of disk space.
func (s *Server) handleVolVacuum(w http.ResponseWriter, r *http.Request) {
	q, err := formValues(w, r)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	threshold, err := floatParam(q, "garbageThreshold", s.opts.GarbageThreshold, 0, 1)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	_, failed, err := s.vacuum.Run(r.Context(), threshold)
	if err != nil {
		httpx.WriteError(w, r, http.StatusServiceUnavailable, err.Error())
		return
	}
	var noSpace []string
	for _, f := range failed {
		if f.noSpace() {
			noSpace = append(noSpace, fmt.Sprintf("volume %d: %v", f.vid, f.err))
		}
	}
	if len(noSpace) > 0 {
		httpx.WriteError(w, r, http.StatusInsufficientStorage, "vacuum failed for lack of disk space: "+strings.Join(noSpace, "; "))
		return
	}
	s.handleDirStatus(w, r)
}

// handleVolStatus answers /vol/status.
func (s *Server) handleVolStatus(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, r, http.StatusOK, VolStatusResult{Version: version.Version, Volumes: s.topo.VolStatus()})
}

// handleColDelete answers /col/delete?collection=: every volume server
// holding the collection drops it, then the topology forgets it. If a
// server fails, the topology is left as it is (heartbeats will tell what
// remains) and the failure is reported.
func (s *Server) handleColDelete(w http.ResponseWriter, r *http.Request) {
	q, err := formValues(w, r)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	c := q.Get("collection")
	if c == "" {
		httpx.WriteError(w, r, http.StatusBadRequest, "collection is required")
		return
	}
	if err := checkCollection(c); err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	nodes := s.topo.CollectionNodes(c)
	// A volume server reports the deletion by a heartbeat at once, which may
	// reach the topology before DeleteCollection below: the reply names the
	// volumes known now too.
	known := s.collectionVolumeIDs(c)
	if len(nodes) == 0 {
		httpx.WriteError(w, r, http.StatusNotFound, fmt.Sprintf("collection %q does not exist", c))
		return
	}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = s.admin.DeleteCollection(r.Context(), n.URL, c) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		glog.Warningf("delete collection %q: %v", c, err)
		status := http.StatusBadGateway
		if rlimit.IsTooManyOpenFiles(err) {
			status = http.StatusServiceUnavailable
		}
		httpx.WriteError(w, r, status, fmt.Sprintf("delete collection %q: %v", c, err))
		return
	}
	vids := s.topo.DeleteCollection(c)
	for _, id := range known {
		if !slices.Contains(vids, id) {
			vids = append(vids, id)
		}
	}
	slices.Sort(vids)
	glog.Infof("collection %q deleted on %d volume servers: volumes %v", c, len(nodes), vids)
	httpx.WriteJSON(w, r, http.StatusOK, CollectionDeleteResult{Collection: c, Volumes: vids})
}

// collectionVolumeIDs returns the ids of the routed volumes of collection c.
func (s *Server) collectionVolumeIDs(c string) []needle.VolumeID {
	var ids []needle.VolumeID
	for _, v := range s.topo.Volumes() {
		if v.Collection == c {
			ids = append(ids, v.ID)
		}
	}
	return ids
}
