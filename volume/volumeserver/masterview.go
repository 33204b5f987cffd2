package volumeserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang/glog"
	"golang.org/x/sync/singleflight"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/wire"
)

// errNoMaster means no master answered a call.
var errNoMaster = errors.New("no master answered")

// Bounds of one call to one master (callMaster moves on to the next one
// after it). A lookup is a map read on the leader; a POST records a mark
// through Raft, and a follower holds it up to the masters' -leaderWait
// (5 s) during an election. A paused master costs one such wait, after
// which calls and heartbeats start with another master.
const (
	masterLookupTimeout = 3 * time.Second
	masterRecordTimeout = 8 * time.Second
	// viewLookupBudget bounds one refresh of the fan-out view, every
	// master tried.
	viewLookupBudget = 12 * time.Second
)

// fanoutView caches the master's fan-out view of volumes for ttl, one
// master request per volume at a time.
type fanoutView struct {
	s     *Server
	ttl   time.Duration
	mu    sync.Mutex
	cache map[needle.VolumeID]fanoutEntry
	// gen counts invalidations: a master request started before one
	// neither fills the cache nor answers callers that came after it.
	gen     uint64
	flights singleflight.Group
}

type fanoutEntry struct {
	locs    []wire.ReplicaLocation
	expires time.Time
}

func newFanoutView(s *Server, ttl time.Duration) *fanoutView {
	return &fanoutView{s: s, ttl: ttl, cache: make(map[needle.VolumeID]fanoutEntry)}
}

// get returns every replica of vid the master knows (none when it knows
// none). The slice is shared: do not modify it.
func (f *fanoutView) get(ctx context.Context, vid needle.VolumeID) ([]wire.ReplicaLocation, error) {
	f.mu.Lock()
	e, ok := f.cache[vid]
	gen := f.gen
	f.mu.Unlock()
	if ok && time.Now().Before(e.expires) {
		return e.locs, nil
	}
	ch := f.flights.DoChan(vid.String()+"@"+strconv.FormatUint(gen, 10), func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), viewLookupBudget)
		defer cancel()
		var reply wire.FanoutView
		q := url.Values{"volumeId": {vid.String()}, "syncing": {"true"}}
		err := f.s.callMaster(fctx, http.MethodGet, "/dir/lookup", q, &reply)
		var me *masterError
		if errors.As(err, &me) && me.status == http.StatusNotFound {
			err, reply.Locations = nil, nil
		}
		if err != nil {
			return nil, err
		}
		f.mu.Lock()
		if f.gen == gen {
			f.cache[vid] = fanoutEntry{locs: reply.Locations, expires: time.Now().Add(f.ttl)}
		}
		f.mu.Unlock()
		return reply.Locations, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.([]wire.ReplicaLocation), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// invalidate drops the cached view of vid; a master request already in
// flight does not put it back.
func (f *fanoutView) invalidate(vid needle.VolumeID) {
	f.mu.Lock()
	delete(f.cache, vid)
	f.gen++
	f.mu.Unlock()
}

// holdView holds s.viewGate shared when vol is replicated, until release.
// A primary write or delete holds it from its read of the fan-out view to
// its local append: a hello (handleSyncHello) waits for it, so no
// operation that used a view without a rejoining replica appends here
// after that replica's sync has read this replica's records. Unreplicated
// volumes have no replica to rejoin and skip it.
func (s *Server) holdView(vol *volume.Volume) viewHold {
	if vol.Placement().CopyCount() <= 1 {
		return viewHold{}
	}
	s.viewGate.RLock()
	return viewHold{&s.viewGate}
}

// viewHold is a shared hold of a Server's viewGate (none when gate is nil).
type viewHold struct{ gate *sync.RWMutex }

func (h viewHold) release() {
	if h.gate != nil {
		h.gate.RUnlock()
	}
}

// otherReplicas returns the replicas of vid other than this server.
func (s *Server) otherReplicas(ctx context.Context, vid needle.VolumeID) ([]wire.ReplicaLocation, error) {
	out, _, err := s.replicaView(ctx, vid)
	return out, err
}

// replicaView returns the replicas of vid other than this server, and
// whether the master's view lists this server among them.
func (s *Server) replicaView(ctx context.Context, vid needle.VolumeID) (others []wire.ReplicaLocation, listsSelf bool, err error) {
	self, known := s.knownSelf()
	if !known {
		return nil, false, errIdentityUnknown
	}
	locs, err := s.view.get(ctx, vid)
	if err != nil {
		return nil, false, err
	}
	others = make([]wire.ReplicaLocation, 0, len(locs))
	for _, l := range locs {
		if l.URL == self {
			listsSelf = true
		}
		if l.URL != "" && l.URL != self && !slices.ContainsFunc(others, func(o wire.ReplicaLocation) bool { return o.URL == l.URL }) {
			others = append(others, l)
		}
	}
	return others, listsSelf, nil
}

// masterError is a master's error answer.
type masterError struct {
	status int
	msg    string
}

func (e *masterError) Error() string { return fmt.Sprintf("master: %d %s", e.status, e.msg) }

// callMaster sends one request to the masters, the current leader first,
// and decodes a 2xx JSON reply into out. Followers forward these calls to
// the leader, so any master that answers will do; a master's error answer
// is returned as a *masterError without trying the others. Each master is
// given masterLookupTimeout (GET) or masterRecordTimeout to answer; when
// the heartbeats' master gave none and another did, the heartbeats move
// off it, and an answer that names the leader (forwarded by a follower)
// moves them to that leader.
func (s *Server) callMaster(ctx context.Context, method, path string, q url.Values, out any) error {
	first := s.hb.master()
	cands := append([]string{first}, s.opts.Masters...)
	timeout := masterRecordTimeout
	if method == http.MethodGet {
		timeout = masterLookupTimeout
	}
	var errs []error
	tried := map[string]bool{}
	firstSilent := false
	for _, m := range cands {
		if tried[m] {
			continue
		}
		tried[m] = true
		err := s.callOneMaster(ctx, m, method, path, q, out, timeout)
		if err == nil {
			if firstSilent {
				s.hb.unanswered(first)
			}
			return nil
		}
		var me *masterError
		if errors.As(err, &me) && me.status != http.StatusServiceUnavailable && me.status != http.StatusBadGateway {
			return err
		}
		if me == nil && m == first {
			firstSilent = true
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("%w: %s: %w", errNoMaster, path, errors.Join(errs...))
}

func (s *Server) callOneMaster(ctx context.Context, master, method, path string, q url.Values, out any, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target := "http://" + master + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return err
	}
	if strings.HasPrefix(path, "/admin/") {
		// Stale marks, sync tickets and reports: admin calls.
		s.signer.AuthorizeAdmin(req)
	}
	resp, err := s.fanout.Client().Do(req)
	if err != nil {
		return fmt.Errorf("master %s%s: %w", master, path, err)
	}
	defer resp.Body.Close()
	if leader := resp.Header.Get(wire.LeaderHeader); leader != "" {
		s.hb.leaderHint(leader)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("master %s%s: read reply: %w", master, path, err)
	}
	if resp.StatusCode/100 != 2 {
		msg := httpx.ErrorMessage(data)
		return &masterError{status: resp.StatusCode, msg: msg}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("master %s%s: bad reply: %w", master, path, err)
	}
	return nil
}

// markStale asks the leader to record, through Raft, that the replicas in
// nodes missed an operation on vid, and with wildcard that every replica
// other than those in reached did (the master listed fewer replicas than
// the volume has copies).
func (s *Server) markStale(ctx context.Context, vid needle.VolumeID, nodes []string, wildcard bool, reached []string) error {
	q := url.Values{"volume": {vid.String()}}
	if len(nodes) > 0 {
		q.Set("node", strings.Join(nodes, ","))
	}
	if wildcard {
		q.Set("any", "true")
		q.Set("reached", strings.Join(reached, ","))
	}
	if err := s.callMaster(ctx, http.MethodPost, wire.StalePath, q, nil); err != nil {
		return fmt.Errorf("record stale replicas %v (any other: %v) of volume %d: %w", nodes, wildcard, vid, err)
	}
	glog.V(1).Infof("volume %d: marked %v stale (any other than %v: %v)", vid, nodes, reached, wildcard)
	return nil
}

// staleTicket asks the leader whether this server is marked stale for vid
// and for a sync ticket.
func (s *Server) staleTicket(ctx context.Context, vid needle.VolumeID) (wire.StaleReply, error) {
	var r wire.StaleReply
	q := url.Values{"volume": {vid.String()}, "node": {s.self()}}
	err := s.callMaster(ctx, http.MethodGet, wire.StalePath, q, &r)
	return r, err
}

// reportSynced tells the leader that a sync of vid that started at ticket
// seq finished with the replicas in from; it answers whether this server
// is still marked stale.
func (s *Server) reportSynced(ctx context.Context, vid needle.VolumeID, seq uint64, from []string) (bool, error) {
	var r wire.StaleReply
	q := url.Values{"volume": {vid.String()}, "node": {s.self()}, "seq": {strconv.FormatUint(seq, 10)}, "from": {strings.Join(from, ",")}}
	if err := s.callMaster(ctx, http.MethodPost, wire.SyncedPath, q, &r); err != nil {
		return true, err
	}
	return r.Stale, nil
}

// pendingMark is a stale mark the leader could not record yet.
type pendingMark struct {
	vid      needle.VolumeID
	nodes    []string
	wildcard bool
	reached  []string
	since    time.Time
}

// markRetryFor bounds how long a stale mark is retried in the background.
const markRetryFor = time.Hour

// queueMark keeps a mark that could not be recorded, for retryMarks.
func (s *Server) queueMark(m pendingMark) {
	s.marksMu.Lock()
	defer s.marksMu.Unlock()
	m.since = time.Now()
	s.pendingMarks = append(s.pendingMarks, m)
}

// hasPendingMarks reports whether marks of vid are still waiting.
func (s *Server) hasPendingMarks(vid needle.VolumeID) bool {
	s.marksMu.Lock()
	defer s.marksMu.Unlock()
	return slices.ContainsFunc(s.pendingMarks, func(m pendingMark) bool { return m.vid == vid })
}

// retryMarks tries every waiting mark once; it keeps those that fail.
func (s *Server) retryMarks(ctx context.Context) {
	s.marksMu.Lock()
	todo := s.pendingMarks
	s.pendingMarks = nil
	s.marksMu.Unlock()
	var keep []pendingMark
	for _, m := range todo {
		err := s.markStale(ctx, m.vid, m.nodes, m.wildcard, m.reached)
		switch {
		case err == nil:
			glog.Infof("volume %d: recorded the stale mark of %v (any other than %v: %v) after %v", m.vid, m.nodes, m.reached, m.wildcard, time.Since(m.since).Round(time.Millisecond))
		case time.Since(m.since) > markRetryFor:
			glog.Errorf("volume %d: giving up recording stale replicas %v: %v", m.vid, m.nodes, err)
		default:
			keep = append(keep, m)
		}
	}
	if len(keep) > 0 {
		s.marksMu.Lock()
		s.pendingMarks = append(keep, s.pendingMarks...)
		s.marksMu.Unlock()
	}
}
