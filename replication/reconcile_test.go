package replication

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/volume/volumetest"
)

// TestReconcile builds two replicas in a given state, syncs them and
// checks that they agree, on the expected live set.
func TestReconcile(t *testing.T) {
	type side struct {
		role sideRole
		ops  func(t *testing.T, v *volume.Volume)
	}
	common := func(t *testing.T, v *volume.Volume) {
		for k := needle.Key(1); k <= 40; k++ {
			writeAt(t, v, k, sec(float64(k)))
		}
	}
	tests := []struct {
		name        string
		local, peer side
		wantLive    []needle.Key // keys live on both afterwards, besides 1..40 minus gone
		wantGone    []needle.Key
		compactPeer bool
	}{
		{
			name: "a replica that missed deletes catches up",
			local: side{staleRole, func(t *testing.T, v *volume.Volume) {
				common(t, v)
			}},
			peer: side{peerRole, func(t *testing.T, v *volume.Volume) {
				common(t, v)
				deleteAt(t, v, 3, sec(100))
				deleteAt(t, v, 7, sec(101))
			}},
			wantGone: []needle.Key{3, 7},
		},
		{
			name: "deletes missed on both sides go both ways",
			local: side{peerRole, func(t *testing.T, v *volume.Volume) {
				common(t, v)
				deleteAt(t, v, 10, sec(100))
			}},
			peer: side{peerRole, func(t *testing.T, v *volume.Volume) {
				common(t, v)
				deleteAt(t, v, 11, sec(101))
			}},
			wantGone: []needle.Key{10, 11},
		},
		{
			name: "a .dat copied by hand from an older state gets the writes it lacks",
			local: side{peerRole, func(t *testing.T, v *volume.Volume) {
				for k := needle.Key(1); k <= 20; k++ {
					writeAt(t, v, k, sec(float64(k)))
				}
			}},
			peer: side{peerRole, func(t *testing.T, v *volume.Volume) {
				common(t, v)
			}},
		},
		{
			name: "the authority compacted the tombstone away: the stale copy deletes",
			local: side{staleRole, func(t *testing.T, v *volume.Volume) {
				common(t, v)
			}},
			peer: side{peerRole, func(t *testing.T, v *volume.Volume) {
				common(t, v)
				deleteAt(t, v, 5, sec(100))
				deleteAt(t, v, 6, sec(100))
				for k := needle.Key(1); k <= 40; k++ {
					writeAt(t, v, k+200, sec(200)+uint64(k))
					deleteAt(t, v, k+200, sec(300)+uint64(k))
				}
			}},
			compactPeer: true,
			wantGone:    []needle.Key{5, 6},
		},
		{
			name: "a newer write beats an older tombstone",
			local: side{peerRole, func(t *testing.T, v *volume.Volume) {
				common(t, v)
				deleteAt(t, v, 9, sec(50))
			}},
			peer: side{peerRole, func(t *testing.T, v *volume.Volume) {
				common(t, v)
				deleteAt(t, v, 9, sec(50))
				n := volumetest.Needle(9, 1, 77)
				n.AppendAtNs = sec(60)
				mustWrite(t, v, n)
			}},
			wantLive: []needle.Key{9},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := createVolIn(t, filepath.Join(dir, "l"), volume.Options{})
			p := createVolIn(t, filepath.Join(dir, "p"), volume.Options{})
			tc.local.ops(t, l)
			tc.peer.ops(t, p)
			if tc.compactPeer {
				if err := p.Compact(); err != nil {
					t.Fatal(err)
				}
				if err := p.CommitCompact(); err != nil {
					t.Fatal(err)
				}
			}
			st, err := reconcile(context.Background(), LocalSide(l), LocalSide(p), tc.local.role, tc.peer.role, reconcileOptions{})
			if err != nil {
				t.Fatalf("reconcile: %v (%v)", err, st)
			}
			t.Logf("%v", st)
			dl, _ := l.Digest()
			dp, _ := p.Digest()
			if diff := dl.Differing(&dp); len(diff) > 0 {
				t.Fatalf("digests still differ in %v", diff)
			}
			for _, v := range []*volume.Volume{l, p} {
				for _, k := range tc.wantGone {
					expectGone(t, v, k)
				}
				for _, k := range tc.wantLive {
					if _, _, err := v.Read(k, volumetest.CookieOf(k), nil); err != nil {
						t.Errorf("key %x: %v", uint64(k), err)
					}
				}
				for k := needle.Key(1); k <= 40; k++ {
					if slices.Contains(tc.wantGone, k) || slices.Contains(tc.wantLive, k) {
						continue
					}
					expectNeedle(t, v, k, volumetest.Payload(k, 0, volumetest.SizeOf(k)))
				}
			}
			for _, name := range []string{"l", "p"} {
				v := l
				if name == "p" {
					v = p
				}
				if err := v.Close(); err != nil {
					t.Fatal(err)
				}
				mustCheck(t, filepath.Join(dir, name))
			}
		})
	}
}

func TestRateLimiter(t *testing.T) {
	l := NewRateLimiter(1 << 20)
	start := time.Now()
	for range 4 {
		if err := l.Wait(context.Background(), 256<<10); err != nil {
			t.Fatal(err)
		}
	}
	// 1 MiB at 1 MiB/s: the last of the four chunks waits about 0.75 s.
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("1 MiB at 1 MiB/s took %v", d)
	}
	var none *RateLimiter
	if err := none.Wait(context.Background(), 1<<40); err != nil {
		t.Fatal(err)
	}
}

// TestReconcileDamagedRecords syncs a replica whose .dat holds a damaged
// record: one that is no longer live (read repair appended a good copy
// after it) must not stop the sync, wherever the damage is; a damaged
// live one is repaired from the peer.
func TestReconcileDamagedRecords(t *testing.T) {
	tests := []struct {
		name string
		at   int64 // byte of the record of key 5 that is damaged
		// repaired: a good copy was appended after the damage (read
		// repair), so the damaged record is dead.
		repaired bool
	}{
		{"dead record, damaged data", needle.HeaderSize + 20, true},
		{"dead record, damaged size", 8, true},
		{"live record, damaged data", needle.HeaderSize + 20, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ldir := filepath.Join(dir, "l")
			l := createVolIn(t, ldir, volume.Options{})
			p := createVolIn(t, filepath.Join(dir, "p"), volume.Options{})
			for k := needle.Key(1); k <= 40; k++ {
				writeAt(t, l, k, sec(float64(k)))
				writeAt(t, p, k, sec(float64(k)))
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			volumetest.DamageRecord(t, ldir, 5, tc.at)
			l = openVol(t, ldir, volume.Options{})
			if tc.repaired {
				good, err := p.LiveRecord(5)
				if err != nil {
					t.Fatal(err)
				}
				if res, err := l.ApplyRecords([][]byte{good}, volume.ApplyOptions{Repair: true}); err != nil || res.Applied != 1 {
					t.Fatalf("read repair: %+v %v", res, err)
				}
			}
			// Operations the replica missed while it was down.
			writeAt(t, p, 41, sec(50))
			deleteAt(t, p, 7, sec(51))
			st, err := reconcile(context.Background(), LocalSide(l), LocalSide(p), staleRole, peerRole, reconcileOptions{})
			if err != nil {
				t.Fatalf("reconcile: %v (%v)", err, st)
			}
			for _, v := range []*volume.Volume{l, p} {
				expectGone(t, v, 7)
				expectNeedle(t, v, 41, volumetest.Payload(41, 0, volumetest.SizeOf(41)))
				for k := needle.Key(1); k <= 40; k++ {
					if k != 7 {
						expectNeedle(t, v, k, volumetest.Payload(k, 0, volumetest.SizeOf(k)))
					}
				}
			}
			// A second sync finds nothing to do, and the files check.
			if st, err := reconcile(context.Background(), LocalSide(l), LocalSide(p), peerRole, peerRole, reconcileOptions{}); err != nil || st.Pulled+st.Pushed+st.DeletedLocal+st.DeletedRemote > 0 {
				t.Fatalf("second reconcile: %v (%v)", err, st)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			mustCheck(t, ldir)
		})
	}
}
