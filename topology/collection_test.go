package topology

import (
	"errors"
	"slices"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

func TestCollections(t *testing.T) {
	topo := newTopology(t, Config{})
	in := func(id needle.VolumeID, collection string) wire.VolumeInfo {
		v := vol(id, "001")
		v.Collection = collection
		return v
	}
	a := node{port: 8081, max: 7}
	b := node{port: 8082, max: 7}
	c := node{port: 8083, dc: "dc2", max: 7}
	mustBeat(t, topo, beat(a, in(1, ""), in(7, "picture"), in(8, "video")), t0)
	mustBeat(t, topo, beat(b, in(1, ""), in(7, "picture")), t0)
	mustBeat(t, topo, beat(c, in(9, "video")), t0)
	checkInvariants(t, topo)

	if got, want := topo.Collections(), []string{"", "picture", "video"}; !slices.Equal(got, want) {
		t.Errorf("Collections = %q, want %q", got, want)
	}
	tests := []struct {
		collection string
		nodes      []string
	}{
		{"picture", []string{a.url(), b.url()}},
		{"video", []string{a.url(), c.url()}},
		{"", []string{a.url(), b.url()}},
		{"nothing", nil},
	}
	for _, tc := range tests {
		var got []string
		for _, n := range topo.CollectionNodes(tc.collection) {
			got = append(got, n.URL)
		}
		if !slices.Equal(got, tc.nodes) {
			t.Errorf("CollectionNodes(%q) = %q, want %q", tc.collection, got, tc.nodes)
		}
	}

	before := topo.DirStatus().Free
	if got := topo.DeleteCollection("picture"); !slices.Equal(got, []needle.VolumeID{7}) {
		t.Errorf("DeleteCollection(picture) = %v, want [7]", got)
	}
	if after := topo.DirStatus().Free; after != before+2 {
		t.Errorf("free slots %d after deleting a two-copy volume, want %d", after, before+2)
	}
	if _, err := topo.Lookup(7); !errors.Is(err, ErrVolumeNotFound) {
		t.Errorf("Lookup(7) after delete: %v", err)
	}
	if _, _, err := topo.PickForWrite(WriteRequest{Collection: "picture", Placement: mustPlacement(t, "001")}); !errors.Is(err, ErrNoWritableVolume) {
		t.Errorf("PickForWrite(picture) after delete: %v", err)
	}
	for _, l := range topo.DirStatus().Layouts {
		if l.Collection == "picture" {
			t.Errorf("layout of a deleted collection still listed: %+v", l)
		}
	}
	if got, want := topo.Collections(), []string{"", "video"}; !slices.Equal(got, want) {
		t.Errorf("Collections = %q, want %q", got, want)
	}
	if got := topo.DeleteCollection("picture"); len(got) != 0 {
		t.Errorf("second delete returned %v", got)
	}
}

func TestVolumesView(t *testing.T) {
	topo := newTopology(t, Config{VolumeSizeLimit: 1000})
	a := node{port: 8081, dc: "dc1", rack: "r1", max: 7}
	b := node{port: 8082, dc: "dc1", rack: "r2", max: 7}
	garbage := vol(1, "010")
	garbage.DeleteCount, garbage.DeletedByteCount = 3, 300
	mustBeat(t, topo, beat(a, garbage, vol(2, "000")), t0)
	mustBeat(t, topo, beat(b, garbage), t0)
	if err := topo.SetVacuuming(1, true); err != nil {
		t.Fatal(err)
	}
	views := topo.Volumes()
	if len(views) != 2 || views[0].ID != 1 || views[1].ID != 2 {
		t.Fatalf("Volumes = %+v", views)
	}
	v := views[0]
	if v.Placement != mustPlacement(t, "010") || v.Collection != "" || !v.TTL.IsZero() || v.Writable || !v.Vacuuming {
		t.Errorf("volume 1 view %+v", v)
	}
	if len(v.Replicas) != 2 || v.Replicas[0].Rack != "r1" || v.Replicas[1].Rack != "r2" || v.Replicas[1].Info.DeletedByteCount != 300 {
		t.Errorf("volume 1 replicas %+v", v.Replicas)
	}
	if !views[1].Writable || views[1].Vacuuming {
		t.Errorf("volume 2 view %+v", views[1])
	}
	if _, err := topo.Volume(3); !errors.Is(err, ErrVolumeNotFound) {
		t.Errorf("Volume(3) err = %v", err)
	}
}
