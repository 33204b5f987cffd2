package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/volume/volumetest"
	"github.com/weedfs/weed/wire"
)

// fakeMasters is a Masters whose fan-out view and mark recording a test
// sets.
type fakeMasters struct {
	mu      sync.Mutex
	locs    []wire.ReplicaLocation
	viewErr error
	markErr error
	marks   []string // "vid nodes any=wildcard reached"
}

func (m *fakeMasters) FanoutView(context.Context, needle.VolumeID) ([]wire.ReplicaLocation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.locs, m.viewErr
}

func (m *fakeMasters) MarkStale(_ context.Context, vid needle.VolumeID, nodes []string, wildcard bool, reached []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.markErr != nil {
		return m.markErr
	}
	m.marks = append(m.marks, fmt.Sprintf("%d %v any=%v %v", vid, nodes, wildcard, reached))
	return nil
}

func (m *fakeMasters) StaleTicket(context.Context, needle.VolumeID, string) (wire.StaleReply, error) {
	return wire.StaleReply{}, nil
}

func (m *fakeMasters) ReportSynced(context.Context, needle.VolumeID, string, uint64, []string) (bool, error) {
	return false, nil
}

func (m *fakeMasters) recorded() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.marks)
}

// fakePeers is a Peers that records what it was sent; targets in down
// fail.
type fakePeers struct {
	mu      sync.Mutex
	down    map[string]bool
	writes  []string // "target fid"
	deletes []string // "target fid rollback=<writeAt>"
}

var errDown = errors.New("peer is down")

func (p *fakePeers) SendWrite(_ context.Context, target string, fid needle.FileID, _ []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down[target] {
		return errDown
	}
	p.writes = append(p.writes, target+" "+fid.String())
	return nil
}

func (p *fakePeers) SendDelete(_ context.Context, target string, fid needle.FileID, _, rolledBack uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down[target] {
		return errDown
	}
	p.deletes = append(p.deletes, fmt.Sprintf("%s %s rollback=%v", target, fid, rolledBack != 0))
	return nil
}

func (p *fakePeers) Peer(string, needle.VolumeID) Peer { return nil }

func (p *fakePeers) sent() (writes, deletes []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.writes), slices.Clone(p.deletes)
}

// coordinatorFixture is a Coordinator on a store of volume 1 (placement
// rp) with fake masters and peers; the master lists self, b and c.
type coordinatorFixture struct {
	c       *Coordinator
	vol     *volume.Volume
	masters *fakeMasters
	peers   *fakePeers
}

const self = "127.0.0.1:8080"

func newCoordinatorFixture(t *testing.T, rp string) *coordinatorFixture {
	t.Helper()
	dir := t.TempDir()
	store, err := volume.NewStore([]string{dir}, []int{3}, volume.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := needle.ParsePlacement(rp)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.AddVolume(1, "", p, needle.TTL{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		store.Close()
		if err := volume.Check(dir); err != nil {
			t.Error(err)
		}
	})
	f := &coordinatorFixture{
		vol:   store.Volume(1),
		peers: &fakePeers{down: map[string]bool{}},
		masters: &fakeMasters{locs: []wire.ReplicaLocation{
			{URL: self}, {URL: "b:8080"}, {URL: "c:8080"},
		}},
	}
	f.c, err = NewCoordinator(Config{Pulse: 0}, Deps{
		Store:   store,
		Masters: f.masters,
		Peers:   f.peers,
		Fanout:  NewFanout(FanoutOptions{}),
		Self:    func() (string, bool) { return self, true },
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// write stores key k through the coordinator and fails the test on error.
func (f *coordinatorFixture) write(t *testing.T, k needle.Key) needle.FileID {
	t.Helper()
	fid := needle.FileID{Volume: 1, Key: k, Cookie: volumetest.CookieOf(k)}
	n := volumetest.Needle(k, 0, volumetest.SizeOf(k))
	if _, _, err := f.c.Write(context.Background(), f.vol, fid, n); err != nil {
		t.Fatalf("write %s: %v", fid, err)
	}
	return fid
}

// TestCoordinatorDelete follows every exit of a primary delete without
// HTTP: the answer is a size or an error the handler encodes.
func TestCoordinatorDelete(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rp        string
		prepare   func(t *testing.T, f *coordinatorFixture)
		missing   bool // delete a key never written
		wantErr   func(err error) bool
		wantMarks []string
		wantGone  bool
		// wantQueued: a mark of volume 1 waits for a retry afterwards.
		wantQueued bool
	}{
		{
			name:     "unreplicated",
			rp:       "000",
			wantGone: true,
		},
		{
			name:     "every replica reached",
			rp:       "002",
			wantGone: true,
		},
		{
			name:      "a replica down is marked stale",
			rp:        "002",
			prepare:   func(_ *testing.T, f *coordinatorFixture) { f.peers.down["c:8080"] = true },
			wantMarks: []string{"1 [c:8080] any=false [127.0.0.1:8080 b:8080]"},
			wantGone:  true,
		},
		{
			name: "a replica missing from the view is marked with the wildcard",
			rp:   "002",
			prepare: func(_ *testing.T, f *coordinatorFixture) {
				f.masters.locs = f.masters.locs[:2]
			},
			wantMarks: []string{"1 [] any=true [127.0.0.1:8080 b:8080]"},
			wantGone:  true,
		},
		{
			name: "a mark that cannot be recorded is a MarkError and queued",
			rp:   "002",
			prepare: func(_ *testing.T, f *coordinatorFixture) {
				f.peers.down["c:8080"] = true
				f.masters.markErr = errors.New("no leader")
			},
			wantErr: func(err error) bool {
				var me *MarkError
				return errors.As(err, &me) && me.Size > 0
			},
			wantGone:   true,
			wantQueued: true,
		},
		{
			name:    "the replicas cannot be looked up: nothing deleted",
			rp:      "002",
			prepare: func(_ *testing.T, f *coordinatorFixture) { f.masters.viewErr = errors.New("no master answered") },
			wantErr: func(err error) bool {
				var le *LocalError
				return err != nil && !errors.As(err, &le) && !errors.Is(err, ErrMarkPending)
			},
		},
		{
			name:    "a needle that is not here",
			rp:      "002",
			missing: true,
			wantErr: func(err error) bool {
				var le *LocalError
				return errors.As(err, &le) && IsMissing(err)
			},
		},
		{
			name:    "a needle not here while an earlier mark waits",
			rp:      "002",
			missing: true,
			prepare: func(_ *testing.T, f *coordinatorFixture) {
				f.c.marks.add(pendingMark{vid: 1, nodes: []string{"c:8080"}})
				f.masters.markErr = errors.New("no leader")
			},
			wantErr: func(err error) bool { return err == ErrMarkPending },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newCoordinatorFixture(t, tc.rp)
			fid := needle.FileID{Volume: 1, Key: 77, Cookie: volumetest.CookieOf(77)}
			if !tc.missing {
				fid = f.write(t, 77)
			}
			if tc.prepare != nil {
				tc.prepare(t, f)
			}
			size, err := f.c.Delete(context.Background(), f.vol, fid)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Delete: %v", err)
			case tc.wantErr != nil && !tc.wantErr(err):
				t.Fatalf("Delete = %d, %v (%T): not the error expected", size, err, err)
			case err == nil && size == 0:
				t.Fatal("Delete answered size 0")
			}
			if got := f.masters.recorded(); !slices.Equal(got, tc.wantMarks) {
				t.Errorf("marks %q, want %q", got, tc.wantMarks)
			}
			_, _, rerr := f.vol.Read(fid.Key, fid.Cookie, nil)
			if gone := rerr != nil; gone != (tc.wantGone || tc.missing) {
				t.Errorf("after the delete the needle reads: %v", rerr)
			}
			if tc.wantQueued && !f.c.marks.has(1) {
				t.Error("the mark that failed is not queued for a retry")
			}
		})
	}
}

// TestCoordinatorWriteRollsBack: a write a replica refuses is undone here
// and on the replicas that took it, with rollback deletes, and the error
// is not a LocalError (the handler answers 500).
func TestCoordinatorWriteRollsBack(t *testing.T) {
	f := newCoordinatorFixture(t, "002")
	f.peers.down["c:8080"] = true
	fid := needle.FileID{Volume: 1, Key: 5, Cookie: volumetest.CookieOf(5)}
	_, _, err := f.c.Write(context.Background(), f.vol, fid, volumetest.Needle(5, 0, volumetest.SizeOf(5)))
	var le *LocalError
	if err == nil || errors.As(err, &le) {
		t.Fatalf("Write with a replica down = %v, want a replication error", err)
	}
	if _, _, err := f.vol.Read(5, volumetest.CookieOf(5), nil); err == nil {
		t.Error("the failed write still reads here")
	}
	writes, deletes := f.peers.sent()
	if !slices.Equal(writes, []string{"b:8080 " + fid.String()}) {
		t.Errorf("writes sent %q", writes)
	}
	if !slices.Equal(deletes, []string{"b:8080 " + fid.String() + " rollback=true"}) {
		t.Errorf("rollback deletes sent %q", deletes)
	}
	if got := f.masters.recorded(); !slices.Equal(got, []string{"1 [c:8080] any=false []"}) {
		t.Errorf("marks %q: the unreachable replica must be marked stale", got)
	}
}

// TestCoordinatorWriteLocalError: a write the volume refuses is a
// LocalError wrapping the engine's error, and nothing is sent.
func TestCoordinatorWriteLocalError(t *testing.T) {
	f := newCoordinatorFixture(t, "001")
	f.vol.SetReadOnly(true)
	fid := needle.FileID{Volume: 1, Key: 5, Cookie: volumetest.CookieOf(5)}
	_, _, err := f.c.Write(context.Background(), f.vol, fid, volumetest.Needle(5, 0, volumetest.SizeOf(5)))
	var le *LocalError
	if !errors.As(err, &le) || !errors.Is(err, volume.ErrReadOnly) {
		t.Fatalf("Write to a read-only volume = %v, want a LocalError of volume.ErrReadOnly", err)
	}
	if writes, _ := f.peers.sent(); len(writes) != 0 {
		t.Errorf("writes sent %q", writes)
	}
}
