package raftnode

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
	"strings"
	"sync"

	"github.com/golang/glog"
	"github.com/hashicorp/raft"

	"github.com/weedfs/weed/internal/httpx"
)

// Paths of the cluster endpoints every master answers itself.
const (
	JoinPath   = "/cluster/join"
	StatusPath = "/cluster/status"
)

// joinForwardedHeader marks a join a follower forwarded to the leader, so
// that it is forwarded at most once.
const joinForwardedHeader = "X-Weed-Join-Forwarded-By"

// membersHeader carries, on /cluster/status answers, the sorted members of
// the answering master's Raft configuration (comma-separated; absent when it
// has none yet). A fresh master uses it to tell a group still forming from
// the same -peers list (safe to bootstrap alongside) from an established
// group with other members (join it, never bootstrap beside it). The JSON
// body stays the one weed-fs clients know.
const membersHeader = "X-Weed-Raft-Members"

// maxJoinBody bounds the body of a join request and of a forwarded answer.
const maxJoinBody = 64 << 10

// JoinRequest is the body of POST /cluster/join: the HTTP address of the
// master that asks to become a voter.
type JoinRequest struct {
	// Name is the joining master's "host:port", its -peers entry.
	Name string `json:"name"`
	// ConnectionString is what weed-fs 0.70 also sent ("http://host:port");
	// it is used only when Name is empty.
	ConnectionString string `json:"connectionString,omitempty"`
}

// JoinReply is the body of a successful join: the leader that added the
// master.
type JoinReply struct {
	Leader string `json:"leader"`
}

// handleStatus answers GET /cluster/status with ClusterStatus, and the
// configuration's members in membersHeader.
func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	if members := n.members(); len(members) > 0 {
		w.Header().Set(membersHeader, strings.Join(members, ","))
	}
	httpx.WriteJSON(w, r, http.StatusOK, n.ClusterStatus())
}

// members returns the sorted addresses of the Raft configuration, nil
// before this node has one.
func (n *Node) members() []string {
	r := n.r.Load()
	if r == nil {
		return nil
	}
	f := r.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var m []string
	for _, s := range f.Configuration().Servers {
		m = append(m, string(s.Address))
	}
	slices.Sort(m)
	return m
}

// peerStatus is a peer's /cluster/status answer.
type peerStatus struct {
	ClusterStatus
	// members is the peer's Raft configuration, sorted; nil if it has none
	// (or did not say).
	members []string
}

// handleJoin answers POST /cluster/join. The leader adds the named master
// as a voter (a no-op if it already is one); a follower forwards the
// request to the leader once. 400 for a bad body, 503 without a leader.
func (n *Node) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJoinBody)).Decode(&req); err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, "bad join request: "+err.Error())
		return
	}
	name := strings.TrimSpace(req.Name)
	if name == "" {
		name = strings.TrimPrefix(strings.TrimSpace(req.ConnectionString), "http://")
	}
	if _, _, err := net.SplitHostPort(name); err != nil {
		httpx.WriteError(w, r, http.StatusBadRequest, fmt.Sprintf("bad join name %q: %v", name, err))
		return
	}
	rf := n.r.Load()
	if rf == nil {
		httpx.WriteError(w, r, http.StatusServiceUnavailable, "raft not started")
		return
	}
	glog.V(1).Infof("raft %s: join request from %s (leader %s)", n.self, name, n.Leader())
	if rf.State() == raft.Leader {
		err := n.addVoter(rf, name)
		if err == nil {
			httpx.WriteJSON(w, r, http.StatusOK, JoinReply{Leader: n.self})
			return
		}
		if !errors.Is(err, ErrNotLeader) {
			glog.Warningf("raft %s: add voter %s: %v", n.self, name, err)
			httpx.WriteError(w, r, http.StatusInternalServerError, err.Error())
			return
		}
	}
	leader := n.Leader()
	if r.Header.Get(joinForwardedHeader) != "" || leader == "" || leader == n.self {
		httpx.WriteError(w, r, http.StatusServiceUnavailable, "no raft leader known to "+n.self)
		return
	}
	n.forwardJoin(w, r, leader, name)
}

// addVoter makes name a voter unless it already is one with that address.
func (n *Node) addVoter(r *raft.Raft, name string) error {
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return raftErr("configuration", err)
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(name) && s.Address == raft.ServerAddress(name) && s.Suffrage == raft.Voter {
			return nil
		}
	}
	if err := r.AddVoter(raft.ServerID(name), raft.ServerAddress(name), 0, membershipTimeout).Error(); err != nil {
		return raftErr("add voter", err)
	}
	glog.Infof("raft %s: added voter %s", n.self, name)
	return nil
}

// forwardJoin relays a join to the leader and copies its answer back.
func (n *Node) forwardJoin(w http.ResponseWriter, r *http.Request, leader, name string) {
	ctx, cancel := context.WithTimeout(r.Context(), membershipTimeout+probeTimeout)
	defer cancel()
	status, body, err := n.postJoin(ctx, leader, name, n.self)
	if err != nil {
		httpx.WriteError(w, r, http.StatusBadGateway, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// postJoin sends a join for name to the master at target and returns its
// status and body. forwardedBy names the follower relaying it, "" if none.
func (n *Node) postJoin(ctx context.Context, target, name, forwardedBy string) (int, []byte, error) {
	payload, err := json.Marshal(JoinRequest{Name: name})
	if err != nil {
		return 0, nil, fmt.Errorf("encode join: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+target+JoinPath, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, fmt.Errorf("join request to %s: %w", target, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if forwardedBy != "" {
		req.Header.Set(joinForwardedHeader, forwardedBy)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("join through %s: %w", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJoinBody))
	if err != nil {
		return 0, nil, fmt.Errorf("join answer from %s: %w", target, err)
	}
	return resp.StatusCode, body, nil
}

// requestJoin asks target (the leader, or a follower that forwards) to add
// this master as a voter.
func (n *Node) requestJoin(target string) error {
	ctx, cancel := context.WithTimeout(n.ctx, membershipTimeout+2*probeTimeout)
	defer cancel()
	status, body, err := n.postJoin(ctx, target, n.self, "")
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("join answered %d: %s", status, strings.TrimSpace(string(body)))
	}
	return nil
}

// findLeader asks every peer for its /cluster/status at once. It returns a
// leader one of them knows (other than this master, "" if none does), how
// many answered, and whether one of them belongs to a group whose members
// differ from this master's -peers list.
func (n *Node) findLeader(peers []string) (leader string, reachable int, foreignGroup bool) {
	statuses := make([]*peerStatus, len(peers))
	ours := slices.Sorted(slices.Values(n.peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := n.fetchStatus(p)
			if err != nil {
				glog.V(1).Infof("raft %s: status of %s: %v", n.self, p, err)
				return
			}
			statuses[i] = st
		}()
	}
	wg.Wait()
	for _, st := range statuses {
		if st == nil {
			continue
		}
		reachable++
		if leader == "" && st.Leader != "" && st.Leader != n.self {
			leader = st.Leader
		}
		if st.members != nil && !slices.Equal(st.members, ours) {
			foreignGroup = true
		}
	}
	return leader, reachable, foreignGroup
}

// fetchStatus reads the /cluster/status of the master at addr.
func (n *Node) fetchStatus(addr string) (*peerStatus, error) {
	ctx, cancel := context.WithTimeout(n.ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+StatusPath, nil)
	if err != nil {
		return nil, fmt.Errorf("status request: %w", err)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get status: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status answered %s", resp.Status)
	}
	var st peerStatus
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJoinBody)).Decode(&st.ClusterStatus); err != nil {
		return nil, fmt.Errorf("decode status: %w", err)
	}
	if h := resp.Header.Get(membersHeader); h != "" {
		st.members = slices.Sorted(slices.Values(strings.Split(h, ",")))
	}
	return &st, nil
}

// RemoveMember takes the master named name ("host:port", as in -peers and
// /cluster/status) out of the Raft group, for good: the way to retire a
// master whose machine is gone, before or after its replacement joins. It
// must run on the leader (ErrNotLeader otherwise) and returns once the new
// configuration is committed. Removing the leader itself is allowed: it
// steps down and the others elect. A removed master that still runs stops
// taking part in Raft; restarted with a -peers list of the group and an
// empty -mdir, it joins again.
func (n *Node) RemoveMember(name string) error {
	r := n.leaderRaft()
	if r == nil {
		return ErrNotLeader
	}
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return raftErr("configuration", err)
	}
	servers := f.Configuration().Servers
	i := slices.IndexFunc(servers, func(s raft.Server) bool {
		return string(s.Address) == name || string(s.ID) == name
	})
	if i < 0 {
		return fmt.Errorf("%s: %w", name, ErrNotMember)
	}
	if len(servers) == 1 {
		return fmt.Errorf("%s: %w", name, ErrLastMember)
	}
	if err := r.RemoveServer(servers[i].ID, f.Index(), membershipTimeout).Error(); err != nil {
		return raftErr("remove server", err)
	}
	glog.Infof("raft %s: removed %s from the group", n.self, name)
	return nil
}
