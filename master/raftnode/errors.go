package raftnode

import "errors"

// ErrNotLeader is returned (wrapped) by leader-only operations on a
// follower, and by those whose leadership was lost meanwhile. The master
// answers it with 503 or forwards to the leader.
var ErrNotLeader = errors.New("not the raft leader")

// ErrAlreadyStarted is returned by a second call to Node.Start.
var ErrAlreadyStarted = errors.New("raft node already started")

// ErrBadSnapshot is returned by FSM.Restore when the snapshot is not one
// this version of weed can read.
var ErrBadSnapshot = errors.New("bad master snapshot")

// ErrTransportClosed is returned by Accept and Dial once the stream layer
// is closed.
var ErrTransportClosed = errors.New("raft transport closed")

// Errors of RemoveMember. Check them with errors.Is.
var (
	// ErrNotMember means the named master is not in the group. Servers
	// answer 404.
	ErrNotMember = errors.New("not a member of the group")
	// ErrLastMember means the named master is the group's only member,
	// which removing would leave without a group. Servers answer 409.
	ErrLastMember = errors.New("the group's last member")
)
