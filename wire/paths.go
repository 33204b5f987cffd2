// Package wire is the contract between weed's daemons and their clients:
// the paths of the endpoints masters and volume servers call on each other,
// the headers they set, and the JSON bodies they exchange (heartbeats, stale
// marks, fan-out views, assignments). Both sides of every call use these
// names; the package holds no logic beyond encoding, so that it can sit
// below every other package of weed (it imports only needle).
package wire

// Paths of the HTTP endpoints masters and volume servers call on each other
// (docs/design.md, docs/consistency.md). Both sides use these constants; the
// JSON bodies are the types below and Heartbeat/HeartbeatReply.
const (
	// HeartbeatPath (master): POST a Heartbeat → HeartbeatReply.
	HeartbeatPath = "/admin/heartbeat"
	// StalePath (master): POST ?volume=&node=a,b[&any=true&reached=c,d]
	// records stale marks through Raft; GET ?volume=&node= → StaleReply
	// with a sync ticket.
	StalePath = "/admin/stale"
	// SyncedPath (master): POST ?volume=&node=&seq=&from=a,b reports a
	// sync that started at ticket seq, made with the replicas in from →
	// StaleReply.
	SyncedPath = "/admin/synced"
	// StaleListPath (master): GET → every volume's marks.
	StaleListPath = "/admin/stale/list"

	// AssignVolumePath (volume server) creates an empty volume:
	// POST ?volume=&collection=&replication=&ttl=.
	AssignVolumePath = "/admin/assign_volume"
	// DeleteVolumePath (volume server) removes a volume's files:
	// POST ?volume=.
	DeleteVolumePath = "/admin/delete_volume"
	// VacuumCheckPath (volume server) reports a volume's garbage ratio:
	// GET ?volume=&garbageThreshold= → VacuumCheckReply.
	VacuumCheckPath = "/admin/vacuum/check"
	// VacuumCompactPath (volume server) copies a volume's live needles
	// aside: POST ?volume=.
	VacuumCompactPath = "/admin/vacuum/compact"
	// VacuumCommitPath (volume server) swaps the compacted copy in:
	// POST ?volume=.
	VacuumCommitPath = "/admin/vacuum/commit"
	// VacuumCleanupPath (volume server) discards an uncommitted
	// compaction: POST ?volume=.
	VacuumCleanupPath = "/admin/vacuum/cleanup"
	// DeleteCollectionPath (volume server) removes every volume of a
	// collection: POST ?collection=.
	DeleteCollectionPath = "/admin/delete_collection"
	// CopyVolumePath (volume server) copies a volume from another server
	// and syncs it: POST ?volume=&collection=&replication=&ttl=&source=.
	CopyVolumePath = "/admin/copy_volume"
)

// LeaderHeader names, on an answer a follower master forwarded from the
// leader, the leader that gave it ("host:port"). A volume server that sees
// a leader there other than the one it heartbeats to moves its heartbeats
// there at once.
const LeaderHeader = "X-Weed-Leader"

// DeadPulses is how many pulses a volume server may stay silent before the
// leader drops it from the topology; a volume server that has heard no
// master for as many pulses treats itself as cut off.
const DeadPulses = 3

// NeedleContentType is the Content-Type of a replicated write: the body is
// one encoded needle record (version 3).
const NeedleContentType = "application/x-weed-needle"

// Paths of the endpoints replicas (and `weed backup`) use to compare and
// exchange records. Every one takes ?volume=.
const (
	// SyncStatusPath: GET → the replica's sync status (JSON).
	SyncStatusPath = "/admin/sync/status"
	// SyncSincePath: GET ?ts=<unix ns> → JSON records appended since.
	SyncSincePath = "/admin/sync/since"
	// SyncRecordsPath: POST {"offsets":[...]} → the records, concatenated.
	SyncRecordsPath = "/admin/sync/records"
	// SyncApplyPath: POST the records, concatenated (?allowNew=true,
	// ?repair=true: a copy of the same time replaces a damaged live
	// needle) → the apply result (JSON).
	SyncApplyPath = "/admin/sync/apply"
	// SyncDigestPath: GET → the volume's digest (JSON array of buckets).
	SyncDigestPath = "/admin/sync/digest"
	// SyncKeysPath: GET ?buckets=1,2 → JSON records, the latest record of
	// every key in those buckets.
	SyncKeysPath = "/admin/sync/keys"
	// SyncNeedlePath: GET ?key=<hex> → the live record of a key.
	SyncNeedlePath = "/admin/sync/needle"
	// SyncDatPath: GET → the .dat as it is now (rate-limited).
	SyncDatPath = "/admin/sync/dat"
	// SyncHelloPath: POST → a replica announces it rejoins: the receiver
	// drops its cached fan-out view of the volume.
	SyncHelloPath = "/admin/sync/hello"
)

// RecordsContentType is the type of a body of concatenated needle records.
const RecordsContentType = "application/x-weed-needles"

// DatSizeHeader carries the number of bytes a SyncDatPath reply streams.
const DatSizeHeader = "X-Weed-Dat-Size"

// ChangesState reports whether the volume server's admin endpoint method
// path changes the server's state: every POST but SyncRecordsPath, which
// only reads records (it is a POST for its body of offsets). With a secret,
// those need an admin token; the others read, as GET /<fid> does, and need
// none.
func ChangesState(method, path string) bool {
	return method == "POST" && path != SyncRecordsPath
}
