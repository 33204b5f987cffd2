package volumeserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/internal/rlimit"
	"github.com/weedfs/weed/internal/security"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/replication"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/wire"
)

// PairHeaderPrefix starts the request headers stored with a needle as its
// pairs and sent back, prefix included, on reads.
const PairHeaderPrefix = "Seaweed-"

// recordOverhead is what a replicated record may carry beyond the file
// bytes: header, name, mime, pairs, checksum, timestamp and padding.
const recordOverhead = 1 << 17

// WriteReply is the answer to a stored upload: 201 {"name":"hello.txt","size":39}.
type WriteReply struct {
	Name string `json:"name"`
	// Size is the stored data size (of the gzipped bytes when stored so).
	Size uint32 `json:"size"`
}

// AppendJSON appends the reply as encoding/json would encode it
// (httpx.JSONAppender: it is the answer to every write).
func (r WriteReply) AppendJSON(b []byte) []byte {
	b = append(b, `{"name":`...)
	b = httpx.AppendJSONString(b, r.Name)
	b = append(b, `,"size":`...)
	b = strconv.AppendUint(b, uint64(r.Size), 10)
	return append(b, '}')
}

// DeleteReply is the answer to a delete: 202 {"size":39}, or 404 {"size":0}.
type DeleteReply struct {
	Size  uint32 `json:"size"`
	Error string `json:"error,omitempty"`
}

// AppendJSON appends the reply as encoding/json would encode it
// (httpx.JSONAppender).
func (r DeleteReply) AppendJSON(b []byte) []byte {
	b = append(b, `{"size":`...)
	b = strconv.AppendUint(b, uint64(r.Size), 10)
	if r.Error != "" {
		b = append(b, `,"error":`...)
		b = httpx.AppendJSONString(b, r.Error)
	}
	return append(b, '}')
}

// handleWrite stores an upload (POST or PUT /<fid>) and replicates it.
func (s *Server) handleWrite(w http.ResponseWriter, r *http.Request) {
	p, err := needle.ParseURLPath(r.URL.Path)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, fmt.Sprintf("bad file id %q: %v", r.URL.Path, err))
		return
	}
	if s.signer != nil && !s.authorized(w, r, p.FileID) {
		return
	}
	var q url.Values // nil (every Get is "") without a query: most uploads
	if r.URL.RawQuery != "" {
		q = r.URL.Query()
	}
	if q.Get("type") == "replicate" {
		s.handleReplicatedWrite(w, r, p.FileID)
		return
	}
	vol := s.store.Volume(p.FileID.Volume)
	if vol == nil {
		httpx.WriteError(w, r, http.StatusNotFound, fmt.Sprintf("volume %d not found on %s", p.FileID.Volume, s.self()))
		return
	}
	if s.refuseSyncing(w, r, vol) {
		return
	}
	if r.ContentLength > s.maxUpload {
		s.writeTooLarge(w, r)
		return
	}
	charge := s.uploadCharge(r.ContentLength, vol)
	if !s.uploads.acquire(r.Context(), charge, s.uploadWait) {
		s.writeBusy(w, r)
		return
	}
	defer s.uploads.release(charge)
	r.Body = http.MaxBytesReader(w, r.Body, s.maxUpload)
	body := s.bodyBufs.get()
	defer s.bodyBufs.put(body)
	up, err := parseUpload(uploadRequest{
		ContentType:     r.Header.Get("Content-Type"),
		ContentEncoding: r.Header.Get("Content-Encoding"),
		Filename:        q.Get("filename"),
		Length:          r.ContentLength,
		Admitted:        charge,
		Body:            r.Body,
	}, body)
	if err != nil {
		s.writeBodyError(w, r, err)
		return
	}
	if up.Name == "" && p.Filename != "" {
		up.Name = p.Filename
		if err := up.check(); err != nil {
			httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
			return
		}
	}
	up = s.orientUpload(up)
	gz := s.bodyBufs.get()
	defer s.bodyBufs.put(gz)
	n, err := s.buildNeedle(p.FileID, up, q, r.Header, gz)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	size, targets, err := s.repl.Write(r.Context(), vol, p.FileID, &n)
	if err != nil {
		var le *replication.LocalError
		if errors.As(err, &le) {
			s.writeStoreError(w, r, le.Err)
			return
		}
		glog.Warningf("write %s: %v", p.FileID, err)
		httpx.WriteError(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	if glog.V(3) {
		glog.Infof("stored %s: %d bytes, name %q, gzip %v, replicas %v", p.FileID, size, up.Name, n.IsGzipped(), targets)
	}
	w.Header()["Etag"] = []string{quoteEtag(n.Checksum)}
	httpx.WriteJSON(w, r, http.StatusCreated, WriteReply{Name: up.Name, Size: size})
}

// buildNeedle turns an upload into the needle to store: gzip decision, name,
// mime, last-modified (?ts= or now), ttl (?ttl=), chunk manifest (?cm=true),
// pairs from Seaweed-* headers, and the append timestamp. gz receives the
// compressed bytes when they are stored compressed; the needle aliases it
// and up.Data. Errors are errBadUpload.
func (s *Server) buildNeedle(fid needle.FileID, up upload, q url.Values, h http.Header, gz *bytes.Buffer) (needle.Needle, error) {
	n := needle.Needle{Cookie: fid.Cookie, Key: fid.Key}
	ttl, err := needle.ParseTTL(q.Get("ttl"))
	if err != nil {
		return n, fmt.Errorf("%w: ttl: %w", errBadUpload, err)
	}
	n.TTL = ttl
	n.LastModified = uint64(time.Now().Unix())
	if ts := q.Get("ts"); ts != "" {
		v, err := strconv.ParseUint(ts, 10, 64)
		if err != nil || v > needle.MaxLastModified {
			return n, fmt.Errorf("%w: ts %q is not unix seconds", errBadUpload, ts)
		}
		n.LastModified = v
	}
	if cm := q.Get("cm"); cm != "" {
		on, err := strconv.ParseBool(cm)
		if err != nil {
			return n, fmt.Errorf("%w: cm %q is not a boolean", errBadUpload, cm)
		}
		if on {
			if err := s.checkManifest(up); err != nil {
				return n, err
			}
			n.SetChunkManifest(true)
		}
	}
	pairs, err := pairsFromHeader(h)
	if err != nil {
		return n, err
	}
	n.Pairs = pairs
	n.Data = up.Data
	switch {
	case up.Gzipped:
		n.SetGzipped(true)
	case compressible(up.Mime, up.Name) && gzipIfSmaller(up.Data, gz):
		n.Data = gz.Bytes()
		n.SetGzipped(true)
	}
	if up.Name != "" {
		n.Name = []byte(up.Name)
	}
	if up.Mime != "" {
		n.Mime = []byte(up.Mime)
	}
	if uint64(len(n.Data)) >= needle.MaxPossibleSize-recordOverhead {
		return n, fmt.Errorf("%w: file too large for a needle", errBadUpload)
	}
	n.Checksum = needle.DataChecksum(n.Data)
	n.AppendAtNs = uint64(time.Now().UnixNano())
	return n, nil
}

// checkManifest refuses a chunk manifest that does not parse.
func (s *Server) checkManifest(up upload) error {
	data := up.Data
	if up.Gzipped {
		buf := s.bodyBufs.get()
		defer s.bodyBufs.put(buf)
		if err := gunzip(data, buf, s.maxUpload); err != nil {
			return fmt.Errorf("%w: chunk manifest: %w", errBadUpload, err)
		}
		data = buf.Bytes()
	}
	if _, err := client.ParseChunkManifest(data); err != nil {
		return fmt.Errorf("%w: chunk manifest: %w", errBadUpload, err)
	}
	return nil
}

// pairsFromHeader collects the Seaweed-* request headers as a JSON object
// (names without the prefix), or nil when there are none.
func pairsFromHeader(h http.Header) ([]byte, error) {
	var pairs map[string]string
	for k, v := range h {
		if len(k) <= len(PairHeaderPrefix) || !strings.EqualFold(k[:len(PairHeaderPrefix)], PairHeaderPrefix) || len(v) == 0 {
			continue
		}
		if pairs == nil {
			pairs = make(map[string]string)
		}
		pairs[k[len(PairHeaderPrefix):]] = v[0]
	}
	if pairs == nil {
		return nil, nil
	}
	b, err := json.Marshal(pairs)
	if err != nil {
		return nil, fmt.Errorf("%w: pairs: %w", errBadUpload, err)
	}
	if len(b) > needle.MaxPairsSize {
		return nil, fmt.Errorf("%w: %s* headers take more than %d bytes", errBadUpload, PairHeaderPrefix, needle.MaxPairsSize)
	}
	return b, nil
}

// handleReplicatedWrite stores a needle record another replica appended
// (POST /<fid>?type=replicate, body = the v3 record), unchanged. It never
// fans out again.
func (s *Server) handleReplicatedWrite(w http.ResponseWriter, r *http.Request, fid needle.FileID) {
	vol := s.store.Volume(fid.Volume)
	if vol == nil {
		httpx.WriteError(w, r, http.StatusNotFound, fmt.Sprintf("volume %d not found on %s", fid.Volume, s.self()))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != wire.NeedleContentType && mediaType(ct) != wire.NeedleContentType {
		httpx.WriteError(w, r, http.StatusUnsupportedMediaType, "a replicated write must be "+wire.NeedleContentType)
		return
	}
	limit := s.maxUpload + recordOverhead
	if r.ContentLength > limit {
		s.writeTooLarge(w, r)
		return
	}
	// The primary admitted this upload already: counted, never refused.
	charge := r.ContentLength
	if charge < 0 {
		charge = limit
	}
	s.uploads.force(charge)
	defer s.uploads.release(charge)
	body := s.bodyBufs.get()
	defer s.bodyBufs.put(body)
	if r.ContentLength > 0 {
		body.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	if _, err := body.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		s.writeBodyError(w, r, bodyError(err))
		return
	}
	n, err := parseReplicaRecord(body.Bytes(), fid)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	size, err := vol.WriteReplica(&n)
	if err != nil {
		s.writeStoreError(w, r, fmt.Errorf("replicated write %s: %w", fid, err))
		return
	}
	glog.V(3).Infof("stored replica of %s: %d bytes", fid, size)
	w.Header().Set("Etag", quoteEtag(n.Checksum))
	httpx.WriteJSON(w, r, http.StatusCreated, WriteReply{Name: string(n.Name), Size: size})
}

// parseReplicaRecord decodes a replicated record and checks it: one whole
// v3 record of a live needle with a valid checksum, naming fid's key and
// cookie. The needle aliases b.
func parseReplicaRecord(b []byte, fid needle.FileID) (needle.Needle, error) {
	var n needle.Needle
	if err := n.ParseRecord(b, needle.Version3); err != nil {
		return n, fmt.Errorf("%w: replicated record: %w", errBadUpload, err)
	}
	switch {
	case n.IsTombstone():
		return n, fmt.Errorf("%w: replicated record is a tombstone", errBadUpload)
	case n.Key != fid.Key || n.Cookie != fid.Cookie:
		return n, fmt.Errorf("%w: replicated record is %s, not %s", errBadUpload,
			needle.FileID{Volume: fid.Volume, Key: n.Key, Cookie: n.Cookie}, fid)
	case int64(len(b)) != needle.RecordLen(n.Size, needle.Version3):
		return n, fmt.Errorf("%w: replicated record is %d bytes, want %d", errBadUpload, len(b), needle.RecordLen(n.Size, needle.Version3))
	}
	return n, nil
}

// handleDelete deletes a needle (DELETE /<fid>) here and on every other
// replica (primaryDelete); with ?type=replicate&ts=<ns> it is one
// replica's part of a delete, applied with that tombstone time and not
// fanned out again.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	p, err := needle.ParseURLPath(r.URL.Path)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, fmt.Sprintf("bad file id %q: %v", r.URL.Path, err))
		return
	}
	if s.signer != nil && !s.authorized(w, r, p.FileID) {
		return
	}
	fid := p.FileID
	vol := s.store.Volume(fid.Volume)
	if vol == nil {
		httpx.WriteJSON(w, r, http.StatusNotFound, DeleteReply{Error: fmt.Sprintf("volume %d not found on %s", fid.Volume, s.self())})
		return
	}
	q := r.URL.Query()
	if q.Get("type") != "replicate" {
		if !s.deleteChunksOf(w, r, vol, fid) {
			return
		}
		s.primaryDelete(w, r, vol, fid)
		return
	}
	ts, err := strconv.ParseUint(q.Get("ts"), 10, 64)
	if err != nil || ts == 0 {
		httpx.WriteError(w, r, http.StatusBadRequest, fmt.Sprintf("a replicated delete needs ts=<unix ns>, got %q", q.Get("ts")))
		return
	}
	// A replica records the tombstone even when it does not hold the
	// needle, so that no later sync brings the needle back; a rollback
	// (rollback=<the write's append time>) also makes the replica refuse
	// that write if it arrives later.
	var size uint32
	if rb := q.Get("rollback"); rb != "" {
		writeAt, perr := strconv.ParseUint(rb, 10, 64)
		if perr != nil || writeAt == 0 || writeAt >= ts {
			httpx.WriteError(w, r, http.StatusBadRequest, fmt.Sprintf("rollback=%q is not the append time of a write older than ts=%d", rb, ts))
			return
		}
		size, err = vol.DeleteRolledBack(fid.Key, fid.Cookie, writeAt, ts)
	} else {
		size, err = vol.DeleteReplica(fid.Key, fid.Cookie, ts)
	}
	if replication.IsMissing(err) {
		httpx.WriteJSON(w, r, http.StatusNotFound, DeleteReply{})
		return
	}
	if err != nil {
		s.writeStoreError(w, r, fmt.Errorf("delete %s: %w", fid, err))
		return
	}
	glog.V(3).Infof("deleted %s (%d bytes) as a replica, tombstone time %d", fid, size, ts)
	httpx.WriteJSON(w, r, http.StatusAccepted, DeleteReply{Size: size})
}

// primaryDelete is DELETE /<fid> sent by a client: unless this replica
// must not act as a primary (refuseSyncing), the replication coordinator
// applies it here and on every other replica, and the answer says how it
// went: 202 with the size; 404 when the needle is not here; a store
// error's status; 500 when the replicas could not be looked up, or an
// earlier or this delete's stale mark is not recorded yet.
func (s *Server) primaryDelete(w http.ResponseWriter, r *http.Request, vol *volume.Volume, fid needle.FileID) {
	if s.refuseSyncing(w, r, vol) {
		return
	}
	size, err := s.repl.Delete(r.Context(), vol, fid)
	var le *replication.LocalError
	var me *replication.MarkError
	switch {
	case err == nil:
		httpx.WriteJSON(w, r, http.StatusAccepted, DeleteReply{Size: size})
	case errors.As(err, &le):
		if replication.IsMissing(le.Err) {
			httpx.WriteJSON(w, r, http.StatusNotFound, DeleteReply{})
			return
		}
		s.writeStoreError(w, r, le.Err)
	case err == replication.ErrMarkPending:
		httpx.WriteJSON(w, r, http.StatusInternalServerError, DeleteReply{Error: err.Error()})
	case errors.As(err, &me):
		httpx.WriteJSON(w, r, http.StatusInternalServerError, DeleteReply{Size: me.Size, Error: me.Err.Error()})
	default:
		httpx.WriteError(w, r, http.StatusInternalServerError, err.Error())
	}
}

// authorized checks the token of a write or delete of fid (a server with a
// secret only): without a valid token for fid it answers 401 with a JSON
// error and reports false.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request, fid needle.FileID) bool {
	err := s.signer.Check(security.RequestToken(r), fid)
	if err == nil {
		return true
	}
	glog.V(1).Infof("%s %s from %s refused: %v", r.Method, r.URL.Path, r.RemoteAddr, err)
	httpx.WriteError(w, r, http.StatusUnauthorized, err.Error())
	return false
}

// uploadCharge is what an upload of length bytes (-1: unknown) to vol is
// counted for in the in-flight budget: its body, twice for a replicated
// volume (the record sent to the other replicas is a copy), and the upload
// limit when the length is unknown.
func (s *Server) uploadCharge(length int64, vol *volume.Volume) int64 {
	if length < 0 {
		length = s.maxUpload
	}
	if vol.Placement().CopyCount() > 1 {
		length *= 2
	}
	return length
}

// writeBusy answers 503 with Retry-After for an upload that found the
// in-flight budget (-concurrentUploadLimitMB) full for the whole wait.
func (s *Server) writeBusy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", uploadRetryAfter)
	httpx.WriteError(w, r, http.StatusServiceUnavailable,
		fmt.Sprintf("uploads in flight fill the budget of %d bytes; retry later", s.uploads.limit))
}

// writeTooLarge answers 413 for a body over MaxUploadBytes.
func (s *Server) writeTooLarge(w http.ResponseWriter, r *http.Request) {
	httpx.WriteError(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", s.maxUpload))
}

// writeBodyError answers a failure to read or parse a request body.
func (s *Server) writeBodyError(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		s.writeTooLarge(w, r)
	case errors.Is(err, errBadUpload):
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
	default:
		glog.V(1).Infof("%s %s: reading the body: %v", r.Method, r.URL.Path, err)
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
	}
}

// writeStoreError answers a failure of the store with the fitting status:
// 404 volume gone, 507 no space left on the disk (or below -minFreeSpace),
// 409 volume read-only or full (or a replicated write rolled back already),
// 503 out of file descriptors or volume closing, 500 otherwise.
func (s *Server) writeStoreError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, volume.ErrVolumeNotFound):
		status = http.StatusNotFound
	case volume.IsNoSpace(err):
		status = http.StatusInsufficientStorage
	case errors.Is(err, volume.ErrReadOnly), errors.Is(err, volume.ErrVolumeFull), errors.Is(err, volume.ErrRolledBack):
		status = http.StatusConflict
	case errors.Is(err, needle.ErrTooLarge):
		status = http.StatusRequestEntityTooLarge
	case rlimit.IsTooManyOpenFiles(err), errors.Is(err, volume.ErrClosed):
		status = http.StatusServiceUnavailable
	}
	if status >= 500 {
		glog.Errorf("%s %s: %v", r.Method, r.URL.Path, err)
	} else {
		glog.V(1).Infof("%s %s: %v", r.Method, r.URL.Path, err)
	}
	httpx.WriteError(w, r, status, err.Error())
}

// mediaType returns the media type of a Content-Type value, "" when it does
// not parse.
func mediaType(contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt
}

// quoteEtag formats a stored checksum as the quoted Etag header value.
func quoteEtag(checksum uint32) string {
	return `"` + needle.Etag(checksum) + `"`
}
