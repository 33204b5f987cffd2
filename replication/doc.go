// Package replication is the replica protocol of weed's volume servers
// (docs/consistency.md) and the rule of where copies of a volume go.
//
// A Coordinator is one volume server's side of the protocol. Its Write and
// Delete apply a client's write or delete as the primary: here, then on
// every other replica of the master's fan-out view, undoing a failed write
// (rollback.go) and marking through the leader the replicas a delete
// missed (marks.go, retried in the background); they return a size or an
// error, which the volume server's handlers encode. The Coordinator keeps
// the replica state of every volume (syncer.go: healthy, or syncing after
// an outage), runs rejoin syncs (rejoin.go) and anti-entropy
// (antientropy.go), repairs damaged reads (readrepair.go) and copies
// volumes in (copy.go). A pairwise sync (reconcile.go) compares two Sides,
// the local Volume (LocalSide) or a Peer over HTTP, under the newest-wins
// rule (decide.go); replication/sidetest is the conformance suite both
// pass. Backup makes `weed backup`'s copy with the same protocol.
//
// Its collaborators are explicit (Deps): the engine's Store, Masters (the
// master calls; the volume server implements them over HTTP) and Peers
// (the other replicas; HTTPPeers). Placement strings ("xyz") are
// needle.Placement, which the engine stores in every superblock; Fits is
// the rule a set of copies must keep, and Fanout sends one request to
// several replicas at once.
package replication
