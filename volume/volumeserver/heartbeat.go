package volumeserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/wire"
)

// maxLeaderHops bounds how many "the leader is elsewhere" answers one beat
// follows before giving up until the next pulse.
const maxLeaderHops = 3

// maxHeartbeatReply bounds how much of a master's reply is read.
const maxHeartbeatReply = 64 << 10

// Bounds of one heartbeat request: a pulse, but at least
// minHeartbeatTimeout (a busy leader answers late) and at most
// maxHeartbeatTimeout, so that a paused or hung master is left for the
// next one quickly.
const (
	minHeartbeatTimeout = 2 * time.Second
	maxHeartbeatTimeout = 3 * time.Second
)

// heartbeater posts the server's state to the leading master: every pulse,
// and right away when triggered (a volume was created or deleted). It starts
// with the first master of the list, follows the leader a follower names
// (in a heartbeat reply, or on an answer it forwarded: leaderHint), and when
// a master does not answer moves on at once through the list and the last
// known leader.
type heartbeater struct {
	s       *Server
	masters []string
	pulse   time.Duration
	timeout time.Duration
	trigger chan struct{}

	mu        sync.Mutex
	current   string // the master the next beat goes to
	leader    string // the last leader a master named
	connected string // the leader of the last successful beat
	failing   bool   // the last beat failed (to log a failure streak once)
	sizeLimit uint64 // the volume size limit applied last
	// inflight is the master a heartbeat request is waiting on, and
	// cancelBeat abandons that request (a leader hint named another).
	inflight   string
	cancelBeat context.CancelFunc
}

func newHeartbeater(s *Server, masters []string, pulse time.Duration) *heartbeater {
	return &heartbeater{
		s:       s,
		masters: masters,
		pulse:   pulse,
		timeout: min(max(pulse, minHeartbeatTimeout), maxHeartbeatTimeout),
		trigger: make(chan struct{}, 1),
		current: masters[0],
	}
}

// beatSoon asks for a heartbeat now, without waiting for the pulse. It never
// blocks; requests made while one is pending are merged.
func (h *heartbeater) beatSoon() {
	select {
	case h.trigger <- struct{}{}:
	default:
	}
}

// leaderHint moves the heartbeats to leader, named by a master's answer
// (a follower forwarded a call to it), at once: a heartbeat waiting on
// another master is abandoned and a new one sent. It is cheap when leader
// is already the target.
func (h *heartbeater) leaderHint(leader string) {
	h.mu.Lock()
	if leader == "" || (h.current == leader && h.leader == leader) {
		h.mu.Unlock()
		return
	}
	from := h.current
	h.current, h.leader = leader, leader
	if h.cancelBeat != nil && h.inflight != leader {
		h.cancelBeat()
	}
	h.mu.Unlock()
	glog.V(0).Infof("a master names %s as the leader; moving heartbeats there from %s", leader, from)
	h.beatSoon()
}

// unanswered moves the heartbeats off master when it did not answer a call
// and another master did, unless they have moved already.
func (h *heartbeater) unanswered(master string) {
	if h.master() != master {
		return
	}
	h.rotate(master)
	h.beatSoon()
}

// master returns the master the next beat goes to.
func (h *heartbeater) master() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.current
}

// run beats until ctx ends.
func (h *heartbeater) run(ctx context.Context) {
	glog.Infof("Volume server bootstraps with master %s", h.master())
	ticker := time.NewTicker(h.pulse)
	defer ticker.Stop()
	for {
		if err := h.beat(ctx); err != nil && ctx.Err() == nil {
			h.mu.Lock()
			first := !h.failing
			h.failing = true
			h.mu.Unlock()
			if first {
				glog.Warningf("heartbeat: %v", err)
			} else {
				glog.V(1).Infof("heartbeat: %v", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-h.trigger:
		}
	}
}

// beat sends one heartbeat, following a follower's pointer to the leader.
// A master that cannot be reached or does not answer in time is left for
// the next candidate within the same beat, each candidate tried once.
func (h *heartbeater) beat(ctx context.Context) error {
	hb := h.s.heartbeat()
	body, err := json.Marshal(hb)
	if err != nil {
		return fmt.Errorf("encode heartbeat: %w", err)
	}
	master := h.master()
	unreachable := 0
	for hop := 0; hop < maxLeaderHops; {
		reply, err := h.send(ctx, master, body)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			if next := h.master(); next != master {
				// A leader hint moved the heartbeats while this one
				// waited.
				unreachable++
				if unreachable > h.candidates() {
					return err
				}
				master = next
				continue
			}
			h.rotate(master)
			var ue *unreachableError
			if unreachable++; !errors.As(err, &ue) || unreachable >= h.candidates() {
				return err
			}
			glog.V(1).Infof("heartbeat: %v; trying %s", err, h.master())
			master = h.master()
			continue
		}
		hop++
		h.s.repl.MasterAnswered()
		if reply.IsLeader {
			h.connectedTo(master, reply)
			h.s.repl.LeaderAnswered(reply.Stale)
			return nil
		}
		if reply.Leader == "" || reply.Leader == master {
			h.rotate(master)
			return fmt.Errorf("master %s is not the leader and names none", master)
		}
		glog.V(0).Infof("master %s is not the leader; moving heartbeats to the leader %s", master, reply.Leader)
		master = reply.Leader
		h.mu.Lock()
		h.current, h.leader = master, master
		h.mu.Unlock()
	}
	return fmt.Errorf("no leader found after %d redirections (last: %s)", maxLeaderHops, master)
}

// connectedTo records a successful beat to the leader master.
func (h *heartbeater) connectedTo(master string, reply wire.HeartbeatReply) {
	h.mu.Lock()
	changed := h.connected != master
	recovered := h.failing
	h.connected, h.current, h.leader, h.failing = master, master, master, false
	limitChanged := reply.VolumeSizeLimit > 0 && reply.VolumeSizeLimit != h.sizeLimit
	if limitChanged {
		h.sizeLimit = reply.VolumeSizeLimit
	}
	h.mu.Unlock()
	if changed {
		glog.Infof("Volume Server Connected with master at %s", master)
	} else if recovered {
		glog.Infof("heartbeats to master %s work again", master)
	}
	if limitChanged {
		glog.V(1).Infof("volume size limit is %d bytes", reply.VolumeSizeLimit)
		h.s.store.SetVolumeSizeLimit(reply.VolumeSizeLimit)
	}
	if h.s.opts.IP == "" {
		if net.ParseIP(reply.IP) == nil {
			if _, known := h.s.knownSelf(); !known && changed {
				glog.Warningf("master %s did not name this server's address (%q); start it with -ip", master, reply.IP)
			}
		} else {
			h.s.adoptIP(reply.IP)
		}
	}
}

// rotate moves the next beat to the master after failed in the list of
// candidates (the -mserver list, plus the last known leader when it is not
// in the list).
func (h *heartbeater) rotate(failed string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cands := h.masters
	if h.leader != "" && !slices.Contains(cands, h.leader) {
		cands = append(slices.Clip(cands), h.leader)
	}
	i := slices.Index(cands, failed)
	h.current = cands[(i+1)%len(cands)]
	if h.current != failed {
		glog.V(1).Infof("heartbeat: trying master %s after %s", h.current, failed)
	}
}

// candidates returns how many masters a beat may try: the -mserver list,
// plus the last known leader when it is not in the list.
func (h *heartbeater) candidates() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.leader != "" && !slices.Contains(h.masters, h.leader) {
		return len(h.masters) + 1
	}
	return len(h.masters)
}

// unreachableError is a master that could not be reached or did not answer
// in time (as opposed to one that answered with an error).
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// send posts one encoded heartbeat to master and decodes the reply. It
// waits at most h.timeout, less if leaderHint abandons it; an
// *unreachableError means no answer came.
func (h *heartbeater) send(ctx context.Context, master string, body []byte) (wire.HeartbeatReply, error) {
	var reply wire.HeartbeatReply
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	h.mu.Lock()
	h.inflight, h.cancelBeat = master, cancel
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.inflight, h.cancelBeat = "", nil
		h.mu.Unlock()
	}()
	target := "http://" + master + wire.HeartbeatPath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return reply, fmt.Errorf("heartbeat to %s: %w", master, err)
	}
	req.Header.Set("Content-Type", "application/json")
	h.s.signer.AuthorizeAdmin(req)
	resp, err := h.s.fanout.Client().Do(req)
	if err != nil {
		return reply, &unreachableError{fmt.Errorf("heartbeat to %s: %w", master, err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxHeartbeatReply))
	if err != nil {
		return reply, &unreachableError{fmt.Errorf("heartbeat to %s: read reply: %w", master, err)}
	}
	if resp.StatusCode != http.StatusOK {
		msg := httpx.ErrorMessage(data)
		return reply, fmt.Errorf("heartbeat to %s: %d %s", master, resp.StatusCode, msg)
	}
	if err := json.Unmarshal(data, &reply); err != nil {
		return reply, fmt.Errorf("heartbeat to %s: bad reply: %w", master, err)
	}
	if reply.Version != wire.HeartbeatVersion {
		return reply, fmt.Errorf("heartbeat to %s: %w: reply version %d, want %d", master, errHeartbeatVersion, reply.Version, wire.HeartbeatVersion)
	}
	return reply, nil
}

// errHeartbeatVersion means a master speaks another heartbeat protocol.
var errHeartbeatVersion = errors.New("unsupported heartbeat protocol")

// heartbeat describes the server and every volume it holds.
func (s *Server) heartbeat() *wire.Heartbeat {
	// Measured first, so that the volumes' ReadOnly matches the disks.
	disks := s.store.CheckSpace()
	vols := s.store.Status()
	if vols == nil {
		vols = []wire.VolumeInfo{}
	}
	s.repl.MarkHeartbeat(vols)
	return &wire.Heartbeat{
		Version:        wire.HeartbeatVersion,
		IP:             s.opts.IP,
		Port:           s.opts.Port,
		PublicURL:      s.publicURL(),
		DataCenter:     s.opts.DataCenter,
		Rack:           s.opts.Rack,
		MaxVolumeCount: s.store.MaxVolumeCount(),
		MaxFileKey:     s.store.MaxFileKey(),
		Volumes:        vols,
		Disks:          disks,
	}
}
