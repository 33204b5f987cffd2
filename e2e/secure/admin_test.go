package secure

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/weedfs/weed/internal/security"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/testcluster"
)

// adminBearer is an Authorization header with an admin token signed with
// secret, as an operator makes one (README, "A secured cluster").
func adminBearer(secret string) map[string]string {
	tok := security.Sign([]byte(secret), security.Claims{Fid: security.AdminFid, Exp: time.Now().Add(time.Minute).Unix()})
	return map[string]string{"Authorization": "Bearer " + tok}
}

// volumeStatus is one volume of a volume server's /status.
type volumeStatus struct {
	Id                         uint32
	Size                       uint64
	FileCount, DeleteCount     uint64
	DeletedByteCount           uint64
	ReplicaPlacement, ReadOnly any
}

// volumeOn returns volume vid as v's /status lists it.
func volumeOn(t *testing.T, v *testcluster.Process, vid uint32) volumeStatus {
	t.Helper()
	var st struct{ Volumes []volumeStatus }
	if err := v.GetJSON("/status", &st); err != nil {
		t.Fatal(err)
	}
	for _, vol := range st.Volumes {
		if vol.Id == vid {
			return vol
		}
	}
	t.Fatalf("%s does not list volume %d", v.Name, vid)
	return volumeStatus{}
}

// TestSecuredAdminEndpoints: in a cluster with a secret, the admin requests
// that change state, sent with no token, a forged one (another secret, alg
// none) or a fid's write token, get 401 and change nothing: a needle
// smuggled in through /admin/sync/apply, a volume deleted through
// /admin/delete_volume, volumes grown, vacuumed or dropped through the
// master, a master removed, a replica marked stale, a node registered by a
// forged heartbeat. The cluster's own admin traffic, signed by the servers,
// keeps working: an operator's /vol/grow and /vol/vacuum with an admin
// token and the master's calls they cause on both replicas, and the rejoin
// sync of a replica (replication 001) killed with -9, which missed a delete
// and must be marked stale, sync and report before its volumes are
// writable again.
func TestSecuredAdminEndpoints(t *testing.T) {
	t.Parallel()
	c := testcluster.New(t)
	withSecret := []string{"-secure.secret=" + secret}
	m := c.StartMaster(testcluster.MasterOptions{DefaultReplication: "001", Extra: withSecret})
	v1 := c.NewVolume(testcluster.VolumeOptions{Masters: m.Addr(), Max: 7, Extra: withSecret})
	v2 := c.NewVolume(testcluster.VolumeOptions{Masters: m.Addr(), Max: 7, Extra: withSecret})
	vols := []*testcluster.Process{v1, v2}
	for _, v := range vols {
		v.StartNoWait()
	}
	for _, v := range vols {
		v.WaitReady()
	}
	c.WaitForNodes(m, 2)
	t.Cleanup(func() { stopAndCheck(t, vols...) })

	// Six fids on one volume, one token: the master's growth went through
	// its signed assign_volume calls.
	a := assign(t, m, "count=6")
	fid, err := needle.ParseFileID(a.Fid)
	if err != nil {
		t.Fatal(err)
	}
	vid := uint32(fid.Volume)
	write := map[string]string{"Authorization": a.auth}
	fids := []string{a.Fid}
	for i := 1; i < 6; i++ {
		fids = append(fids, a.Fid+"_"+strconv.Itoa(i))
	}
	payload := bytes.Repeat([]byte("secured admin "), 1000)
	for _, f := range fids {
		if r := testcluster.PostFile(t, v1.URL("/"+f), "f.bin", payload, write); r.Status != http.StatusCreated {
			t.Fatalf("upload %s: %v", f, r)
		}
	}

	// Forged admin requests.
	exp := strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)
	enc := base64.RawURLEncoding
	algNone := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(`{"fid":"admin","exp":`+exp+`}`)) + "."
	forgeries := []struct {
		name   string
		header map[string]string
	}{
		{"no token", nil},
		{"another secret", adminBearer("not the secret")},
		{"alg none", map[string]string{"Authorization": "Bearer " + algNone}},
		{"a write token", write},
	}
	smuggled := needle.Needle{Key: 0xdead01, Cookie: 0x01020304, Data: []byte("smuggled"), AppendAtNs: uint64(time.Now().UnixNano())}
	smuggled.Checksum = needle.DataChecksum(smuggled.Data)
	record, err := smuggled.AppendRecord(nil, needle.Version3)
	if err != nil {
		t.Fatal(err)
	}
	smuggledFid := fmt.Sprintf("%d,%x%08x", vid, uint64(smuggled.Key), uint32(smuggled.Cookie))
	hb, _ := json.Marshal(map[string]any{"Version": 1, "IP": "127.0.0.1", "Port": 1, "MaxVolumeCount": 7})
	var before testcluster.DirStatus
	if err := m.GetJSON("/dir/status", &before); err != nil {
		t.Fatal(err)
	}
	for _, f := range forgeries {
		for _, req := range []struct {
			method, url string
			body        []byte
		}{
			{http.MethodPost, v1.URL(fmt.Sprintf("/admin/sync/apply?volume=%d&allowNew=true", vid)), record},
			{http.MethodPost, v1.URL(fmt.Sprintf("/admin/delete_volume?volume=%d", vid)), nil},
			{http.MethodPost, v2.URL(fmt.Sprintf("/admin/vacuum/compact?volume=%d", vid)), nil},
			{http.MethodPost, v2.URL("/admin/delete_collection?collection="), nil},
			{http.MethodPost, v2.URL(fmt.Sprintf("/admin/sync/hello?volume=%d", vid)), nil},
			{http.MethodGet, m.URL("/vol/grow?count=1&replication=001"), nil},
			{http.MethodGet, m.URL("/vol/vacuum?garbageThreshold=0.01"), nil},
			{http.MethodGet, m.URL("/col/delete?collection=x"), nil},
			{http.MethodPost, m.URL("/cluster/remove?peer=" + m.Addr()), nil},
			{http.MethodPost, m.URL(fmt.Sprintf("/admin/stale?volume=%d&node=%s", vid, v1.Addr())), nil},
			{http.MethodPost, m.URL(fmt.Sprintf("/admin/synced?volume=%d&node=%s&seq=1", vid, v1.Addr())), nil},
			{http.MethodPost, m.URL("/admin/heartbeat"), hb},
		} {
			r := testcluster.Do(t, testcluster.NoFollow, req.method, req.url, bytes.NewReader(req.body), f.header)
			testcluster.RequireJSONError(t, req.method+" "+req.url+" with "+f.name, r, http.StatusUnauthorized)
		}
	}
	// Nothing changed: the smuggled needle is nowhere, every file is on
	// both replicas, the topology is the same, v1 is not marked stale.
	for _, v := range vols {
		if r := testcluster.Get(t, v.URL("/"+smuggledFid)); r.Status != http.StatusNotFound {
			t.Fatalf("smuggled needle on %s: %v", v.Name, r)
		}
		for _, f := range fids {
			if r := testcluster.Get(t, v.URL("/"+f)); r.Status != http.StatusOK {
				t.Fatalf("%s on %s after the forgeries: %v", f, v.Name, r)
			}
		}
	}
	var after testcluster.DirStatus
	if err := m.GetJSON("/dir/status", &after); err != nil {
		t.Fatal(err)
	}
	if after.NodeCount() != 2 || after.Topology.Free != before.Topology.Free {
		t.Fatalf("forgeries changed the topology: %d nodes, %d free (was %d)", after.NodeCount(), after.Topology.Free, before.Topology.Free)
	}
	var lookup testcluster.DirLookup
	if err := m.GetJSON(fmt.Sprintf("/dir/lookup?volumeId=%d", vid), &lookup); err != nil || len(lookup.Locations) != 2 {
		t.Fatalf("lookup after the forgeries: %+v, %v", lookup, err)
	}

	// An operator's /vol/grow with an admin token: one more volume, two
	// copies (the master's assign_volume calls are signed).
	admin := adminBearer(secret)
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodGet, m.URL("/vol/grow?count=1&replication=001"), nil, admin); r.Status != http.StatusOK {
		t.Fatalf("grow with an admin token: %v", r)
	}
	if err := m.GetJSON("/dir/status", &after); err != nil || after.Topology.Free != before.Topology.Free-2 {
		t.Fatalf("after the grow %d slots are free, want %d (%v)", after.Topology.Free, before.Topology.Free-2, err)
	}

	// Delete five of the six files, vacuum with an admin token: the volume
	// is compacted on both replicas (signed check, compact and commit).
	for _, f := range fids[1:] {
		if r := testcluster.Do(t, testcluster.NoFollow, http.MethodDelete, v1.URL("/"+f), nil, write); r.Status != http.StatusAccepted {
			t.Fatalf("delete %s: %v", f, r)
		}
	}
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodGet, m.URL("/vol/vacuum?garbageThreshold=0.3"), nil, admin); r.Status != http.StatusOK {
		t.Fatalf("vacuum with an admin token: %v", r)
	}
	for _, v := range vols {
		if st := volumeOn(t, v, vid); st.DeletedByteCount != 0 || st.Size > uint64(2*len(payload)) {
			t.Fatalf("volume %d on %s after the vacuum: %+v", vid, v.Name, st)
		}
		if r := testcluster.Get(t, v.URL("/"+fids[0])); r.Status != http.StatusOK || !bytes.Equal(r.Body, payload) {
			t.Fatalf("kept file on %s after the vacuum: %v", v.Name, r)
		}
	}

	// kill -9 a replica, delete while it is down (v1 marks it stale through
	// the leader: a signed call, else the delete answers 500), start it:
	// it syncs (signed hello, ticket and report) and every volume of the
	// layout is writable again. All seven slots of both servers are used,
	// so an assign can only succeed on the synced volumes.
	v2.Kill()
	if r := testcluster.Do(t, testcluster.NoFollow, http.MethodDelete, v1.URL("/"+fids[0]), nil, write); r.Status != http.StatusAccepted {
		t.Fatalf("delete with v2 down: %v", r)
	}
	v2.Start()
	if !testcluster.Eventually(testcluster.Settle, func() bool {
		var st struct{ Syncing bool }
		err := v2.GetJSON(fmt.Sprintf("/admin/sync/status?volume=%d", vid), &st)
		return err == nil && !st.Syncing
	}) {
		t.Fatalf("volume %d on the restarted replica is still syncing:\n%s", vid, v2.Log())
	}
	if r := testcluster.Get(t, v2.URL("/"+fids[0])); r.Status != http.StatusNotFound {
		t.Fatalf("the rejoined replica answers %v for the file deleted while it was down", r)
	}
	var b assignment
	if err := testcluster.Poll(testcluster.Settle, func() error {
		res, err := testcluster.Assign(m.Addr(), "")
		b = assignment{AssignResult: res, auth: res.Reply.Header.Get("Authorization")}
		return err
	}); err != nil {
		t.Fatalf("no writable volume after the rejoin: %v", err)
	}
	if r := testcluster.PostFile(t, "http://"+b.URL+"/"+b.Fid, "after.txt", []byte("after the rejoin"), map[string]string{"Authorization": b.auth}); r.Status != http.StatusCreated {
		t.Fatalf("upload after the rejoin: %v", r)
	}
	for _, v := range vols {
		if r := testcluster.Get(t, v.URL("/"+b.Fid)); r.Status != http.StatusOK || string(r.Body) != "after the rejoin" {
			t.Fatalf("upload after the rejoin on %s: %v", v.Name, r)
		}
	}
}
