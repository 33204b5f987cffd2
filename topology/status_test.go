package topology

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// walkthroughTopology is the state of section 三.3 of the walk-through:
// volumes 3,4,5 on 8081, 1,2,6 on 8082, all six on 8083, replication 100.
func walkthroughTopology(t *testing.T) *Topology {
	t.Helper()
	topo := newTopology(t, Config{VolumeSizeLimit: 30000 << 20})
	vols := func(ids ...needle.VolumeID) []wire.VolumeInfo {
		var out []wire.VolumeInfo
		for _, id := range ids {
			out = append(out, vol(id, "100"))
		}
		return out
	}
	mustBeat(t, topo, beat(node{port: 8081, dc: "dc1", max: 7}, vols(3, 4, 5)...), t0)
	mustBeat(t, topo, beat(node{port: 8082, dc: "dc1", max: 7}, vols(1, 2, 6)...), t0)
	mustBeat(t, topo, beat(node{port: 8083, dc: "dc2", max: 7}, vols(6, 5, 4, 3, 2, 1)...), t0)
	checkInvariants(t, topo)
	return topo
}

func TestDirStatusGolden(t *testing.T) {
	tests := []struct {
		name  string
		build func(t *testing.T) *Topology
		want  string
	}{
		{
			name:  "empty",
			build: func(t *testing.T) *Topology { return newTopology(t, Config{}) },
			want:  `{"DataCenters":[],"Free":0,"Max":0,"layouts":[]}`,
		},
		{
			name:  "walk-through",
			build: walkthroughTopology,
			want: `{"DataCenters":[` +
				`{"Id":"dc1","Free":8,"Max":14,"Racks":[{"Id":"DefaultRack","Free":8,"Max":14,"DataNodes":[` +
				`{"Url":"127.0.0.1:8081","PublicUrl":"127.0.0.1:8081","Volumes":3,"Free":4,"Max":7},` +
				`{"Url":"127.0.0.1:8082","PublicUrl":"127.0.0.1:8082","Volumes":3,"Free":4,"Max":7}]}]},` +
				`{"Id":"dc2","Free":1,"Max":7,"Racks":[{"Id":"DefaultRack","Free":1,"Max":7,"DataNodes":[` +
				`{"Url":"127.0.0.1:8083","PublicUrl":"127.0.0.1:8083","Volumes":6,"Free":1,"Max":7}]}]}],` +
				`"Free":9,"Max":21,"layouts":[{"collection":"","replication":"100","ttl":"","writables":[1,2,3,4,5,6]}]}`,
		},
		{
			name: "layouts sorted, full volume not writable, empty writables print as []",
			build: func(t *testing.T) *Topology {
				topo := newTopology(t, Config{VolumeSizeLimit: 100})
				full := vol(4, "000")
				full.Size = 100
				pic := vol(2, "000")
				pic.Collection = "picture"
				ttl := vol(3, "000")
				ttl.TTL = "1d"
				mustBeat(t, topo, beat(node{port: 8080, rack: "r1", max: 3}, full, pic, ttl, vol(1, "000")), t0)
				return topo
			},
			want: `{"DataCenters":[{"Id":"DefaultDataCenter","Free":0,"Max":3,"Racks":[{"Id":"r1","Free":0,"Max":3,"DataNodes":[` +
				`{"Url":"127.0.0.1:8080","PublicUrl":"127.0.0.1:8080","Volumes":4,"Free":0,"Max":3}]}]}],"Free":0,"Max":3,"layouts":[` +
				`{"collection":"","replication":"000","ttl":"","writables":[1]},` +
				`{"collection":"","replication":"000","ttl":"1d","writables":[3]},` +
				`{"collection":"picture","replication":"000","ttl":"","writables":[2]}]}`,
		},
		{
			name: "disks as the node reported them; a volume on a full disk (read-only) not writable",
			build: func(t *testing.T) *Topology {
				topo := newTopology(t, Config{})
				full := vol(2, "000")
				full.ReadOnly = true
				hb := beat(node{port: 8080, max: 2}, vol(1, "000"), full)
				hb.Disks = []wire.DiskInfo{
					{Dir: "/a", Free: 5 << 30, Total: 10 << 30},
					{Dir: "/b", Free: 1024, Total: 20 << 20, LowSpace: true},
				}
				mustBeat(t, topo, hb, t0)
				return topo
			},
			want: `{"DataCenters":[{"Id":"DefaultDataCenter","Free":0,"Max":2,"Racks":[{"Id":"DefaultRack","Free":0,"Max":2,"DataNodes":[` +
				`{"Url":"127.0.0.1:8080","PublicUrl":"127.0.0.1:8080","Volumes":2,"Free":0,"Max":2,"Disks":[` +
				`{"dir":"/a","free":5368709120,"total":10737418240},{"dir":"/b","free":1024,"total":20971520,"lowSpace":true}]}]}]}],` +
				`"Free":0,"Max":2,"layouts":[{"collection":"","replication":"000","ttl":"","writables":[1]}]}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.build(t).DirStatus())
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("DirStatus JSON:\n got %s\nwant %s", b, tc.want)
			}
		})
	}
}

// TestDirStatusMatchesWalkthrough compares with the /vol/vacuum answer the
// walk-through printed (its typographic quotes straightened), field for field.
func TestDirStatusMatchesWalkthrough(t *testing.T) {
	printed := `{"Topology":{"DataCenters":[{"Free":8,"Id":"dc1","Max":14,"Racks":[{"DataNodes":[{"Free":4,"Max":7,"PublicUrl":"127.0.0.1:8081","Url":"127.0.0.1:8081","Volumes":3},{"Free":4,"Max":7,"PublicUrl":"127.0.0.1:8082","Url":"127.0.0.1:8082","Volumes":3}],”Free”:8,”Id”:”DefaultRack”,”Max”:14}]},{“Free”:1,”Id”:”dc2″,”Max”:7,”Racks”:[{"DataNodes":[{"Free":1,"Max":7,"PublicUrl":"127.0.0.1:8083","Url":"127.0.0.1:8083","Volumes":6}],”Free”:1,”Id”:”DefaultRack”,”Max”:7}]}],”Free”:9,”Max”:21,”layouts”:[{"collection":"","replication":"100","ttl":"","writables":[1,2,3,4,5,6]}]},"Version":"0.70 beta"}`
	printed = strings.NewReplacer("”", `"`, "“", `"`, "″", `"`).Replace(printed)
	var want map[string]any
	if err := json.Unmarshal([]byte(printed), &want); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{"Topology": walkthroughTopology(t).DirStatus(), "Version": "0.70 beta"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DirStatus differs from the walk-through:\n got %s\nwant %s", b, printed)
	}
}

func TestVolStatusGolden(t *testing.T) {
	topo := newTopology(t, Config{})
	v := vol(2, "001")
	v.Size, v.FileCount, v.Collection = 104, 1, "picture"
	mustBeat(t, topo, beat(node{port: 8082, dc: "dc1", rack: "r1", max: 7}, v, vol(1, "000")), t0)
	mustBeat(t, topo, beat(node{port: 8081, dc: "dc1", rack: "r1", max: 7}, v), t0)
	mustBeat(t, topo, beat(node{port: 8083, dc: "dc2", max: 2}), t0)
	b, err := json.Marshal(topo.VolStatus())
	if err != nil {
		t.Fatal(err)
	}
	const p001 = `"ReplicaPlacement":{"SameRackCount":1,"DiffRackCount":0,"DiffDataCenterCount":0}`
	const p000 = `"ReplicaPlacement":{"SameRackCount":0,"DiffRackCount":0,"DiffDataCenterCount":0}`
	v2 := `{"Id":2,"Size":104,` + p001 + `,"Ttl":"","Collection":"picture","Version":3,"FileCount":1,"DeleteCount":0,"DeletedByteCount":0,"ReadOnly":false,"CompactRevision":0,"Syncing":false}`
	v1 := `{"Id":1,"Size":0,` + p000 + `,"Ttl":"","Collection":"","Version":3,"FileCount":0,"DeleteCount":0,"DeletedByteCount":0,"ReadOnly":false,"CompactRevision":0,"Syncing":false}`
	want := `{"DataCenters":{"dc1":{"r1":{"127.0.0.1:8081":[` + v2 + `],"127.0.0.1:8082":[` + v1 + `,` + v2 + `]}},` +
		`"dc2":{"DefaultRack":{"127.0.0.1:8083":[]}}},"Free":13,"Max":16}`
	if string(b) != want {
		t.Errorf("VolStatus JSON:\n got %s\nwant %s", b, want)
	}
	if b, _ := json.Marshal(newTopology(t, Config{}).VolStatus()); string(b) != `{"DataCenters":{},"Free":0,"Max":0}` {
		t.Errorf("empty VolStatus JSON %s", b)
	}
}
