package topology

// LeaderHeader names, on an answer a follower master forwarded from the
// leader, the leader that gave it ("host:port"). A volume server that sees
// a leader there other than the one it heartbeats to moves its heartbeats
// there at once.
const LeaderHeader = "X-Weed-Leader"
