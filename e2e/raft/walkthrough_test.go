package raft

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/testcluster"
)

// TestWalkThroughStartOrder starts the masters one after the other as the
// walk-through does (section 二), with -peers naming them as localhost:port:
// the first one alone has no leader, the group forms as soon as the second
// one is up, the third joins it later, and volume servers pointed at
// different masters all register with the leader.
func TestWalkThroughStartOrder(t *testing.T) {
	c := testcluster.New(t)
	ports := []int{testcluster.FreePort(t), testcluster.FreePort(t), testcluster.FreePort(t)}
	var peers []string
	for _, p := range ports {
		peers = append(peers, fmt.Sprintf("localhost:%d", p))
	}
	ms := make([]*testcluster.Process, 3)
	start := func(i int) {
		ms[i] = c.StartMaster(testcluster.MasterOptions{Port: ports[i], Peers: peers, DefaultReplication: "001"})
	}

	start(0)
	time.Sleep(1500 * time.Millisecond) // longer than an election timeout
	st, err := ms[0].Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.IsLeader || st.Leader != "" {
		t.Fatalf("a lone master of three elected a leader: %+v", st)
	}

	formStart := time.Now()
	start(1)
	leader := waitLocalhostLeader(t, ms[:2], peers)
	t.Logf("MEASURED group of two formed %v after the second master started; leader %s", time.Since(formStart).Round(time.Millisecond), leader)

	// Volume servers pointed at one master each, as in the walk-through.
	c.StartVolume(testcluster.VolumeOptions{Masters: peers[0], Max: volumeMax})
	c.StartVolume(testcluster.VolumeOptions{Masters: peers[1], Max: volumeMax})
	if err := testcluster.WaitForNodeCount(ms[0].Addr(), 2, settleBound); err != nil {
		t.Fatal(err)
	}
	if _, err := assignRetry(newFidLedger(), []string{ms[0].Addr(), ms[1].Addr()}, nil, assignBound); err != nil {
		t.Fatalf("assign in the group of two: %v", err)
	}

	start(2)
	c.StartVolume(testcluster.VolumeOptions{Masters: peers[2], Max: volumeMax})
	if got := waitLocalhostLeader(t, ms, peers); got != leader {
		t.Logf("leader changed from %s to %s when the third master joined", leader, got)
	}
	if err := testcluster.WaitForNodeCount(ms[2].Addr(), 3, settleBound); err != nil {
		t.Fatal(err)
	}
	a, err := assignRetry(newFidLedger(), []string{ms[2].Addr()}, url.Values{"collection": {"walk"}}, assignBound)
	if err != nil {
		t.Fatalf("assign through the third master: %v", err)
	}
	data := []byte("hello world through the third master")
	if err := testcluster.Upload(a.URL, a.Fid, "hello.txt", data); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if err := readThroughMaster(m.Addr(), a.Fid, data); err != nil {
			t.Error(err)
		}
	}
}

// waitLocalhostLeader waits until every master of ms names the same leader
// (an entry of peers), exactly one says IsLeader, and each lists the other
// entries of peers as Peers; it returns the leader's name.
func waitLocalhostLeader(t *testing.T, ms []*testcluster.Process, peers []string) string {
	t.Helper()
	want := slices.Sorted(slices.Values(peers))
	var leader string
	ok := testcluster.Eventually(leaderBound, func() bool {
		leader = ""
		leaders := 0
		for _, m := range ms {
			st, err := m.Status()
			if err != nil || st.Leader == "" || (leader != "" && st.Leader != leader) || !slices.Contains(peers, st.Leader) {
				return false
			}
			leader = st.Leader
			if st.IsLeader {
				leaders++
				if !strings.HasSuffix(st.Leader, fmt.Sprintf(":%d", m.Port)) {
					return false
				}
			}
			self := fmt.Sprintf("localhost:%d", m.Port)
			if !slices.Equal(memberSet(self, st), want) {
				return false
			}
		}
		return leaders == 1
	})
	if !ok {
		for _, m := range ms {
			st, err := m.Status()
			t.Logf("%s: %+v %v", m.Name, st, err)
		}
		t.Fatalf("masters %v did not agree on a leader within %v", peers, leaderBound)
	}
	return leader
}
