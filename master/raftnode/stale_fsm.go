package raftnode

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/weedfs/weed/needle"
)

// Stale marks (docs/consistency.md): when a delete (or a failed write's
// rollback) could not be applied on a replica, the primary has the leader
// record, before it acknowledges, that the replica is stale. A stale
// replica serves no reads (the master leaves it out of its read view and
// the replica syncs as soon as it hears of the mark) until it reports a
// sync that started after the mark, made with a replica that is not stale.
//
// A mark names replicas explicitly, or, when the primary knew fewer
// replicas than the volume has copies, every replica except those the
// operation reached (a wildcard mark). Marks are sequenced by their Raft
// log index; a sync ticket is the leader's last log index when the sync
// started.

// staleState is the marks part of the FSM.
type staleState map[needle.VolumeID]*volumeMarks

// volumeMarks are the marks of one volume.
type volumeMarks struct {
	// Any is the index of the last wildcard mark (0: none): every replica
	// not reached by it, and not synced since, is stale.
	Any uint64 `json:"any,omitempty"`
	// Nodes holds per-replica state, by "ip:port".
	Nodes map[string]*nodeMarks `json:"nodes,omitempty"`
}

// nodeMarks is one replica's state for one volume.
type nodeMarks struct {
	// Mark is the index of its explicit mark (0: none).
	Mark uint64 `json:"mark,omitempty"`
	// Reached is the index of the last wildcard mark whose operation
	// reached it.
	Reached uint64 `json:"reached,omitempty"`
	// Synced is the ticket of its last accepted sync.
	Synced uint64 `json:"synced,omitempty"`
	// ClearedAt is the index of the entry that accepted that sync.
	ClearedAt uint64 `json:"clearedAt,omitempty"`
}

// stale reports whether node is stale for the volume.
func (vm *volumeMarks) stale(node string) bool {
	n := vm.Nodes[node]
	if n != nil && n.Mark != 0 {
		return true
	}
	if vm.Any == 0 {
		return false
	}
	return n == nil || (n.Reached < vm.Any && n.Synced < vm.Any)
}

func (vm *volumeMarks) node(name string) *nodeMarks {
	if vm.Nodes == nil {
		vm.Nodes = make(map[string]*nodeMarks)
	}
	n := vm.Nodes[name]
	if n == nil {
		n = &nodeMarks{}
		vm.Nodes[name] = n
	}
	return n
}

// wellFormed reports whether no entry is nil (a snapshot could say null).
func (s staleState) wellFormed() bool {
	for _, vm := range s {
		if vm == nil {
			return false
		}
		for _, n := range vm.Nodes {
			if n == nil {
				return false
			}
		}
	}
	return true
}

// clone returns a deep copy.
func (s staleState) clone() staleState {
	out := make(staleState, len(s))
	for vid, vm := range s {
		c := &volumeMarks{Any: vm.Any, Nodes: make(map[string]*nodeMarks, len(vm.Nodes))}
		for k, n := range vm.Nodes {
			nn := *n
			c.Nodes[k] = &nn
		}
		out[vid] = c
	}
	return out
}

// staleMarkCmd is the body of cmdStaleMark.
type staleMarkCmd struct {
	Volume   needle.VolumeID `json:"volume"`
	Nodes    []string        `json:"nodes,omitempty"`
	Wildcard bool            `json:"any,omitempty"`
	Reached  []string        `json:"reached,omitempty"`
}

// staleSyncedCmd is the body of cmdStaleSynced.
type staleSyncedCmd struct {
	Volume needle.VolumeID `json:"volume"`
	Node   string          `json:"node"`
	Ticket uint64          `json:"ticket"`
	From   []string        `json:"from,omitempty"`
}

// staleForgetCmd is the body of cmdStaleForget: drop what is known of a
// replica that was deleted (or of the whole volume when Node is empty).
type staleForgetCmd struct {
	Volume needle.VolumeID `json:"volume"`
	Node   string          `json:"node,omitempty"`
}

func encodeStaleCmd(t commandType, body any) []byte {
	b, err := json.Marshal(body)
	if err != nil {
		panic(fmt.Sprintf("master fsm: encode command %d: %v", t, err))
	}
	return append([]byte{byte(t)}, b...)
}

func decodeStaleCmd(body []byte, out any, what string) {
	if err := json.Unmarshal(body, out); err != nil {
		panic(fmt.Sprintf("master fsm: malformed %s command: %v", what, err))
	}
}

// applyStaleMark records a mark at log index idx.
func (f *FSM) applyStaleMark(idx uint64, body []byte) any {
	var c staleMarkCmd
	decodeStaleCmd(body, &c, "stale mark")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stale == nil {
		f.stale = make(staleState)
	}
	vm := f.stale[c.Volume]
	if vm == nil {
		vm = &volumeMarks{}
		f.stale[c.Volume] = vm
	}
	for _, n := range c.Nodes {
		vm.node(n).Mark = idx
	}
	if c.Wildcard {
		vm.Any = idx
		for _, n := range c.Reached {
			vm.node(n).Reached = idx
		}
	}
	return idx
}

// applyStaleSynced accepts a sync that started at c.Ticket if one of the
// replicas it was made with is not stale and had not itself been cleared
// after the ticket (so it held everything marked before it); the node's
// marks up to the ticket are then cleared. It returns whether the node is
// still stale.
func (f *FSM) applyStaleSynced(idx uint64, body []byte) any {
	var c staleSyncedCmd
	decodeStaleCmd(body, &c, "stale synced")
	f.mu.Lock()
	defer f.mu.Unlock()
	vm := f.stale[c.Volume]
	if vm == nil || !vm.stale(c.Node) {
		return false
	}
	valid := false
	for _, src := range c.From {
		if src == c.Node || vm.stale(src) {
			continue
		}
		if n := vm.Nodes[src]; n == nil || n.ClearedAt <= c.Ticket {
			valid = true
			break
		}
	}
	if !valid {
		return true
	}
	n := vm.node(c.Node)
	if n.Mark != 0 && n.Mark <= c.Ticket {
		n.Mark = 0
	}
	n.Synced = max(n.Synced, c.Ticket)
	n.ClearedAt = idx
	return vm.stale(c.Node)
}

// applyStaleForget drops a replica's (or a volume's) marks.
func (f *FSM) applyStaleForget(_ uint64, body []byte) any {
	var c staleForgetCmd
	decodeStaleCmd(body, &c, "stale forget")
	f.mu.Lock()
	defer f.mu.Unlock()
	vm := f.stale[c.Volume]
	if vm == nil {
		return nil
	}
	if c.Node == "" {
		delete(f.stale, c.Volume)
		return nil
	}
	delete(vm.Nodes, c.Node)
	if vm.Any == 0 && len(vm.Nodes) == 0 {
		delete(f.stale, c.Volume)
	}
	return nil
}

// IsStale reports whether node is marked stale for volume vid.
func (f *FSM) IsStale(vid needle.VolumeID, node string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	vm := f.stale[vid]
	return vm != nil && vm.stale(node)
}

// markCovered reports whether a mark of nodes (and, with wildcard, of
// every replica not in reached) recorded now would change nothing: each
// is already marked by an entry after every ticket handed out
// (ticketFloor), so no sync can clear that mark without covering the new
// operation.
func (f *FSM) markCovered(vid needle.VolumeID, nodes []string, wildcard bool, reached []string, ticketFloor uint64) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	vm := f.stale[vid]
	if vm == nil {
		return false
	}
	for _, n := range nodes {
		nm := vm.Nodes[n]
		if nm == nil || nm.Mark == 0 || nm.Mark <= ticketFloor {
			return false
		}
	}
	if !wildcard {
		return true
	}
	if vm.Any == 0 || vm.Any <= ticketFloor {
		return false
	}
	// Every replica reached by the existing wildcard must be reached now.
	for name, n := range vm.Nodes {
		if n.Reached == vm.Any && !slices.Contains(reached, name) {
			return false
		}
	}
	return true
}

// StaleMarks returns a copy of every volume's marks, for /admin/stale/list
// and tests.
func (f *FSM) StaleMarks() map[needle.VolumeID]StaleVolumeMarks {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[needle.VolumeID]StaleVolumeMarks, len(f.stale))
	for vid, vm := range f.stale {
		sv := StaleVolumeMarks{Wildcard: vm.Any, Stale: []string{}}
		for _, name := range slices.Sorted(maps.Keys(vm.Nodes)) {
			if vm.stale(name) {
				sv.Stale = append(sv.Stale, name)
			}
		}
		out[vid] = sv
	}
	return out
}

// StaleVolumeMarks summarizes one volume's marks: the replicas known to be
// stale, and the index of the last wildcard mark (replicas never heard of
// since are stale too).
type StaleVolumeMarks struct {
	Stale    []string `json:"stale"`
	Wildcard uint64   `json:"wildcard,omitempty"`
}
