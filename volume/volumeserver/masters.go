package volumeserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// masterCalls is the replica protocol's way to the masters
// (replication.Masters) over HTTP: every call goes to the heartbeats'
// current master first, moves on to the others, and moves the heartbeats
// off a master that did not answer or to a leader an answer names.
type masterCalls struct{ s *Server }

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
)

// FanoutView asks /dir/lookup?volumeId=&syncing=true (a 404 is no
// replica).
func (m masterCalls) FanoutView(ctx context.Context, vid needle.VolumeID) ([]wire.ReplicaLocation, error) {
	var reply wire.FanoutView
	q := url.Values{"volumeId": {vid.String()}, "syncing": {"true"}}
	err := m.s.callMaster(ctx, http.MethodGet, "/dir/lookup", q, &reply)
	var me *masterError
	if errors.As(err, &me) && me.status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return reply.Locations, nil
}

// MarkStale posts wire.StalePath.
func (m masterCalls) MarkStale(ctx context.Context, vid needle.VolumeID, nodes []string, wildcard bool, reached []string) error {
	q := url.Values{"volume": {vid.String()}}
	if len(nodes) > 0 {
		q.Set("node", strings.Join(nodes, ","))
	}
	if wildcard {
		q.Set("any", "true")
		q.Set("reached", strings.Join(reached, ","))
	}
	return m.s.callMaster(ctx, http.MethodPost, wire.StalePath, q, nil)
}

// StaleTicket gets wire.StalePath.
func (m masterCalls) StaleTicket(ctx context.Context, vid needle.VolumeID, node string) (wire.StaleReply, error) {
	var r wire.StaleReply
	q := url.Values{"volume": {vid.String()}, "node": {node}}
	err := m.s.callMaster(ctx, http.MethodGet, wire.StalePath, q, &r)
	return r, err
}

// ReportSynced posts wire.SyncedPath.
func (m masterCalls) ReportSynced(ctx context.Context, vid needle.VolumeID, node string, seq uint64, from []string) (bool, error) {
	var r wire.StaleReply
	q := url.Values{"volume": {vid.String()}, "node": {node}, "seq": {strconv.FormatUint(seq, 10)}, "from": {strings.Join(from, ",")}}
	if err := m.s.callMaster(ctx, http.MethodPost, wire.SyncedPath, q, &r); err != nil {
		return true, err
	}
	return r.Stale, nil
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
