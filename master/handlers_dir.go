package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/internal/rlimit"
	"github.com/weedfs/weed/internal/security"
	"github.com/weedfs/weed/internal/version"
	"github.com/weedfs/weed/master/raftnode"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/topology"
	"github.com/weedfs/weed/wire"
)

// Bounds on request parameters.
const (
	// MaxAssignCount is the largest count one /dir/assign may reserve.
	MaxAssignCount = 100000
	// MaxCollectionLen is the longest collection name accepted.
	MaxCollectionLen = 128
	// maxDataCenterLen is the longest data center name accepted.
	maxDataCenterLen = 255
	// maxFormBody bounds the urlencoded body of the master's POSTs.
	maxFormBody = 1 << 20
	// maxHeartbeatBody bounds a heartbeat (about 300 bytes per volume).
	maxHeartbeatBody = 32 << 20
)

// LookupResult is the body of /dir/lookup: the volume's locations, or an
// error (404 "volumeId not found.").
type LookupResult struct {
	VolumeID  string              `json:"volumeId"`
	Locations []topology.Location `json:"locations,omitempty"`
	Error     string              `json:"error,omitempty"`
}

// SubmitResult is the body of a successful /submit.
type SubmitResult struct {
	Fid      string `json:"fid"`
	FileName string `json:"fileName"`
	// FileURL is "<publicUrl>/<fid>".
	FileURL string `json:"fileUrl"`
	// Size is the size the volume server stored.
	Size int64 `json:"size"`
}

// DirStatusResult is the body of /dir/status and /vol/vacuum.
type DirStatusResult struct {
	Topology topology.DirStatus `json:"Topology"`
	Version  string             `json:"Version"`
}

// errLookupNotFound is the weed-fs text of a lookup of an unknown volume.
const errLookupNotFound = "volumeId not found."

// handleClusterStatus answers /cluster/status from Leadership.
func (s *Server) handleClusterStatus(w http.ResponseWriter, r *http.Request) {
	peers := s.lead.Peers()
	if peers == nil {
		peers = []string{}
	}
	httpx.WriteJSON(w, r, http.StatusOK, raftnode.ClusterStatus{IsLeader: s.lead.IsLeader(), Leader: s.lead.Leader(), Peers: peers})
}

// RemoveResult is the reply of POST /cluster/remove.
type RemoveResult struct {
	Removed string `json:"removed"`
}

// handleClusterRemove answers POST /cluster/remove?peer=host:port on the
// leader (followers forward it): the named master leaves the Raft group.
// 400 without a host:port, 404 for a master not in the group, 409 for the
// last member, 503 when leadership moved meanwhile.
func (s *Server) handleClusterRemove(w http.ResponseWriter, r *http.Request) {
	q, err := formValues(w, r)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	peer := strings.TrimPrefix(strings.TrimSpace(q.Get("peer")), "http://")
	if _, _, err := net.SplitHostPort(peer); err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, fmt.Sprintf("peer=%q: want the master's host:port as -peers names it", peer))
		return
	}
	if s.members == nil {
		httpx.WriteError(w, r, http.StatusNotImplemented, "this master has no Raft group to remove members from")
		return
	}
	err = s.members.RemoveMember(peer)
	switch {
	case err == nil:
		httpx.WriteJSON(w, r, http.StatusOK, RemoveResult{Removed: peer})
		return
	case errors.Is(err, raftnode.ErrNotMember):
		httpx.WriteError(w, r, http.StatusNotFound, err.Error())
	case errors.Is(err, raftnode.ErrLastMember):
		httpx.WriteError(w, r, http.StatusConflict, err.Error())
	case errors.Is(err, raftnode.ErrNotLeader):
		httpx.WriteError(w, r, http.StatusServiceUnavailable, err.Error())
	default:
		httpx.WriteError(w, r, http.StatusInternalServerError, err.Error())
	}
	glog.Warningf("remove master %s: %v", peer, err)
}

// handleHeartbeat registers a volume server's heartbeat on the leader. A
// follower does not look at it and names the leader in its reply.
func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	var hb wire.Heartbeat
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxHeartbeatBody)).Decode(&hb); err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, "bad heartbeat: "+err.Error())
		return
	}
	reply := wire.HeartbeatReply{
		Version:         wire.HeartbeatVersion,
		Leader:          s.lead.Leader(),
		VolumeSizeLimit: s.topo.VolumeSizeLimit(),
	}
	if !s.lead.IsLeader() {
		glog.V(2).Infof("heartbeat from %s: not the leader, leader is %q", hb.URL(), reply.Leader)
		httpx.WriteJSON(w, r, http.StatusOK, reply)
		return
	}
	if s.ready != nil {
		// The reply tells the node which of its replicas are stale: only
		// a leader whose FSM is current may say.
		if err := s.ready.LeaderReady(r.Context()); err != nil {
			glog.V(1).Infof("heartbeat from %s: leader not ready: %v", hb.URL(), err)
			httpx.WriteError(w, r, http.StatusServiceUnavailable, "leader not ready: "+err.Error())
			return
		}
	}
	reply.IsLeader = true
	if reply.Leader == "" {
		reply.Leader = s.lead.Self()
	}
	if hb.IP == "" {
		// A volume server started without -ip is known by the address its
		// heartbeats come from, as weed-fs did; the reply tells it.
		hb.IP = remoteIP(r)
	}
	reply.IP = hb.IP
	res, err := s.topo.ProcessHeartbeat(&hb, time.Now())
	if err != nil {
		glog.Warningf("heartbeat from %s: %v", r.RemoteAddr, err)
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if res.NewNode {
		glog.Infof("data node %s joined (%s:%s) with %d volumes", hb.URL(), hb.DataCenter, hb.Rack, len(hb.Volumes))
	}
	glog.V(4).Infof("heartbeat from %s: %d volumes", hb.URL(), len(hb.Volumes))
	reply.Stale = s.topo.StaleVolumes(hb.URL())
	s.observeMarks(r.Context(), hb.URL(), res)
	httpx.WriteJSON(w, r, http.StatusOK, reply)
}

// remoteIP returns the host part of the request's remote address.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// observeMarks raises the Sequencer's high-water marks to what a heartbeat
// reported, calling it only when a mark grew past what was observed before.
// A failure is logged; the next heartbeat tries again.
func (s *Server) observeMarks(ctx context.Context, node string, res topology.HeartbeatResult) {
	if vid := uint32(res.MaxVolumeID); vid > s.observedVolumeID.Load() {
		if err := s.seq.ObserveVolumeID(ctx, res.MaxVolumeID); err != nil {
			glog.Warningf("heartbeat from %s: observe volume id %d: %v", node, vid, err)
		} else {
			raiseUint32(&s.observedVolumeID, vid)
		}
	}
	if key := uint64(res.MaxFileKey); key > s.observedFileKey.Load() {
		if err := s.seq.ObserveFileKey(ctx, res.MaxFileKey); err != nil {
			glog.Warningf("heartbeat from %s: observe file key %d: %v", node, key, err)
		} else {
			raiseUint64(&s.observedFileKey, key)
		}
	}
}

func raiseUint32(a *atomic.Uint32, v uint32) {
	for old := a.Load(); v > old && !a.CompareAndSwap(old, v); old = a.Load() {
	}
}

func raiseUint64(a *atomic.Uint64, v uint64) {
	for old := a.Load(); v > old && !a.CompareAndSwap(old, v); old = a.Load() {
	}
}

// assignReply is the JSON body of a successful /dir/assign: a
// wire.Assignment that encodes itself (httpx.JSONAppender), as
// encoding/json would, for it is the answer to every assign.
type assignReply wire.Assignment

// AppendJSON appends the reply as encoding/json would encode it.
func (a assignReply) AppendJSON(b []byte) []byte {
	b = append(b, `{"fid":`...)
	b = httpx.AppendJSONString(b, a.Fid)
	b = append(b, `,"url":`...)
	b = httpx.AppendJSONString(b, a.URL)
	b = append(b, `,"publicUrl":`...)
	b = httpx.AppendJSONString(b, a.PublicURL)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(a.Count), 10)
	return append(b, '}')
}

// assignment is a wire.Assignment with the location to upload to.
type assignment struct {
	wire.Assignment
	loc topology.Location
}

// assign reserves count fids in a writable volume of req's layout, growing
// the layout when it has none.
func (s *Server) assign(ctx context.Context, req growRequest, count uint64) (assignment, error) {
	wr := req.writeRequest()
	vid, locs, err := s.topo.PickForWrite(wr)
	if errors.Is(err, topology.ErrNoWritableVolume) {
		if err = s.growth.EnsureWritable(ctx, req); err != nil {
			return assignment{}, err
		}
		vid, locs, err = s.topo.PickForWrite(wr)
	}
	if err != nil {
		return assignment{}, err
	}
	key, err := s.seq.NextFileKeys(ctx, count)
	if err != nil {
		return assignment{}, fmt.Errorf("reserve %d file keys: %w", count, err)
	}
	cookie := rand.Uint32()
	for cookie == 0 {
		cookie = rand.Uint32()
	}
	fid := needle.FileID{Volume: vid, Key: key, Cookie: needle.Cookie(cookie)}
	return assignment{
		Assignment: wire.Assignment{Fid: fid.String(), URL: locs[0].URL, PublicURL: locs[0].PublicURL, Count: int(count)},
		loc:        locs[0],
	}, nil
}

// handleAssign answers /dir/assign.
func (s *Server) handleAssign(w http.ResponseWriter, r *http.Request) {
	req, count, ok := s.assignParams(w, r)
	if !ok {
		return
	}
	a, err := s.assign(r.Context(), req, uint64(count))
	if err != nil {
		writeGrowthError(w, r, "assign", err)
		return
	}
	if s.signer != nil {
		w.Header()[security.AuthorizationHeader] = []string{security.Bearer(s.signer.Sign(a.Fid, uint64(a.Count)))}
	}
	httpx.WriteJSON(w, r, http.StatusOK, assignReply(a.Assignment))
}

// handleLookup answers /dir/lookup?volumeId= (a whole fid is accepted):
// the read view. With syncing=true it answers the fan-out view instead
// (writeFanoutView). /dir/lookup?fileId=<fid> looks up the fid's volume
// and, with a secret, answers a token for that fid in the Authorization
// header to a client the white list admits, so that it can delete it.
func (s *Server) handleLookup(w http.ResponseWriter, r *http.Request) {
	q, err := formValues(w, r)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	raw := q.Get("volumeId")
	fileID := q.Get("fileId")
	if fileID != "" {
		if _, err := needle.ParseFileID(fileID); err != nil {
			httpx.WriteError(w, r, http.StatusBadRequest, fmt.Sprintf("invalid fileId %q", truncate([]byte(fileID), 64)))
			return
		}
		raw = fileID
	}
	if raw == "" {
		httpx.WriteError(w, r, http.StatusBadRequest, "volumeId is required")
		return
	}
	vs := raw
	if i := strings.IndexByte(vs, ','); i >= 0 {
		vs = vs[:i]
	}
	vid, err := needle.ParseVolumeID(vs)
	if err != nil || vid == 0 {
		httpx.WriteError(w, r, http.StatusBadRequest, fmt.Sprintf("invalid volumeId %q", truncate([]byte(raw), 64)))
		return
	}
	locs, err := s.lookupSettled(r.Context(), vid)
	if q.Get("syncing") == "true" {
		s.writeFanoutView(w, r, vid)
		return
	}
	if err != nil {
		httpx.WriteJSON(w, r, http.StatusNotFound, LookupResult{VolumeID: vid.String(), Error: errLookupNotFound})
		return
	}
	if fileID != "" && s.signer != nil && s.clientAllowed(r) {
		w.Header().Set(security.AuthorizationHeader, security.Bearer(s.signer.Sign(fileID, 1)))
	}
	httpx.WriteJSON(w, r, http.StatusOK, LookupResult{VolumeID: vid.String(), Locations: locs})
}

// lookupSettled returns the readable locations of vid. A leader elected
// moments ago has not heard every heartbeat yet: while it settles, a volume
// it knows of no node holding, or of fewer nodes than its copy count, is
// waited for (heartbeats bring it within a pulse) instead of being answered
// "not found" or short of a replica, which writers take as a failure.
func (s *Server) lookupSettled(ctx context.Context, vid needle.VolumeID) ([]topology.Location, error) {
	complete := func() bool {
		v, err := s.topo.Volume(vid)
		return err == nil && len(v.Replicas) >= v.Placement.CopyCount()
	}
	if !complete() {
		// Not leading any more, or ctx ended: answer from what is known.
		_ = s.growth.waitSettled(ctx, complete)
	}
	return s.topo.Lookup(vid)
}

// handleDirStatus answers /dir/status.
func (s *Server) handleDirStatus(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, r, http.StatusOK, DirStatusResult{Topology: s.topo.DirStatus(), Version: version.Version})
}

// handleRedirect answers GET, HEAD and DELETE of /<fid> (any of the volume
// server's fid path forms) with a 301 to one of the volume's replicas, in
// turn.
func (s *Server) handleRedirect(w http.ResponseWriter, r *http.Request) {
	up, err := needle.ParseURLPath(r.URL.Path)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, fmt.Sprintf("invalid file id %q", truncate([]byte(r.URL.Path), 100)))
		return
	}
	vid := up.FileID.Volume
	locs, err := s.lookupSettled(r.Context(), vid)
	if err != nil {
		httpx.WriteError(w, r, http.StatusNotFound, fmt.Sprintf("volume %d not found", vid))
		return
	}
	loc := locs[s.roundRobin(vid, len(locs))]
	target := httpURL(loc.PublicURL) + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, target, http.StatusMovedPermanently)
}

// httpURL returns "http://addr" unless addr already names a scheme.
func httpURL(addr string) string {
	if strings.Contains(addr, "://") {
		return strings.TrimSuffix(addr, "/")
	}
	return "http://" + addr
}

// handleSubmit answers POST /submit: it assigns a fid and streams the
// request's file part to the chosen volume server.
func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request) {
	// Parameters come from the query only: reading the form would read the
	// file.
	q := r.URL.Query()
	req, err := s.layoutParams(q)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	part, err := filePart(r)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	a, err := s.assign(r.Context(), req, 1)
	if err != nil {
		writeGrowthError(w, r, "submit", err)
		return
	}
	mimeType := part.Header.Get("Content-Type")
	if mimeType == "application/octet-stream" {
		mimeType = "" // let the extension speak
	}
	up := client.UploadRequest{
		Filename: part.FileName(),
		MimeType: mimeType,
		Body:     part,
		TTL:      req.TTL.String(),
		Gzipped:  strings.EqualFold(part.Header.Get("Content-Encoding"), "gzip"),
	}
	if s.signer != nil {
		up.JWT = s.signer.Sign(a.Fid, 1)
	}
	res, err := s.uploader.Upload(r.Context(), a.loc.URL, a.Fid, up)
	if err != nil {
		status := http.StatusBadGateway
		msg := err.Error()
		var ce *client.Error
		if errors.As(err, &ce) && ce.StatusCode >= 400 {
			status, msg = ce.StatusCode, ce.Message
		}
		if rlimit.IsTooManyOpenFiles(err) {
			status = http.StatusServiceUnavailable
		}
		glog.Warningf("submit %s to %s: %v", a.Fid, a.loc.URL, err)
		httpx.WriteError(w, r, status, msg)
		return
	}
	name := res.Name
	if name == "" {
		name = part.FileName()
	}
	httpx.WriteJSON(w, r, http.StatusCreated, SubmitResult{
		Fid:      a.Fid,
		FileName: name,
		FileURL:  a.PublicURL + "/" + a.Fid,
		Size:     res.Size,
	})
}

// filePart returns the first part of a multipart request that carries a
// file (a file name, or the field "file"), whatever its field name, as
// weed-fs took it.
func filePart(r *http.Request) (*multipart.Part, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, fmt.Errorf("expected a multipart/form-data body with a file: %w", err)
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no file in the multipart body")
		}
		if err != nil {
			return nil, fmt.Errorf("bad multipart body: %w", err)
		}
		if p.FileName() != "" || p.FormName() == "file" {
			return p, nil
		}
	}
}

// writeGrowthError answers an assign or growth failure: 406 with the error
// text (exactly the weed-fs text when no node could take a volume), 503
// when this master lost the leadership, ran out of file descriptors or the
// request ended.
func writeGrowthError(w http.ResponseWriter, r *http.Request, op string, err error) {
	status, msg := http.StatusNotAcceptable, err.Error()
	switch {
	case errors.Is(err, topology.ErrNotEnoughDataNodes):
		msg = topology.ErrNotEnoughDataNodes.Error()
	case errors.Is(err, raftnode.ErrNotLeader), rlimit.IsTooManyOpenFiles(err),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		status = http.StatusServiceUnavailable
	}
	glog.V(1).Infof("%s %s: %v", op, r.URL.RawQuery, err)
	httpx.WriteError(w, r, status, msg)
}

// formValues parses the query and, for a urlencoded POST, the body (at
// most maxFormBody bytes).
func formValues(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		return nil, fmt.Errorf("bad form: %w", err)
	}
	return r.Form, nil
}

// growParams decodes the form of /dir/assign and /vol/grow: the layout
// (layoutParams) and count, def when absent, else from 1 to max. On a bad
// parameter it answers 400 and reports false.
func (s *Server) growParams(w http.ResponseWriter, r *http.Request, def, max int64) (growRequest, int64, bool) {
	q, err := formValues(w, r)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return growRequest{}, 0, false
	}
	req, err := s.layoutParams(q)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return growRequest{}, 0, false
	}
	count, err := intParam(q, "count", def, 1, max)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return growRequest{}, 0, false
	}
	return req, count, true
}

// assignParams decodes the parameters of /dir/assign as growParams does.
// The usual requests are read without parsing a form: a GET with a plain
// query (plainQuery), and a POST of a short plain urlencoded form and no
// query (plainFormBody), as weed-fs's clients send. Anything else takes
// growParams.
func (s *Server) assignParams(w http.ResponseWriter, r *http.Request) (growRequest, int64, bool) {
	var q plainQuery
	plain := false
	switch r.Method {
	case http.MethodGet:
		q, plain = parsePlainQuery(r.URL.RawQuery)
	case http.MethodPost:
		q, plain = plainFormBody(r)
	}
	if !plain {
		return s.growParams(w, r, 1, MaxAssignCount)
	}
	req, err := s.layout(q.Get("replication"), q.Get("collection"), q.Get("ttl"), q.Get("dataCenter"))
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return growRequest{}, 0, false
	}
	count, err := intValue(q.Get("count"), "count", 1, 1, MaxAssignCount)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, err.Error())
		return growRequest{}, 0, false
	}
	return req, count, true
}

// layoutParams reads replication (default: the master's), collection, ttl
// and dataCenter.
func (s *Server) layoutParams(q url.Values) (growRequest, error) {
	return s.layout(q.Get("replication"), q.Get("collection"), q.Get("ttl"), q.Get("dataCenter"))
}

// layout checks the layout parameters of a request (see layoutParams).
func (s *Server) layout(rp, c, ttlParam, dc string) (growRequest, error) {
	req := growRequest{Placement: s.placement}
	if rp != "" {
		p, err := needle.ParsePlacement(rp)
		if err != nil {
			return growRequest{}, fmt.Errorf("replication: %w", err)
		}
		req.Placement = p
	}
	if err := checkCollection(c); err != nil {
		return growRequest{}, err
	}
	req.Collection = c
	ttl, err := needle.ParseTTL(ttlParam)
	if err != nil {
		return growRequest{}, fmt.Errorf("ttl: %w", err)
	}
	req.TTL = ttl
	if len(dc) > maxDataCenterLen || strings.ContainsFunc(dc, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return growRequest{}, fmt.Errorf("invalid dataCenter %q", truncate([]byte(dc), 64))
	}
	req.DataCenter = dc
	return req, nil
}

// checkCollection accepts "" and names of at most MaxCollectionLen letters,
// digits, '_' and '-'.
func checkCollection(c string) error {
	if len(c) > MaxCollectionLen {
		return fmt.Errorf("collection name longer than %d bytes", MaxCollectionLen)
	}
	for i := 0; i < len(c); i++ {
		b := c[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-') {
			return fmt.Errorf("invalid collection %q: only letters, digits, '_' and '-' are allowed", c)
		}
	}
	return nil
}

// intParam parses an optional integer parameter in [min, max].
func intParam(q url.Values, name string, def, min, max int64) (int64, error) {
	return intValue(q.Get(name), name, def, min, max)
}

// intValue parses the value s of the optional integer parameter name, in
// [min, max]; def when s is empty.
func intValue(s, name string, def, min, max int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < min || v > max {
		return 0, fmt.Errorf("%s must be an integer from %d to %d", name, min, max)
	}
	return v, nil
}

// floatParam parses an optional number parameter in [min, max].
func floatParam(q url.Values, name string, def, min, max float64) (float64, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v >= min && v <= max) {
		return 0, fmt.Errorf("%s must be a number from %v to %v", name, min, max)
	}
	return v, nil
}
