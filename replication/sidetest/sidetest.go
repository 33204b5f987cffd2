// Package sidetest is the conformance suite of replication.Side: whatever
// reaches a replica (the local Volume, or a peer over HTTP) must answer
// exactly as the Volume behind it does, so that reconcile cannot tell them
// apart. Run it with Test from each implementation's tests.
package sidetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/replication"
	"github.com/weedfs/weed/volume"
)

// Open returns an empty volume (needle version 3, so syncable) and the
// Side under test that reaches it. The volume stays open until the test
// ends.
type Open func(t *testing.T) (*volume.Volume, replication.Side)

// base is the append time the suite's records start from.
const base = uint64(1_700_000_000) * 1e9

// Test runs every conformance case, each on a volume of its own.
func Test(t *testing.T, open Open) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, v *volume.Volume, side replication.Side)
	}{
		{"Name", testName},
		{"Status", testStatus},
		{"Since", testSince},
		{"Records", testRecords},
		{"Digest", testDigest},
		{"KeyStates", testKeyStates},
		{"Apply", testApply},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, side := open(t)
			tc.run(t, v, side)
		})
	}
}

// fill writes keys 1..20 at base+k seconds and deletes every fourth at
// base+100+k seconds.
func fill(t *testing.T, v *volume.Volume) {
	t.Helper()
	for k := needle.Key(1); k <= 20; k++ {
		n := &needle.Needle{Cookie: needle.Cookie(k * 7), Key: k, Data: []byte(fmt.Sprintf("needle %d", k)), AppendAtNs: base + uint64(k)*1e9}
		if _, err := v.Write(n); err != nil {
			t.Fatalf("write %d: %v", k, err)
		}
	}
	for k := needle.Key(4); k <= 20; k += 4 {
		if _, err := v.Delete(k, needle.Cookie(k*7), base+uint64(100+k)*1e9); err != nil {
			t.Fatalf("delete %d: %v", k, err)
		}
	}
}

func testName(t *testing.T, _ *volume.Volume, side replication.Side) {
	if side.Name() == "" {
		t.Error("Name is empty")
	}
}

func testStatus(t *testing.T, v *volume.Volume, side replication.Side) {
	ctx := context.Background()
	for round, prepare := range []func(){func() {}, func() { fill(t, v) }} {
		prepare()
		want, err := replication.VolumeSyncStatus(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := side.Status(ctx)
		if err != nil {
			t.Fatalf("round %d: Status: %v", round, err)
		}
		got.Syncing, got.Fresh = false, false // the server's replica state
		if got != want {
			t.Errorf("round %d: Status = %+v, the volume says %+v", round, got, want)
		}
	}
}

func testSince(t *testing.T, v *volume.Volume, side replication.Side) {
	fill(t, v)
	for _, ts := range []uint64{0, base + 10e9, base + 110e9, base + 1000e9} {
		want, err := v.RecordsSince(ts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := side.Since(context.Background(), ts)
		if err != nil {
			t.Fatalf("Since(%d): %v", ts, err)
		}
		if !sameRecords(got, want) {
			t.Errorf("Since(%d) = %+v, the volume says %+v", ts, got, want)
		}
	}
}

func testRecords(t *testing.T, v *volume.Volume, side replication.Side) {
	fill(t, v)
	infos, err := v.RecordsSince(0)
	if err != nil {
		t.Fatal(err)
	}
	offsets := []int64{infos[3].Offset, infos[0].Offset, infos[len(infos)-1].Offset}
	got, err := side.Records(context.Background(), offsets)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(offsets) {
		t.Fatalf("Records: %d records for %d offsets", len(got), len(offsets))
	}
	for i, off := range offsets {
		want, err := v.ReadRecord(off)
		if err != nil {
			t.Fatal(err)
		}
		if string(got[i]) != string(want) {
			t.Errorf("record %d (offset %d) differs from the volume's", i, off)
		}
	}
	if got, err := side.Records(context.Background(), nil); err != nil || len(got) != 0 {
		t.Errorf("Records(none) = %d records, %v", len(got), err)
	}
}

func testDigest(t *testing.T, v *volume.Volume, side replication.Side) {
	for round, prepare := range []func(){func() {}, func() { fill(t, v) }} {
		prepare()
		want, err := v.Digest()
		if err != nil {
			t.Fatal(err)
		}
		got, err := side.Digest(context.Background())
		if err != nil {
			t.Fatalf("round %d: Digest: %v", round, err)
		}
		if got != want {
			t.Errorf("round %d: Digest differs from the volume's in buckets %v", round, got.Differing(&want))
		}
	}
}

func testKeyStates(t *testing.T, v *volume.Volume, side replication.Side) {
	fill(t, v)
	buckets := []int{volume.DigestBucket(1), volume.DigestBucket(4), volume.DigestBucket(13)}
	want, err := v.KeyStates(buckets)
	if err != nil {
		t.Fatal(err)
	}
	got, err := side.KeyStates(context.Background(), buckets)
	if err != nil {
		t.Fatal(err)
	}
	if !sameRecords(got, want) {
		t.Errorf("KeyStates(%v) = %+v, the volume says %+v", buckets, got, want)
	}
}

func testApply(t *testing.T, v *volume.Volume, side replication.Side) {
	fill(t, v)
	ctx := context.Background()
	// A record of a key the volume never saw: refused without AllowNew,
	// applied with it; a tombstone newer than a live needle: applied.
	fresh := needle.Needle{Cookie: 99, Key: 500, Data: []byte("brand new"), AppendAtNs: base + 200e9}
	rec, err := fresh.AppendRecord(nil, needle.Version3)
	if err != nil {
		t.Fatal(err)
	}
	res, err := side.Apply(ctx, [][]byte{rec}, volume.ApplyOptions{})
	if err != nil || res.Applied != 0 {
		t.Fatalf("Apply(new key) without AllowNew = %+v, %v; want nothing applied", res, err)
	}
	if _, _, err := v.Read(500, 99, nil); !errors.Is(err, needle.ErrNotFound) {
		t.Fatalf("read of a refused record: %v, want not found", err)
	}
	tomb := volume.TombstoneRecord(1, 7, base+300e9)
	res, err = side.Apply(ctx, [][]byte{rec, tomb}, volume.ApplyOptions{AllowNew: true})
	if err != nil || res.Applied != 2 {
		t.Fatalf("Apply(new key, tombstone) = %+v, %v; want 2 applied", res, err)
	}
	n, _, err := v.Read(500, 99, nil)
	if err != nil || string(n.Data) != "brand new" || n.AppendAtNs != fresh.AppendAtNs {
		t.Errorf("read of the applied record: %q at %d, %v", n.Data, n.AppendAtNs, err)
	}
	if _, _, err := v.Read(1, 7, nil); err == nil {
		t.Error("key 1 still reads after its newer tombstone was applied")
	}
	// The same records again: nothing newer, nothing applied.
	res, err = side.Apply(ctx, [][]byte{rec, tomb}, volume.ApplyOptions{AllowNew: true})
	if err != nil || res.Applied != 0 {
		t.Errorf("Apply of the same records again = %+v, %v; want nothing applied", res, err)
	}
}

// sameRecords compares two listings, treating nil and empty alike.
func sameRecords(a, b []volume.RecordInfo) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}
