package topology

import (
	"fmt"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// layoutOf returns the key of the volume layout v belongs to. It
// fails with ErrBadHeartbeat when the ttl or the placement is malformed.
func layoutOf(v wire.VolumeInfo) (LayoutKey, error) {
	ttl, err := needle.ParseTTL(v.TTL)
	if err != nil {
		return LayoutKey{}, fmt.Errorf("%w: volume %d: %w", ErrBadHeartbeat, v.ID, err)
	}
	p := v.ReplicaPlacement
	if !validDigit(p.DiffDataCenter) || !validDigit(p.DiffRack) || !validDigit(p.SameRack) ||
		p.DiffDataCenter*100+p.DiffRack*10+p.SameRack > 255 {
		return LayoutKey{}, fmt.Errorf("%w: volume %d: replication %+v out of range", ErrBadHeartbeat, v.ID, p)
	}
	return newLayoutKey(v.Collection, p, ttl), nil
}

func validDigit(d int) bool { return d >= 0 && d <= 9 }

// validateHeartbeat checks a heartbeat and returns its volumes with canonical ttl
// strings, together with their layout keys.
func validateHeartbeat(hb *wire.Heartbeat) ([]wire.VolumeInfo, []LayoutKey, error) {
	if hb.Version != wire.HeartbeatVersion {
		return nil, nil, fmt.Errorf("%w: version %d, want %d", ErrBadHeartbeat, hb.Version, wire.HeartbeatVersion)
	}
	if hb.IP == "" {
		return nil, nil, fmt.Errorf("%w: empty ip", ErrBadHeartbeat)
	}
	if hb.Port < 1 || hb.Port > 65535 {
		return nil, nil, fmt.Errorf("%w: port %d out of range", ErrBadHeartbeat, hb.Port)
	}
	if hb.MaxVolumeCount < 0 {
		return nil, nil, fmt.Errorf("%w: negative maxVolumeCount %d", ErrBadHeartbeat, hb.MaxVolumeCount)
	}
	infos := make([]wire.VolumeInfo, len(hb.Volumes))
	keys := make([]LayoutKey, len(hb.Volumes))
	seen := make(map[needle.VolumeID]bool, len(hb.Volumes))
	for i, v := range hb.Volumes {
		if v.ID == 0 {
			return nil, nil, fmt.Errorf("%w: volume id 0", ErrBadHeartbeat)
		}
		if seen[v.ID] {
			return nil, nil, fmt.Errorf("%w: volume %d listed twice", ErrBadHeartbeat, v.ID)
		}
		seen[v.ID] = true
		k, err := layoutOf(v)
		if err != nil {
			return nil, nil, err
		}
		v.TTL = k.TTL.String()
		infos[i], keys[i] = v, k
	}
	return infos, keys, nil
}
