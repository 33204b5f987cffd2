package raft

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/testcluster"
)

// removeMaster asks the master at via to take peer out of the group, as
// `curl -d peer=... http://via/cluster/remove` does.
func removeMaster(via, peer string) (int, string, error) {
	var reply struct {
		Removed string `json:"removed"`
		Error   string `json:"error"`
	}
	status, err := doJSON(http.MethodPost, "http://"+via+"/cluster/remove",
		strings.NewReader(url.Values{"peer": {peer}}.Encode()), "application/x-www-form-urlencoded", &reply)
	return status, reply.Removed + reply.Error, err
}

// TestReplaceDeadMaster replaces a master whose machine is gone: one of
// three is killed for good, removed through a follower, and a new master
// with a new address joins. Then the leader is killed: the old survivor and
// the newcomer elect, keys never go back, and the files written at every
// stage read back.
func TestReplaceDeadMaster(t *testing.T) {
	c, ms, vs := startGroup(t)
	leader, _ := waitLeaderAmong(t, ms, leaderBound)
	checkAgreement(t, ms, leader, addrs(ms...))

	ledger := newFidLedger()
	var files []storedFile
	write := func(via string, stage string) {
		t.Helper()
		data := []byte(fmt.Sprintf("written %s through %s", stage, via))
		s, err := testcluster.Submit(via, stage+".txt", data, "")
		if err != nil {
			t.Fatalf("submit %s: %v", stage, err)
		}
		if err := ledger.add(s.Fid, 1, via+" "+stage); err != nil {
			t.Fatal(err)
		}
		files = append(files, storedFile{Fid: s.Fid, URL: strings.TrimSuffix(s.FileURL, "/"+s.Fid), Data: data})
	}
	write(leader.Addr(), "before")

	// One follower's machine is gone.
	followers := followersOf(leader, ms)
	dead, other := followers[0], followers[1]
	dead.Kill()

	// Bad requests change nothing.
	if status, msg, err := removeMaster(other.Addr(), "127.0.0.1:1"); err != nil || status != http.StatusNotFound {
		t.Fatalf("remove a stranger: %d %s %v, want 404", status, msg, err)
	}
	if status, msg, err := removeMaster(other.Addr(), "no-port"); err != nil || status != http.StatusBadRequest {
		t.Fatalf("remove without a port: %d %s %v, want 400", status, msg, err)
	}
	// The operator removes it through the surviving follower.
	status, msg, err := removeMaster(other.Addr(), dead.Addr())
	if err != nil || status != http.StatusOK || msg != dead.Addr() {
		t.Fatalf("remove %s: %d %s %v", dead.Addr(), status, msg, err)
	}
	two := []*testcluster.Process{leader, other}
	checkAgreement(t, two, leader, addrs(two...))
	write(other.Addr(), "after-removal")

	// Its replacement, at a new address, lists the group's members and
	// itself, and joins.
	port := testcluster.FreePort(t)
	newcomer := c.NewMaster(testcluster.MasterOptions{
		Port:               port,
		Peers:              []string{leader.Addr(), other.Addr(), fmt.Sprintf("127.0.0.1:%d", port)},
		DefaultReplication: "001",
	})
	newcomer.Start()
	three := []*testcluster.Process{leader, other, newcomer}
	members := addrs(three...)
	checkAgreement(t, three, leader, members)
	write(newcomer.Addr(), "after-join")

	// The leader dies too: the old survivor and the newcomer are a majority.
	leader.Kill()
	survivors := []*testcluster.Process{other, newcomer}
	newLeader, _ := waitLeaderAmong(t, survivors, leaderBound)
	checkAgreement(t, survivors, newLeader, members) // the dead leader is still a member
	if err := testcluster.WaitForNodeCount(newLeader.Addr(), len(vs), settleBound); err != nil {
		t.Fatal(err)
	}
	highest := ledger.highest()
	a, err := assignRetry(ledger, addrs(survivors...), nil, assignBound)
	if err != nil {
		t.Fatalf("assign after the leader died: %v", err)
	}
	if fid, err := needle.ParseFileID(a.Fid); err != nil || fid.Key <= highest {
		t.Fatalf("first assign after the leader died: %s (%v); want a key above %d", a.Fid, err, highest)
	}
	write(newcomer.Addr(), "after-failover")
	ledger.check(t)

	for _, f := range files {
		if err := readFile(f.URL, f.Fid, f.Data); err != nil {
			t.Error(err)
		}
	}
	if st, err := newcomer.Status(); err != nil || slices.Contains(st.Peers, dead.Addr()) {
		t.Fatalf("newcomer's status %+v (%v) still lists the removed %s", st, err, dead.Addr())
	}
}
