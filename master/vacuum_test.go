package master

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// vacuumCluster grows the walk-through's six volumes (replication 100) and
// returns them with the two nodes holding each.
func vacuumCluster(t *testing.T, opts Options) (*masterHarness, []*fakeVolume, map[needle.VolumeID][]*fakeVolume) {
	t.Helper()
	m, vs := walkThroughCluster(t, opts)
	m.assign("")
	holders := make(map[needle.VolumeID][]*fakeVolume)
	for _, v := range vs {
		for _, vid := range v.volumeIDs() {
			holders[vid] = append(holders[vid], v)
		}
	}
	if len(holders) != 6 {
		t.Fatalf("grown volumes %v", holders)
	}
	return m, vs, holders
}

func setGarbage(vs []*fakeVolume, vid needle.VolumeID, ratio float64) {
	for _, v := range vs {
		v.mu.Lock()
		v.garbage[vid] = ratio
		v.mu.Unlock()
	}
}

func TestVacuumCompactsAboveThresholdOnEveryReplica(t *testing.T) {
	m, _, holders := vacuumCluster(t, Options{})
	// Volume 2 is above 0.3 on one replica only; volume 4 is below on both.
	holders[2][0].mu.Lock()
	holders[2][0].garbage[2] = 0.42
	holders[2][0].mu.Unlock()
	setGarbage(holders[4], 4, 0.2)

	status, body := m.get("/vol/vacuum")
	if status != http.StatusOK {
		t.Fatalf("vacuum: %d %s", status, body)
	}
	var st DirStatusResult
	m.getJSON("/vol/vacuum", http.StatusOK, &st)
	if st.Version == "" || len(st.Topology.DataCenters) != 2 {
		t.Fatalf("vacuum reply is not /dir/status: %+v", st)
	}

	for vid, hs := range holders {
		for _, v := range hs {
			if n := v.calls(wire.VacuumCheckPath, vid); n != 2 {
				t.Errorf("volume %d on %s: %d checks, want 2", vid, v.addr(), n)
			}
			wantCompact := 0
			if vid == 2 {
				wantCompact = 1
			}
			if n := v.calls(wire.VacuumCompactPath, vid); n != wantCompact {
				t.Errorf("volume %d on %s: %d compacts, want %d", vid, v.addr(), n, wantCompact)
			}
			if n := v.calls(wire.VacuumCommitPath, vid); n != wantCompact {
				t.Errorf("volume %d on %s: %d commits, want %d", vid, v.addr(), n, wantCompact)
			}
			if n := v.calls(wire.VacuumCleanupPath, vid); n != 0 {
				t.Errorf("volume %d on %s: %d cleanups, want 0", vid, v.addr(), n)
			}
		}
	}
	// The vacuumed volume is writable again.
	if w := m.dirStatus().Topology.Layouts[0].Writables; !slices.Contains(w, 2) {
		t.Errorf("writables %v after vacuum, want volume 2 back", w)
	}

	// A lower threshold from the query compacts volume 4 too.
	m.get("/vol/vacuum?garbageThreshold=0.1")
	for _, v := range holders[4] {
		if n := v.calls(wire.VacuumCommitPath, 4); n != 1 {
			t.Errorf("volume 4 on %s: %d commits, want 1", v.addr(), n)
		}
	}
}

func TestVacuumCleansUpWhenCompactFails(t *testing.T) {
	m, _, holders := vacuumCluster(t, Options{})
	setGarbage(holders[5], 5, 0.9)
	holders[5][1].setFail(wire.VacuumCompactPath, true)

	if status, body := m.get("/vol/vacuum"); status != http.StatusOK {
		t.Fatalf("vacuum: %d %s", status, body)
	}
	for _, v := range holders[5] {
		if n := v.calls(wire.VacuumCompactPath, 5); n != 1 {
			t.Errorf("%s: %d compacts, want 1", v.addr(), n)
		}
		if n := v.calls(wire.VacuumCommitPath, 5); n != 0 {
			t.Errorf("%s: %d commits after a failed compact, want 0", v.addr(), n)
		}
		if n := v.calls(wire.VacuumCleanupPath, 5); n != 1 {
			t.Errorf("%s: %d cleanups, want 1", v.addr(), n)
		}
	}
	if w := m.dirStatus().Topology.Layouts[0].Writables; !slices.Contains(w, 5) {
		t.Errorf("writables %v after a failed vacuum, want volume 5 back", w)
	}

	// A failed commit is cleaned up too.
	holders[5][1].setFail(wire.VacuumCompactPath, false)
	holders[5][0].setFail(wire.VacuumCommitPath, true)
	m.get("/vol/vacuum")
	for _, v := range holders[5] {
		if n := v.calls(wire.VacuumCleanupPath, 5); n != 2 {
			t.Errorf("%s: %d cleanups, want 2", v.addr(), n)
		}
	}
}

func TestVacuumMarksVolumeUnwritableWhileCompacting(t *testing.T) {
	m, _, holders := vacuumCluster(t, Options{})
	setGarbage(holders[3], 3, 0.5)
	// While volume 3 compacts, /dir/status must not list it as writable.
	var (
		once   sync.Once
		during []needle.VolumeID
	)
	orig := m.s.admin.hc.Transport
	m.s.admin.hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == wire.VacuumCommitPath {
			once.Do(func() { during = m.s.topo.DirStatus().Layouts[0].Writables })
		}
		return orig.RoundTrip(r)
	})
	m.get("/vol/vacuum")
	if during == nil || slices.Contains(during, 3) {
		t.Fatalf("writables during the vacuum of 3: %v", during)
	}
	if w := m.dirStatus().Topology.Layouts[0].Writables; !slices.Contains(w, 3) {
		t.Fatalf("writables after: %v", w)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestAutomaticVacuum(t *testing.T) {
	m, _, holders := vacuumCluster(t, Options{VacuumInterval: 100 * time.Millisecond})
	setGarbage(holders[6], 6, 0.8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	eventually(t, 10*time.Second, "automatic vacuum of volume 6", func() bool {
		return holders[6][0].calls(wire.VacuumCommitPath, 6) > 0 && holders[6][1].calls(wire.VacuumCommitPath, 6) > 0
	})
}

// TestVacuumReportsLackOfSpace: a vacuum whose compaction a volume server
// refuses with 507 (its disk is full) answers 507 with a JSON error naming
// the volume and the server, not 200 with the topology; the compaction is
// cleaned up and the volume is writable again.
func TestVacuumReportsLackOfSpace(t *testing.T) {
	m, _, holders := vacuumCluster(t, Options{})
	setGarbage(holders[5], 5, 0.9)
	full := holders[5][1]
	full.mu.Lock()
	full.failCode = map[string]int{wire.VacuumCompactPath: http.StatusInsufficientStorage}
	full.mu.Unlock()
	full.setFail(wire.VacuumCompactPath, true)

	status, body := m.get("/vol/vacuum")
	if status != http.StatusInsufficientStorage {
		t.Fatalf("vacuum with a full disk: %d %s, want 507", status, body)
	}
	var reply struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		t.Fatalf("vacuum reply %q: %v", body, err)
	}
	for _, want := range []string{"volume 5", full.addr(), "disk space"} {
		if !strings.Contains(reply.Error, want) {
			t.Errorf("vacuum error %q does not name %q", reply.Error, want)
		}
	}
	for _, v := range holders[5] {
		if n := v.calls(wire.VacuumCleanupPath, 5); n != 1 {
			t.Errorf("%s: %d cleanups, want 1", v.addr(), n)
		}
	}
	if w := m.dirStatus().Topology.Layouts[0].Writables; !slices.Contains(w, 5) {
		t.Errorf("writables %v after a failed vacuum, want volume 5 back", w)
	}

	// Any other failure still answers with the topology.
	full.setFail(wire.VacuumCompactPath, false)
	holders[5][0].setFail(wire.VacuumCommitPath, true)
	if status, body := m.get("/vol/vacuum"); status != http.StatusOK {
		t.Errorf("vacuum with a failed commit: %d %s, want 200", status, body)
	}
}
