package wire

// StaleReply is the master's answer to GET StalePath and POST SyncedPath:
// whether the node is marked stale for the volume, and (GET) a ticket: a
// sync that starts after it covers every mark set so far.
type StaleReply struct {
	Stale bool   `json:"stale"`
	Seq   uint64 `json:"seq"`
}

// ReplicaLocation is one replica of a volume in the master's fan-out view
// (/dir/lookup?syncing=true): every replica the master knows, with whether
// it is syncing or marked stale.
type ReplicaLocation struct {
	URL       string `json:"url"`
	PublicURL string `json:"publicUrl"`
	Syncing   bool   `json:"syncing,omitempty"`
	Stale     bool   `json:"stale,omitempty"`
}

// Healthy reports whether the replica serves reads: it is neither syncing
// nor marked stale.
func (l ReplicaLocation) Healthy() bool { return !l.Syncing && !l.Stale }

// FanoutView is the master's answer to /dir/lookup?volumeId=N&syncing=true:
// every replica of the volume it knows, syncing and stale ones included.
// Volume servers fan writes and deletes out to them.
type FanoutView struct {
	VolumeID  string            `json:"volumeId"`
	Locations []ReplicaLocation `json:"locations"`
}

// VacuumCheckReply is a volume server's answer to VacuumCheckPath.
type VacuumCheckReply struct {
	// GarbageRatio is the share of the volume's .dat taken by deleted or
	// overwritten needles, between 0 and 1.
	GarbageRatio float64 `json:"garbageRatio"`
}

// DiskInfo is one -dir of a volume server in its heartbeat and in the
// master's /dir/status: the free and total bytes of the file system that
// holds it at the server's last check, and whether it is low on space (an
// append failed for lack of space, or the free space is below the server's
// -minFreeSpace): then its volumes report ReadOnly and take no new needles
// until space returns.
type DiskInfo struct {
	Dir      string `json:"dir"`
	Free     uint64 `json:"free"`
	Total    uint64 `json:"total"`
	LowSpace bool   `json:"lowSpace,omitempty"`
}

// RecordsRequest is the body of SyncRecordsPath: the .dat offsets of the
// records asked for.
type RecordsRequest struct {
	Offsets []int64 `json:"offsets"`
}
