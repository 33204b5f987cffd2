package volume

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
	"github.com/weedfs/weed/topology"
)

// HeartbeatPath is the master endpoint heartbeats are posted to.
const HeartbeatPath = topology.HeartbeatPath

// maxLeaderHops bounds how many "the leader is elsewhere" answers one beat
// follows before giving up until the next pulse.
const maxLeaderHops = 3

// maxHeartbeatReply bounds how much of a master's reply is read.
const maxHeartbeatReply = 64 << 10

// heartbeater posts the server's state to the leading master: every pulse,
// and right away when triggered (a volume was created or deleted). It starts
// with the first master of the list, follows the leader a follower names,
// and on failures rotates through the list and the last known leader.
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
}

func newHeartbeater(s *Server, masters []string, pulse time.Duration) *heartbeater {
	return &heartbeater{
		s:       s,
		masters: masters,
		pulse:   pulse,
		timeout: min(max(pulse, 2*time.Second), 30*time.Second),
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
func (h *heartbeater) beat(ctx context.Context) error {
	hb := h.s.heartbeat()
	body, err := json.Marshal(hb)
	if err != nil {
		return fmt.Errorf("encode heartbeat: %w", err)
	}
	master := h.master()
	for hop := 0; hop < maxLeaderHops; hop++ {
		reply, err := h.send(ctx, master, body)
		if err != nil {
			if ctx.Err() == nil {
				h.rotate(master)
			}
			return err
		}
		h.s.sync.masterAnswered()
		if reply.IsLeader {
			h.connectedTo(master, reply)
			h.s.sync.leaderAnswered(reply.Stale)
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
func (h *heartbeater) connectedTo(master string, reply topology.HeartbeatReply) {
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

// send posts one encoded heartbeat to master and decodes the reply.
func (h *heartbeater) send(ctx context.Context, master string, body []byte) (topology.HeartbeatReply, error) {
	var reply topology.HeartbeatReply
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	target := "http://" + master + HeartbeatPath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return reply, fmt.Errorf("heartbeat to %s: %w", master, err)
	}
	req.Header.Set("Content-Type", "application/json")
	h.s.signer.AuthorizeAdmin(req)
	resp, err := h.s.fanout.Client().Do(req)
	if err != nil {
		return reply, fmt.Errorf("heartbeat to %s: %w", master, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxHeartbeatReply))
	if err != nil {
		return reply, fmt.Errorf("heartbeat to %s: read reply: %w", master, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := httpx.ErrorMessage(data)
		return reply, fmt.Errorf("heartbeat to %s: %d %s", master, resp.StatusCode, msg)
	}
	if err := json.Unmarshal(data, &reply); err != nil {
		return reply, fmt.Errorf("heartbeat to %s: bad reply: %w", master, err)
	}
	if reply.Version != topology.HeartbeatVersion {
		return reply, fmt.Errorf("heartbeat to %s: %w: reply version %d, want %d", master, errHeartbeatVersion, reply.Version, topology.HeartbeatVersion)
	}
	return reply, nil
}

// errHeartbeatVersion means a master speaks another heartbeat protocol.
var errHeartbeatVersion = errors.New("unsupported heartbeat protocol")

// heartbeat describes the server and every volume it holds.
func (s *Server) heartbeat() *topology.Heartbeat {
	// Measured first, so that the volumes' ReadOnly matches the disks.
	disks := s.store.CheckSpace()
	vols := s.store.Status()
	if vols == nil {
		vols = []topology.VolumeInfo{}
	}
	s.sync.markHeartbeat(vols)
	return &topology.Heartbeat{
		Version:        topology.HeartbeatVersion,
		IP:             s.opts.IP,
		Port:           s.opts.Port,
		PublicURL:      s.opts.PublicURL,
		DataCenter:     s.opts.DataCenter,
		Rack:           s.opts.Rack,
		MaxVolumeCount: s.store.MaxVolumeCount(),
		MaxFileKey:     s.store.MaxFileKey(),
		Volumes:        vols,
		Disks:          disks,
	}
}
