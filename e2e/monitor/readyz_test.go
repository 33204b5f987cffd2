package monitor

import (
	"net/http"
	"testing"

	"github.com/weedfs/weed/testcluster"
)

// TestFilerReadyzFollowsItsMaster: a filer's /readyz answers 503 with a
// reason while its master is down, and 200 again once it is back;
// /healthz answers 200 throughout.
func TestFilerReadyzFollowsItsMaster(t *testing.T) {
	c := testcluster.New(t)
	m := c.StartMaster(testcluster.MasterOptions{})
	f := c.StartFiler(testcluster.FilerOptions{Master: m.Addr()})
	waitReadyz(t, "filer", f.Addr(), http.StatusOK)
	waitReadyz(t, "master", m.Addr(), http.StatusOK)

	m.Stop()
	waitReadyz(t, "filer without its master", f.Addr(), http.StatusServiceUnavailable)
	if _, reason := readyz(f.Addr()); reason == "" {
		t.Error("503 without a reason")
	}
	if r := testcluster.Get(t, f.URL("/healthz")); r.Status != http.StatusOK {
		t.Errorf("filer /healthz while its master is down: %s", r)
	}

	m.Start()
	waitReadyz(t, "filer with its master back", f.Addr(), http.StatusOK)
}

// TestMasterReadyzFollowsItsGroup: a master of a three-master group is
// ready while the group has a leader, answers 503 once it is alone (no
// quorum, no leader), and is ready again when the others return.
func TestMasterReadyzFollowsItsGroup(t *testing.T) {
	c := testcluster.New(t)
	ms := c.StartMasters(3, testcluster.MasterOptions{})
	leader := c.WaitForLeader(ms, bound)
	var survivor *testcluster.Process
	var others []*testcluster.Process
	for _, m := range ms {
		if m != leader && survivor == nil {
			survivor = m
		} else {
			others = append(others, m)
		}
	}
	for _, m := range ms {
		waitReadyz(t, m.Name, m.Addr(), http.StatusOK)
	}
	for _, m := range others {
		m.Stop()
	}
	waitReadyz(t, "master alone", survivor.Addr(), http.StatusServiceUnavailable)
	if r := testcluster.Get(t, survivor.URL("/healthz")); r.Status != http.StatusOK {
		t.Errorf("/healthz of the master alone: %s", r)
	}
	for _, m := range others {
		m.Start()
	}
	waitReadyz(t, "master with its group back", survivor.Addr(), http.StatusOK)
}
