package consistency

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/weedfs/weed/testcluster"
)

// TestRolledBackWriteAgrees is issue 15's first fault: replication 001 on
// two volume servers, the replica paused (SIGSTOP), an upload to the
// primary by a client that gives up after 1.5 s (the primary rolls the
// write back), the replica resumed 2.5 s after the pause, so that it
// receives the replicated write and the rollback's delete only then. The
// write was not acknowledged: it must end the same on both servers (absent
// on both, or present on both), every read through the master must give
// that answer, and it must not come back after the replica restarts and
// syncs. The scenario runs a few times, since the order in which the
// replica handles the two queued requests varies.
func TestRolledBackWriteAgrees(t *testing.T) {
	e := newEnv(t, "001", 2, nil)
	impatient := &http.Client{Timeout: 1500 * time.Millisecond, CheckRedirect: testcluster.NoFollow.CheckRedirect}
	const rounds = 3
	var failed []string
	for round := range rounds {
		// A first write makes sure the volume exists and is healthy on both.
		a, err := testcluster.Assign(e.master.Addr(), "count=1")
		if err != nil {
			t.Fatal(err)
		}
		if err := testcluster.Upload(a.URL, a.Fid, "f.txt", []byte("acknowledged")); err != nil {
			t.Fatal(err)
		}
		b, err := testcluster.Assign(e.master.Addr(), "count=1")
		if err != nil {
			t.Fatal(err)
		}
		primary := e.byAddr(b.URL)
		if primary == nil {
			t.Fatalf("assign gave %s, not a volume server of the test", b.URL)
		}
		replica := e.vols[0]
		if replica == primary {
			replica = e.vols[1]
		}

		replica.Pause()
		paused := time.Now()
		body, ct, err := testcluster.MultipartFile("late.txt", []byte(fmt.Sprintf("given up on, round %d", round)))
		if err != nil {
			replica.Resume()
			t.Fatal(err)
		}
		r, err := testcluster.Send(impatient, http.MethodPost, "http://"+b.URL+"/"+b.Fid, body, map[string]string{"Content-Type": ct})
		if err == nil {
			t.Logf("round %d: the upload of %s answered %v before the client gave up", round, b.Fid, r)
		}
		time.Sleep(time.Until(paused.Add(2500 * time.Millisecond)))
		replica.Resume()
		if err == nil && r.Status == http.StatusCreated {
			t.Fatalf("round %d: the upload of %s was acknowledged with the replica paused: %v", round, b.Fid, r)
		}
		failed = append(failed, b.Fid)

		// Once the primary's rollback has reached the replica, both must
		// agree, and stay agreed (ten reads over two seconds: the replica
		// handles the write and the rollback in either order).
		want := agreedStatus(t, e, b.Fid, fmt.Sprintf("round %d", round))
		t.Logf("round %d: the rolled-back write %s reads %d on both servers", round, b.Fid, want)
		for i := range 10 {
			time.Sleep(200 * time.Millisecond)
			for _, v := range e.vols {
				if got := directStatus(t, v, b.Fid); got != want {
					t.Errorf("round %d read %d: %s answers %d for %s, the other server %d", round, i, v.Name, got, b.Fid, want)
				}
			}
			if got := masterStatus(t, e, b.Fid); got != want {
				t.Errorf("round %d read %d: a read of %s through the master answers %d, the servers %d", round, i, b.Fid, got, want)
			}
		}
		if want == http.StatusOK {
			t.Logf("round %d: the unacknowledged write %s is present on both servers", round, b.Fid)
		}
	}

	// A restart of each server, then its rejoin sync, must not bring back
	// a rolled-back write that was absent, nor split one that was present.
	before := make(map[string]int)
	for _, fid := range failed {
		before[fid] = directStatus(t, e.vols[0], fid)
	}
	for _, v := range e.vols {
		v.Stop()
		v.Start()
		if !testcluster.Eventually(testcluster.Settle, func() bool {
			for _, fid := range failed {
				if !e.allHealthy(uniqueVolumes([]stored{{Fid: fid}}), 2) {
					return false
				}
			}
			return true
		}) {
			t.Fatalf("the volumes are not healthy on both servers after %s restarted", v.Name)
		}
		for _, fid := range failed {
			for _, w := range e.vols {
				if got := directStatus(t, w, fid); got != before[fid] {
					t.Errorf("after %s restarted: %s answers %d for %s, %d before", v.Name, w.Name, got, fid, before[fid])
				}
			}
			if got := masterStatus(t, e, fid); got != before[fid] {
				t.Errorf("after %s restarted: a read of %s through the master answers %d, %d before", v.Name, fid, got, before[fid])
			}
		}
	}
}

// agreedStatus waits (bounded) until both volume servers answer a direct
// read of fid with the same status, 200 or 404, and returns it.
func agreedStatus(t *testing.T, e *env, fid, what string) int {
	t.Helper()
	var last []int
	if testcluster.Eventually(20*time.Second, func() bool {
		last = last[:0]
		for _, v := range e.vols {
			last = append(last, directStatus(t, v, fid))
		}
		for _, s := range last {
			if s != last[0] || (s != http.StatusOK && s != http.StatusNotFound) {
				return false
			}
		}
		return true
	}) {
		return last[0]
	}
	t.Fatalf("%s: the servers never agreed on %s: direct reads answer %v", what, fid, last)
	return 0
}

// directStatus is the status of a direct read of fid on v (0 when no reply
// came).
func directStatus(t *testing.T, v *testcluster.Process, fid string) int {
	t.Helper()
	r, err := testcluster.ReadDirect(v.Addr(), fid)
	if err != nil {
		t.Logf("read %s on %s: %v", fid, v.Name, err)
		return 0
	}
	return r.Status
}

// masterStatus is the status of a read of fid through the master's
// redirect (curl -L http://master/<fid>).
func masterStatus(t *testing.T, e *env, fid string) int {
	t.Helper()
	r, err := testcluster.ReadFollow(e.master.Addr(), fid)
	if err != nil {
		t.Logf("read %s through the master: %v", fid, err)
		return 0
	}
	return r.Status
}
