package topology

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// FuzzHeartbeats feeds a JSON array of heartbeats (bytes from the network),
// one per second, expiring and growing between them, and checks that the
// topology stays consistent whatever they say.
func FuzzHeartbeats(f *testing.F) {
	seed := []*wire.Heartbeat{
		beat(node{port: 8081, dc: "dc1", max: 7}, vol(1, "100"), vol(2, "001")),
		beat(node{port: 8082, dc: "dc1", rack: "r2", max: 2}, vol(2, "001")),
		beat(node{port: 8083, dc: "dc2", max: 7}, vol(1, "100")),
		beat(node{port: 8081, dc: "dc3", max: 1}, vol(1, "100")),
	}
	b, err := json.Marshal(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`[{"version":1,"ip":"::1","port":1,"maxVolumeCount":3,"volumes":[{"Id":4,"Ttl":"7w","Collection":"x"}]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var beats []*wire.Heartbeat
		if json.Unmarshal(data, &beats) != nil || len(beats) > 64 {
			return
		}
		topo := newTopology(t, Config{Pulse: time.Second, VolumeSizeLimit: 1 << 20, Seed: 1})
		for i, hb := range beats {
			if hb == nil || len(hb.Volumes) > 256 {
				continue
			}
			now := t0.Add(time.Duration(i) * time.Second)
			if _, err := topo.ProcessHeartbeat(hb, now); err != nil && !errors.Is(err, ErrBadHeartbeat) {
				t.Fatalf("heartbeat %d: unexpected error %v", i, err)
			}
			topo.Expire(now)
			var p needle.Placement
			if len(hb.Volumes) > 0 {
				p = hb.Volumes[0].ReplicaPlacement
			}
			r, err := topo.PlaceVolume(p, "")
			switch {
			case errors.Is(err, ErrNotEnoughDataNodes), errors.Is(err, needle.ErrBadPlacement):
				// no room, or a placement no replication string names
			case err != nil:
				t.Fatalf("PlaceVolume(%+v): unexpected error %v", p, err)
			default:
				if i%2 == 0 {
					r.Release()
				} else if err := r.Commit(needle.VolumeID(1000+i), "", needle.TTL{}); err != nil {
					t.Fatal(err)
				}
			}
			checkInvariants(t, topo)
		}
		if _, err := json.Marshal(topo.DirStatus()); err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(topo.VolStatus()); err != nil {
			t.Fatal(err)
		}
	})
}
