package master

import "context"

// Deps are what a Server is built on, each named: the Raft node
// (raftnode.Node) provides all of them in production, tests give fakes.
// Sequencer and Leadership are required; a nil optional field means the
// power is not available (a master without a Raft group), and the
// endpoints that need it answer 501.
type Deps struct {
	// Sequencer hands out file keys and volume ids. Required.
	Sequencer Sequencer
	// Leadership tells who leads. Required.
	Leadership Leadership
	// Stale records and answers the stale marks; nil: this master keeps
	// none (the stale endpoints answer 501, the topology marks no replica
	// stale).
	Stale StaleMarker
	// Members takes masters out of the group; nil: /cluster/remove answers
	// 501.
	Members MemberRemover
	// Ready tells whether a new leader's replicated state is current;
	// nil: a leader is ready as soon as it leads.
	Ready LeaderReadiness
	// Term tells the Raft term (weed_master_raft_term, the console); nil:
	// no term is shown.
	Term Termer
}

// MemberRemover takes a master out of the Raft group. RemoveMember runs
// on the leader only (raftnode.ErrNotLeader otherwise) and fails with
// raftnode.ErrNotMember for a master not in the group and
// raftnode.ErrLastMember for the group's only member.
type MemberRemover interface {
	RemoveMember(name string) error
}

// LeaderReadiness tells whether this master, as leader, may answer from
// replicated state: LeaderReady returns nil once it leads and has applied
// every entry committed before its term, raftnode.ErrNotLeader (wrapped)
// when it does not lead.
type LeaderReadiness interface {
	LeaderReady(ctx context.Context) error
}

// RemovePath is the endpoint that takes a master out of the group
// (POST, form field peer=host:port). Unlike join it is an operator's
// request: followers forward it to the leader like any leader endpoint, and
// the white list guards it.
const RemovePath = "/cluster/remove"
