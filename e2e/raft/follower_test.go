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
	"github.com/weedfs/weed/wire"
)

// volumeServerStatus is a volume server's /status.
type volumeServerStatus struct {
	Version string
	Volumes []wire.VolumeInfo
}

// volumeOn returns the volume id as the volume server at addr reports it.
func volumeOn(t *testing.T, addr string, id needle.VolumeID) (wire.VolumeInfo, bool) {
	t.Helper()
	var st volumeServerStatus
	status, err := doJSON(http.MethodGet, "http://"+addr+"/status", nil, "", &st)
	if err != nil || status != http.StatusOK {
		t.Fatalf("status of %s: %d %v", addr, status, err)
	}
	for _, v := range st.Volumes {
		if v.ID == id {
			return v, true
		}
	}
	return wire.VolumeInfo{}, false
}

// TestFollowerAnswersEveryEndpoint drives every master endpoint through a
// follower, which forwards it to the leader, and checks each answer and its
// effect.
func TestFollowerAnswersEveryEndpoint(t *testing.T) {
	_, ms, vs := startGroup(t)
	leader, _ := waitLeaderAmong(t, ms, leaderBound)
	f := followersOf(leader, ms)[0].Addr()
	t.Logf("leader %s, asking follower %s", leader.Addr(), f)

	// /dir/assign, as GET and as POST.
	a, err := testcluster.Assign(f, "")
	if err != nil {
		t.Fatal(err)
	}
	var posted testcluster.AssignResult
	status, err := doJSON(http.MethodPost, "http://"+f+"/dir/assign", strings.NewReader("count=3"),
		"application/x-www-form-urlencoded", &posted)
	if err != nil || status != http.StatusOK || posted.Count != 3 {
		t.Fatalf("POST /dir/assign count=3 through follower: %d %+v %v", status, posted, err)
	}
	fa, _ := needle.ParseFileID(a.Fid)
	fp, _ := needle.ParseFileID(posted.Fid)
	if fp.Key <= fa.Key {
		t.Errorf("second assign key %d not above first %d", fp.Key, fa.Key)
	}
	data := []byte("uploaded to a fid a follower assigned")
	if err := testcluster.Upload(a.URL, a.Fid, "a.txt", data); err != nil {
		t.Fatal(err)
	}

	// /submit.
	subData := []byte("submitted through a follower")
	s, err := testcluster.Submit(f, "sub.txt", subData, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.FileName != "sub.txt" || s.Size == 0 || !strings.HasSuffix(s.FileURL, "/"+s.Fid) {
		t.Errorf("submit reply %+v", s)
	}
	if err := readFile(strings.TrimSuffix(s.FileURL, "/"+s.Fid), s.Fid, subData); err != nil {
		t.Error(err)
	}

	// /dir/lookup by volume id and by fid; an unknown volume.
	for _, q := range []string{fmt.Sprint(fa.Volume), a.Fid} {
		l, err := testcluster.Lookup(f, q)
		status := l.Reply.Status
		if err != nil || status != http.StatusOK || l.VolumeID != fmt.Sprint(fa.Volume) || len(l.Locations) != 2 {
			t.Errorf("lookup %s through follower: %d %+v %v", q, status, l, err)
		}
	}
	l, err := testcluster.Lookup(f, "9999")
	if status := l.Reply.Status; err != nil || status != http.StatusNotFound || l.Error != "volumeId not found." || l.VolumeID != "9999" {
		t.Errorf("lookup of volume 9999 through follower: %d %+v %v", l.Reply.Status, l, err)
	}

	// GET /<fid>: 301 to a replica, in turn across both.
	targets := map[string]bool{}
	for range 4 {
		r := testcluster.Get(t, "http://"+f+"/"+a.Fid)
		loc, _ := url.Parse(r.Header.Get("Location"))
		if r.Status != http.StatusMovedPermanently || loc == nil || loc.Path != "/"+a.Fid {
			t.Fatalf("GET /%s through follower: %d Location %q", a.Fid, r.Status, r.Header.Get("Location"))
		}
		targets[loc.Host] = true
		if err := readFile(loc.Host, a.Fid, data); err != nil {
			t.Error(err)
		}
	}
	if want := addrs(vs...); len(targets) != 2 || !targets[want[0]] || !targets[want[1]] {
		t.Errorf("redirects went to %v, want both of %v", targets, want)
	}

	// DELETE /<fid> with curl -L semantics: the 301 is followed with DELETE.
	r := testcluster.Do(t, testcluster.NoFollow, http.MethodDelete, "http://"+f+"/"+a.Fid, nil, nil)
	if r.Status != http.StatusMovedPermanently {
		t.Fatalf("DELETE /%s through follower: %d, want 301", a.Fid, r.Status)
	}
	var del struct{ Size int64 }
	status, err = doJSON(http.MethodDelete, r.Header.Get("Location"), nil, "", &del)
	if err != nil || status != http.StatusAccepted || del.Size == 0 {
		t.Fatalf("DELETE %s: %d %+v %v", r.Header.Get("Location"), status, del, err)
	}
	for _, v := range addrs(vs...) {
		if r := testcluster.Get(t, "http://"+v+"/"+a.Fid); r.Status != http.StatusNotFound {
			t.Errorf("GET deleted %s from %s: %d, want 404", a.Fid, v, r.Status)
		}
	}

	// /vol/grow, then /vol/status and /dir/status show the new volumes.
	var grown struct {
		Count int    `json:"count"`
		Error string `json:"error"`
	}
	status, err = doJSON(http.MethodGet, "http://"+f+"/vol/grow?collection=grown&count=2", nil, "", &grown)
	if err != nil || status != http.StatusOK || grown.Count != 2 {
		t.Fatalf("vol/grow through follower: %d %+v %v", status, grown, err)
	}
	vst, err := getVolStatus(f)
	if err != nil {
		t.Fatal(err)
	}
	grownIDs := vst.collectionVolumes("grown")
	if vst.Version == "" || len(grownIDs) != 2 {
		t.Fatalf("vol/status through follower: version %q, grown volumes %v", vst.Version, grownIDs)
	}
	for _, id := range grownIDs {
		if recs := vst.records()[id]; len(recs) != 2 || recs[0].Replication != "001" {
			t.Errorf("grown volume %d: %+v", id, recs)
		}
	}
	var dst testcluster.DirStatus
	status, err = doJSON(http.MethodGet, "http://"+f+"/dir/status", nil, "", &dst)
	if err != nil || status != http.StatusOK || dst.NodeCount() != 2 || dst.Version == "" {
		t.Fatalf("dir/status through follower: %d nodes=%d %v", status, dst.NodeCount(), err)
	}
	var layouts []string
	for _, l := range dst.Topology.Layouts {
		layouts = append(layouts, l.Collection)
	}
	if !slices.Contains(layouts, "grown") || !slices.Contains(layouts, "") {
		t.Errorf("dir/status layouts %v lack the default or grown collection", layouts)
	}

	// /vol/vacuum: one volume with mostly deleted files is compacted on
	// both replicas; its live files stay readable.
	q := url.Values{"collection": {"vac"}, "count": {"20"}}
	va, err := testcluster.Assign(f, q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	vf, _ := needle.ParseFileID(va.Fid)
	var live []storedFile
	for i := range 20 {
		fid := va.Fid
		if i > 0 {
			fid = fmt.Sprintf("%s_%d", va.Fid, i)
		}
		body := []byte(strings.Repeat(fmt.Sprintf("vacuum file %d ", i), 50))
		if err := testcluster.Upload(va.URL, fid, "v.txt", body); err != nil {
			t.Fatal(err)
		}
		if i < 15 {
			status, err := doJSON(http.MethodDelete, "http://"+va.URL+"/"+fid, nil, "", nil)
			if err != nil || status != http.StatusAccepted {
				t.Fatalf("delete %s: %d %v", fid, status, err)
			}
			continue
		}
		live = append(live, storedFile{Fid: fid, Data: body})
	}
	revs := map[string]uint16{}
	for _, v := range addrs(vs...) {
		info, ok := volumeOn(t, v, vf.Volume)
		if !ok {
			t.Fatalf("volume %d not on %s", vf.Volume, v)
		}
		revs[v] = info.CompactRevision
	}
	var vacuumed testcluster.DirStatus
	status, err = doJSON(http.MethodGet, "http://"+f+"/vol/vacuum?garbageThreshold=0.1", nil, "", &vacuumed)
	if err != nil || status != http.StatusOK || vacuumed.NodeCount() != 2 {
		t.Fatalf("vol/vacuum through follower: %d nodes=%d %v", status, vacuumed.NodeCount(), err)
	}
	for _, v := range addrs(vs...) {
		info, _ := volumeOn(t, v, vf.Volume)
		if info.CompactRevision <= revs[v] || info.DeleteCount != 0 {
			t.Errorf("volume %d on %s after vacuum: revision %d (was %d), %d deletes", vf.Volume, v, info.CompactRevision, revs[v], info.DeleteCount)
		}
		for _, lf := range live {
			if err := readFile(v, lf.Fid, lf.Data); err != nil {
				t.Errorf("after vacuum: %v", err)
			}
		}
	}

	// /col/delete drops the grown collection everywhere.
	var cd struct {
		Collection string            `json:"collection"`
		Volumes    []needle.VolumeID `json:"volumes"`
		Error      string            `json:"error"`
	}
	status, err = doJSON(http.MethodGet, "http://"+f+"/col/delete?collection=grown", nil, "", &cd)
	if err != nil || status != http.StatusOK || cd.Collection != "grown" {
		t.Fatalf("col/delete through follower: %d %+v %v", status, cd, err)
	}
	slices.Sort(cd.Volumes)
	if !slices.Equal(cd.Volumes, grownIDs) {
		t.Errorf("col/delete dropped volumes %v, want %v", cd.Volumes, grownIDs)
	}
	for _, v := range addrs(vs...) {
		for _, id := range grownIDs {
			if _, ok := volumeOn(t, v, id); ok {
				t.Errorf("volume %d of the deleted collection still on %s", id, v)
			}
		}
	}
	if vst, err := getVolStatus(f); err != nil || len(vst.collectionVolumes("grown")) != 0 {
		t.Errorf("vol/status after col/delete: %v, grown volumes %v", err, vst.collectionVolumes("grown"))
	}
}
