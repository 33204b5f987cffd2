package wire

import (
	"net"
	"strconv"

	"github.com/weedfs/weed/needle"
)

// HeartbeatVersion is the version of the heartbeat protocol this package
// speaks; Heartbeat.Version and HeartbeatReply.Version carry it.
const HeartbeatVersion = 1

// Heartbeat is what a volume server posts to the master every pulse
// (POST /admin/heartbeat, JSON). Its JSON form is
//
//	{"version":1,"ip":"127.0.0.1","port":8080,"publicUrl":"127.0.0.1:8080",
//	 "dataCenter":"dc1","rack":"","maxVolumeCount":7,"maxFileKey":42,
//	 "volumes":[VolumeInfo...],"disks":[DiskInfo...]}
//
// Volumes is the complete list of volumes the server holds: the master
// replaces what it knew about the node with it.
type Heartbeat struct {
	// Version is HeartbeatVersion; the master rejects any other value.
	Version int `json:"version"`
	// IP and Port are where the master and other servers reach the node;
	// together ("ip:port") they identify it. The master fills an empty IP
	// with the address the heartbeat came from.
	IP   string `json:"ip"`
	Port int    `json:"port"`
	// PublicURL is the address handed to clients; empty means "ip:port".
	PublicURL string `json:"publicUrl"`
	// DataCenter and Rack place the node; empty means DefaultDataCenter and
	// DefaultRack.
	DataCenter string `json:"dataCenter"`
	Rack       string `json:"rack"`
	// MaxVolumeCount is the number of volumes the node may hold (-max, summed
	// over its directories).
	MaxVolumeCount int `json:"maxVolumeCount"`
	// MaxFileKey is the largest needle key stored on the node, so that the
	// master never hands it out again.
	MaxFileKey needle.Key `json:"maxFileKey"`
	// Volumes lists every volume on the node.
	Volumes []VolumeInfo `json:"volumes"`
	// Disks lists the node's directories with their free and total bytes
	// (left out by servers that predate it).
	Disks []DiskInfo `json:"disks,omitempty"`
}

// URL returns the node's identity, "ip:port" (IPv6 addresses bracketed).
func (hb *Heartbeat) URL() string {
	return net.JoinHostPort(hb.IP, strconv.Itoa(hb.Port))
}

// HeartbeatReply is the master's answer to a heartbeat. Its JSON form is
//
//	{"version":1,"isLeader":true,"leader":"127.0.0.1:9333","volumeSizeLimit":31457280000,
//	 "ip":"127.0.0.1"}
//
// A follower answers with IsLeader false and Leader naming the leader's HTTP
// address (empty while there is none); the volume server then beats to it.
type HeartbeatReply struct {
	// Version is HeartbeatVersion.
	Version int `json:"version"`
	// IsLeader reports whether the answering master leads the group.
	IsLeader bool `json:"isLeader"`
	// Leader is the leader's HTTP address ("host:port").
	Leader string `json:"leader"`
	// VolumeSizeLimit is the size in bytes at which volumes stop taking writes.
	VolumeSizeLimit uint64 `json:"volumeSizeLimit"`
	// IP is the address the leader registered the node under: the
	// heartbeat's ip, or, when that was empty, the address the heartbeat
	// came from. A volume server started without -ip adopts it as its
	// identity. Followers and older masters leave it empty.
	IP string `json:"ip,omitempty"`
	// Stale lists the volumes of the node that the leader has marked stale
	// (they missed a delete): the node syncs them before serving them.
	Stale []needle.VolumeID `json:"stale,omitempty"`
}

// VolumeInfo describes one volume on one volume server. Its JSON is the
// volume entry of the volume server's /status (field for field as weed-fs
// printed it), followed by CompactRevision and Syncing; the master's
// /vol/status prints the same objects.
type VolumeInfo struct {
	ID               needle.VolumeID  `json:"Id"`
	Size             uint64           `json:"Size"`
	ReplicaPlacement needle.Placement `json:"ReplicaPlacement"`
	// TTL is the ttl's string form (needle.TTL.String), "" for none.
	TTL              string `json:"Ttl"`
	Collection       string `json:"Collection"`
	Version          uint8  `json:"Version"`
	FileCount        uint64 `json:"FileCount"`
	DeleteCount      uint64 `json:"DeleteCount"`
	DeletedByteCount uint64 `json:"DeletedByteCount"`
	ReadOnly         bool   `json:"ReadOnly"`
	CompactRevision  uint16 `json:"CompactRevision"`
	// Syncing marks a replica that is catching up after an outage: it is
	// neither written to nor routed to until it clears.
	Syncing bool `json:"Syncing"`
}
