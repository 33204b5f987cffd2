package volumeserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/replication"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/wire"
)

// maxSyncBody bounds a request body of the sync endpoints.
const maxSyncBody = replication.MaxBatchBytes + 64<<20

// syncRoutes registers the sync endpoints with admin (the white-listed
// admin registration of routes).
func (s *Server) syncRoutes(admin func(string, http.HandlerFunc)) {
	admin("GET "+wire.SyncStatusPath, s.handleSyncStatus)
	admin("GET "+wire.SyncSincePath, s.handleSyncSince)
	admin("POST "+wire.SyncRecordsPath, s.handleSyncRecords)
	admin("POST "+wire.SyncApplyPath, s.handleSyncApply)
	admin("GET "+wire.SyncDigestPath, s.handleSyncDigest)
	admin("GET "+wire.SyncKeysPath, s.handleSyncKeys)
	admin("GET "+wire.SyncNeedlePath, s.handleSyncNeedle)
	admin("GET "+wire.SyncDatPath, s.handleSyncDat)
	admin("POST "+wire.SyncHelloPath, s.handleSyncHello)
	admin("POST "+wire.CopyVolumePath, s.handleCopyVolume)
}

// handleSyncStatus answers GET /admin/sync/status?volume=.
func (s *Server) handleSyncStatus(w http.ResponseWriter, r *http.Request) {
	vol, ok := s.adminVolume(w, r)
	if !ok {
		return
	}
	st, err := replication.VolumeSyncStatus(vol)
	if err != nil {
		s.writeSyncError(w, r, err)
		return
	}
	st.Syncing, st.Fresh = s.repl.State(vol.ID())
	httpx.WriteJSON(w, r, http.StatusOK, st)
}

// handleSyncHello answers POST /admin/sync/hello?volume=: a replica of the
// volume rejoins; the next write or delete here asks the master afresh.
// It answers once every write and delete that read the old view here has
// appended locally (replication.Coordinator.Hello), so the rejoining replica's sync, which
// starts after the hellos, finds them in this replica's records.
func (s *Server) handleSyncHello(w http.ResponseWriter, r *http.Request) {
	vid, err := volumeParam(r)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	s.repl.Hello(vid)
	httpx.WriteJSON(w, r, http.StatusOK, struct{}{})
}

// handleSyncSince answers GET /admin/sync/since?volume=&ts=.
func (s *Server) handleSyncSince(w http.ResponseWriter, r *http.Request) {
	vol, ok := s.adminVolume(w, r)
	if !ok {
		return
	}
	ts, err := strconv.ParseUint(r.URL.Query().Get("ts"), 10, 64)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, "ts must be unix nanoseconds")
		return
	}
	recs, err := vol.RecordsSince(ts)
	if err != nil {
		s.writeSyncError(w, r, err)
		return
	}
	writeRecordInfos(w, r, recs)
}

// handleSyncRecords answers POST /admin/sync/records?volume= with the
// records at the offsets asked for, in that order.
func (s *Server) handleSyncRecords(w http.ResponseWriter, r *http.Request) {
	vol, ok := s.adminVolume(w, r)
	if !ok {
		return
	}
	var req wire.RecordsRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSyncBody)).Decode(&req); err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, "bad records request: "+err.Error())
		return
	}
	if len(req.Offsets) > replication.MaxBatchRecords*4 {
		httpx.WriteError(w, r, http.StatusBadRequest, fmt.Sprintf("at most %d offsets per request", replication.MaxBatchRecords*4))
		return
	}
	recs, err := replication.LocalSide(vol).Records(r.Context(), req.Offsets)
	if err != nil {
		s.writeSyncError(w, r, err)
		return
	}
	writeRecords(w, volume.JoinRecords(recs))
}

// handleSyncApply answers POST /admin/sync/apply?volume=[&allowNew=true][&repair=true]:
// it applies the records in the body under the newest-wins rule.
func (s *Server) handleSyncApply(w http.ResponseWriter, r *http.Request) {
	vol, ok := s.adminVolume(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSyncBody))
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, "read records: "+err.Error())
		return
	}
	recs, err := volume.SplitRecords(body)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	allowNew, _ := strconv.ParseBool(r.URL.Query().Get("allowNew"))
	repair, _ := strconv.ParseBool(r.URL.Query().Get("repair"))
	res, err := vol.ApplyRecords(recs, volume.ApplyOptions{AllowNew: allowNew, Repair: repair})
	if err != nil {
		s.writeSyncError(w, r, err)
		return
	}
	if res.Applied > 0 {
		glog.V(1).Infof("volume %d: applied %d records from %s (%d older skipped)", vol.ID(), res.Applied, r.RemoteAddr, res.Skipped)
	}
	httpx.WriteJSON(w, r, http.StatusOK, res)
}

// handleSyncDigest answers GET /admin/sync/digest?volume=.
func (s *Server) handleSyncDigest(w http.ResponseWriter, r *http.Request) {
	vol, ok := s.adminVolume(w, r)
	if !ok {
		return
	}
	d, err := vol.Digest()
	if err != nil {
		s.writeSyncError(w, r, err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, d)
}

// handleSyncKeys answers GET /admin/sync/keys?volume=&buckets=.
func (s *Server) handleSyncKeys(w http.ResponseWriter, r *http.Request) {
	vol, ok := s.adminVolume(w, r)
	if !ok {
		return
	}
	buckets, err := wire.ParseBuckets(r.URL.Query().Get("buckets"), volume.DigestBuckets)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	recs, err := vol.KeyStates(buckets)
	if err != nil {
		s.writeSyncError(w, r, err)
		return
	}
	writeRecordInfos(w, r, recs)
}

// writeRecordInfos answers 200 with recs as a JSON array ([] when empty).
func writeRecordInfos(w http.ResponseWriter, r *http.Request, recs []volume.RecordInfo) {
	if recs == nil {
		recs = []volume.RecordInfo{}
	}
	httpx.WriteJSON(w, r, http.StatusOK, recs)
}

// handleSyncNeedle answers GET /admin/sync/needle?volume=&key=<hex> with
// the live record of the key, for a replica's read repair. A replica that
// is syncing or whose copy is damaged answers 404 too.
func (s *Server) handleSyncNeedle(w http.ResponseWriter, r *http.Request) {
	vol, ok := s.adminVolume(w, r)
	if !ok {
		return
	}
	key, err := strconv.ParseUint(r.URL.Query().Get("key"), 16, 64)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, "key must be hex")
		return
	}
	if syncing, _ := s.repl.State(vol.ID()); syncing {
		httpx.WriteError(w, r, http.StatusNotFound, fmt.Sprintf("volume %d is syncing here", vol.ID()))
		return
	}
	rec, err := vol.LiveRecord(needle.Key(key))
	if err != nil {
		if replication.IsMissing(err) || errors.Is(err, volume.ErrBadRecord) {
			httpx.WriteError(w, r, http.StatusNotFound, err.Error())
			return
		}
		s.writeSyncError(w, r, err)
		return
	}
	writeRecords(w, rec)
}

// writeRecords answers 200 with body, needle records concatenated.
func writeRecords(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", wire.RecordsContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// handleSyncDat answers GET /admin/sync/dat?volume= with the volume's .dat
// as it is now, paced by the copy rate limit.
func (s *Server) handleSyncDat(w http.ResponseWriter, r *http.Request) {
	vol, ok := s.adminVolume(w, r)
	if !ok {
		return
	}
	rc, size, err := vol.OpenDat()
	if err != nil {
		s.writeSyncError(w, r, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.Header().Set(wire.DatSizeHeader, strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	buf := make([]byte, 256<<10)
	var sent int64
	for {
		n, rerr := rc.Read(buf)
		if n > 0 {
			if err := s.copyLimit.Wait(r.Context(), int64(n)); err != nil {
				return
			}
			if _, err := w.Write(buf[:n]); err != nil {
				glog.V(1).Infof("volume %d: .dat stream to %s: %v", vol.ID(), r.RemoteAddr, err)
				return
			}
			sent += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			glog.Errorf("volume %d: read .dat for %s: %v", vol.ID(), r.RemoteAddr, rerr)
			return
		}
	}
	glog.V(1).Infof("volume %d: sent its .dat (%d bytes) to %s", vol.ID(), sent, r.RemoteAddr)
}

// writeSyncError answers a failed sync call.
func (s *Server) writeSyncError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, volume.ErrNotSyncable):
		httpx.WriteError(w, r, http.StatusConflict, err.Error())
	case errors.Is(err, volume.ErrBadRecord):
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
	default:
		s.writeStoreError(w, r, err)
	}
}
