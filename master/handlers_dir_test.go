package master

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/topology"
	"github.com/weedfs/weed/wire"
)

func TestAssignGrowsLikeTheWalkThrough(t *testing.T) {
	m, vs := walkThroughCluster(t, Options{})
	status, body := m.get("/dir/assign")
	if status != http.StatusOK {
		t.Fatalf("assign: %d %s", status, body)
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 4 || raw["fid"] == nil || raw["url"] == nil || raw["publicUrl"] == nil || raw["count"] != 1.0 {
		t.Fatalf("assign reply %s: want exactly fid, url, publicUrl, count=1", body)
	}
	var a wire.Assignment
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	fid, err := needle.ParseFileID(a.Fid)
	if err != nil || fid.Key != 1 || fid.Cookie == 0 || fid.Volume < 1 || fid.Volume > 6 {
		t.Fatalf("fid %q (%+v, %v)", a.Fid, fid, err)
	}
	if a.URL != a.PublicURL || (a.URL != vs[0].addr() && a.URL != vs[1].addr() && a.URL != vs[2].addr()) {
		t.Fatalf("assign location %+v", a)
	}

	// Six volumes for replication 100: each on one dc1 node and on dc2's.
	if got := vs[2].volumeIDs(); !slices.Equal(got, []needle.VolumeID{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("dc2 node holds %v, want volumes 1..6", got)
	}
	dc1 := append(vs[0].volumeIDs(), vs[1].volumeIDs()...)
	slices.Sort(dc1)
	if !slices.Equal(dc1, []needle.VolumeID{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("dc1 nodes hold %v, want each of 1..6 once", dc1)
	}
	for _, v := range vs {
		v.mu.Lock()
		for _, q := range v.queries[wire.AssignVolumePath] {
			if q.Get("replication") != "100" || q.Get("collection") != "" || q.Get("ttl") != "" {
				t.Errorf("assign_volume query %v", q)
			}
		}
		v.mu.Unlock()
	}
	st := m.dirStatus().Topology
	if len(st.Layouts) != 1 || st.Layouts[0].Replication != "100" ||
		!slices.Equal(st.Layouts[0].Writables, []needle.VolumeID{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("layouts %+v", st.Layouts)
	}
	if st.DataCenters[1].Free != 1 {
		t.Fatalf("dc2 free %d, want 1", st.DataCenters[1].Free)
	}

	// Heartbeats that report the new volumes change nothing.
	for _, v := range vs {
		v.heartbeatTo(m.addr)
	}
	if got := m.dirStatus().Topology.Layouts[0].Writables; len(got) != 6 {
		t.Fatalf("writables after heartbeats %v", got)
	}
}

func TestAssignCount(t *testing.T) {
	m, _ := walkThroughCluster(t, Options{})
	a := m.assign("count=3")
	if a.Count != 3 {
		t.Fatalf("count %d, want 3", a.Count)
	}
	first, _ := needle.ParseFileID(a.Fid)
	b := m.assign("")
	second, _ := needle.ParseFileID(b.Fid)
	if second.Key != first.Key+3 {
		t.Fatalf("keys %d then %d: count=3 must reserve three keys", first.Key, second.Key)
	}
	// POST with a urlencoded body works too.
	status, _, body := m.do(http.MethodPost, "/dir/assign", strings.NewReader("count=2&replication=100"),
		"application/x-www-form-urlencoded")
	var c wire.Assignment
	if status != http.StatusOK || json.Unmarshal(body, &c) != nil || c.Count != 2 {
		t.Fatalf("POST assign: %d %s", status, body)
	}
}

func TestAssignCollectionTTLAndDataCenter(t *testing.T) {
	m, vs := walkThroughCluster(t, Options{})
	a := m.assign("collection=picture&replication=000&ttl=3d&dataCenter=dc2")
	if a.URL != vs[2].addr() {
		t.Fatalf("assign in dc2 went to %s", a.URL)
	}
	ids := vs[2].volumeIDs()
	if len(ids) != 7 {
		t.Fatalf("dc2 node got %v, want 7 volumes of replication 000", ids)
	}
	vs[2].mu.Lock()
	q := vs[2].queries[wire.AssignVolumePath][0]
	vs[2].mu.Unlock()
	if q.Get("collection") != "picture" || q.Get("replication") != "000" || q.Get("ttl") != "3d" {
		t.Fatalf("assign_volume query %v", q)
	}
	st := m.dirStatus().Topology
	if len(st.Layouts) != 1 || st.Layouts[0].Collection != "picture" || st.Layouts[0].TTL != "3d" {
		t.Fatalf("layouts %+v", st.Layouts)
	}
}

func TestAssignGrowthFailure(t *testing.T) {
	// Only dc1 is up: replication 100 cannot be placed (walk-through 四.1).
	m := startMaster(t, Options{DefaultReplication: "100"}, nil)
	for range 2 {
		newFakeVolume(t, "dc1", "", 7).heartbeatTo(m.addr)
	}
	want := `{"error":"Cannot grow volume group! Not enough data node found!"}` + "\n"
	for _, path := range []string{"/dir/assign", "/vol/grow?count=2"} {
		status, body := m.get(path)
		if status != http.StatusNotAcceptable || string(body) != want {
			t.Errorf("GET %s: %d %s, want 406 %s", path, status, body, want)
		}
	}
	if st := m.dirStatus().Topology; st.Free != 14 {
		t.Errorf("failed growth left free %d, want 14 (no slot kept)", st.Free)
	}

	// A volume server that refuses to create volumes: the assign fails with
	// its error, and the copies created elsewhere are deleted again.
	m2, vs := walkThroughCluster(t, Options{})
	vs[2].setFail(wire.AssignVolumePath, true)
	status, body := m2.get("/dir/assign")
	if status != http.StatusNotAcceptable || !strings.Contains(string(body), "injected failure") {
		t.Fatalf("assign with a failing node: %d %s", status, body)
	}
	for _, v := range vs[:2] {
		for _, vid := range v.volumeIDs() {
			t.Errorf("volume %d left on %s after a failed growth", vid, v.addr())
		}
	}
	if vs[0].calls(wire.DeleteVolumePath, 0)+vs[1].calls(wire.DeleteVolumePath, 0) != 6 {
		t.Errorf("delete_volume calls %d + %d, want 6", vs[0].calls(wire.DeleteVolumePath, 0), vs[1].calls(wire.DeleteVolumePath, 0))
	}
	if st := m2.dirStatus().Topology; st.Free != 21 || len(st.Layouts) != 0 {
		t.Errorf("after a failed growth: free %d layouts %+v", st.Free, st.Layouts)
	}
}

func TestAssignBadParameters(t *testing.T) {
	m, _ := walkThroughCluster(t, Options{})
	for _, q := range []string{
		"count=0", "count=-1", "count=abc", "count=100001", "count=1e3",
		"replication=3x0", "replication=1000", "replication=10", "replication=300",
		"collection=a/b", "collection=../x", "collection=a%20b", "collection=" + strings.Repeat("c", 129),
		"ttl=5x", "ttl=0.5d", "ttl=256m", "ttl=-1",
		"dataCenter=dc%0A1", "collection=a;b", "count=2;x",
	} {
		status, body := m.get("/dir/assign?" + q)
		var e struct{ Error string }
		if status != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Error == "" {
			t.Errorf("assign?%s: %d %s, want 400 with a JSON error", q, status, body)
		}
	}
	for _, q := range []string{"count=0", "collection=a.b", "replication=9"} {
		if status, _ := m.get("/vol/grow?" + q); status != http.StatusBadRequest {
			t.Errorf("grow?%s: %d, want 400", q, status)
		}
	}
	if status, _ := m.get("/vol/vacuum?garbageThreshold=2"); status != http.StatusBadRequest {
		t.Errorf("vacuum?garbageThreshold=2: %d, want 400", status)
	}
	// Nothing was grown by any of them.
	if st := m.dirStatus().Topology; len(st.Layouts) != 0 {
		t.Errorf("bad requests grew %+v", st.Layouts)
	}
}

func TestLookup(t *testing.T) {
	m, vs := walkThroughCluster(t, Options{})
	a := m.assign("")
	fid, _ := needle.ParseFileID(a.Fid)
	vid := fid.Volume.String()

	for _, q := range []string{"volumeId=" + vid, "volumeId=" + url.QueryEscape(a.Fid)} {
		status, body := m.get("/dir/lookup?" + q)
		var raw map[string]json.RawMessage
		if status != http.StatusOK || json.Unmarshal(body, &raw) != nil || len(raw) != 2 {
			t.Fatalf("lookup?%s: %d %s", q, status, body)
		}
		var l LookupResult
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatal(err)
		}
		if l.VolumeID != vid || len(l.Locations) != 2 {
			t.Fatalf("lookup?%s: %+v", q, l)
		}
		if !slices.Contains(l.Locations, topology.Location{URL: vs[2].addr(), PublicURL: vs[2].addr()}) {
			t.Fatalf("lookup locations %+v, want dc2's node among them", l.Locations)
		}
	}
	status, _, body := m.do(http.MethodPost, "/dir/lookup", strings.NewReader("volumeId="+vid), "application/x-www-form-urlencoded")
	if status != http.StatusOK {
		t.Fatalf("POST lookup: %d %s", status, body)
	}

	status, body = m.get("/dir/lookup?volumeId=9999")
	if want := `{"volumeId":"9999","error":"volumeId not found."}` + "\n"; status != http.StatusNotFound || string(body) != want {
		t.Fatalf("unknown volume: %d %q, want 404 %q", status, body, want)
	}
	for _, q := range []string{"", "volumeId=", "volumeId=abc", "volumeId=-1", "volumeId=99999999999"} {
		if status, body := m.get("/dir/lookup?" + q); status != http.StatusBadRequest {
			t.Errorf("lookup?%s: %d %s, want 400", q, status, body)
		}
	}
}

func TestRedirectAlternatesReplicas(t *testing.T) {
	m, vs := walkThroughCluster(t, Options{})
	a := m.assign("")
	fid, _ := needle.ParseFileID(a.Fid)
	var l LookupResult
	m.getJSON("/dir/lookup?volumeId="+fid.Volume.String(), http.StatusOK, &l)
	first, second := "http://"+l.Locations[0].PublicURL+"/"+a.Fid, "http://"+l.Locations[1].PublicURL+"/"+a.Fid

	var got []string
	for range 4 {
		status, h, body := m.do(http.MethodGet, "/"+a.Fid, nil, "")
		loc := h.Get("Location")
		if status != http.StatusMovedPermanently {
			t.Fatalf("GET /%s: %d %s", a.Fid, status, body)
		}
		if want := fmt.Sprintf(`<a href="%s">Moved Permanently</a>.`, loc); strings.TrimSpace(string(body)) != want {
			t.Fatalf("redirect body %q, want %q", body, want)
		}
		got = append(got, loc)
	}
	if !slices.Equal(got, []string{first, second, first, second}) {
		t.Fatalf("redirects %v, want alternating %s and %s", got, first, second)
	}
	if !strings.Contains(first+second, vs[2].addr()) {
		t.Fatalf("dc2's replica %s is not among %s %s", vs[2].addr(), first, second)
	}

	// HEAD, DELETE and the other fid path forms redirect too.
	vidPath := "/" + fid.Volume.String() + "/" + strings.SplitN(a.Fid, ",", 2)[1]
	for _, c := range []struct{ method, path string }{
		{http.MethodHead, "/" + a.Fid},
		{http.MethodDelete, "/" + a.Fid},
		{http.MethodGet, "/" + a.Fid + ".jpg"},
		{http.MethodGet, vidPath},
		{http.MethodGet, vidPath + "/photo.jpg"},
		{http.MethodGet, "/" + a.Fid + "_2"},
	} {
		status, h, _ := m.do(c.method, c.path, nil, "")
		loc := h.Get("Location")
		if status != http.StatusMovedPermanently || !strings.HasSuffix(loc, c.path) ||
			(!strings.HasPrefix(loc, "http://"+vs[0].addr()) && !strings.HasPrefix(loc, "http://"+vs[1].addr()) &&
				!strings.HasPrefix(loc, "http://"+vs[2].addr())) {
			t.Errorf("%s %s: %d Location %q", c.method, c.path, status, loc)
		}
	}

	for _, c := range []struct {
		path   string
		status int
	}{
		{"/9999,01637037d6", http.StatusNotFound},
		{"/3,xyz", http.StatusBadRequest},
		{"/nothing-here", http.StatusBadRequest},
		{"/ui/nothing", http.StatusBadRequest},
	} {
		status, _, body := m.do(http.MethodGet, c.path, nil, "")
		if status != c.status || !strings.Contains(string(body), `"error"`) {
			t.Errorf("GET %s: %d %s, want %d JSON", c.path, status, body, c.status)
		}
	}
	if status, _, _ := m.do(http.MethodPut, "/"+a.Fid, nil, ""); status != http.StatusMethodNotAllowed {
		t.Errorf("PUT /%s: %d, want 405", a.Fid, status)
	}
}

// multipartBody builds a multipart body with one file part.
func multipartBody(t *testing.T, field, name, contentType string, data []byte) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("note", "ignored"); err != nil {
		t.Fatal(err)
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, name))
	h.Set("Content-Type", contentType)
	w, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

func TestSubmit(t *testing.T) {
	m, vs := walkThroughCluster(t, Options{})
	data := []byte("hello weed-fs!\n")
	body, ct := multipartBody(t, "file", "hello.txt", "text/plain", data)
	status, _, reply := m.do(http.MethodPost, "/submit", body, ct)
	if status != http.StatusCreated {
		t.Fatalf("submit: %d %s", status, reply)
	}
	var raw map[string]any
	if err := json.Unmarshal(reply, &raw); err != nil || len(raw) != 4 {
		t.Fatalf("submit reply %s: want exactly fid, fileName, fileUrl, size", reply)
	}
	var res SubmitResult
	if err := json.Unmarshal(reply, &res); err != nil {
		t.Fatal(err)
	}
	if res.FileName != "hello.txt" || res.Size != int64(len(data)) {
		t.Fatalf("submit reply %+v", res)
	}
	var stored []byte
	for _, v := range vs {
		if res.FileURL == v.addr()+"/"+res.Fid {
			v.mu.Lock()
			stored = v.files[res.Fid]
			v.mu.Unlock()
		}
	}
	if !bytes.Equal(stored, data) {
		t.Fatalf("fileUrl %s: the volume server stored %q, want %q", res.FileURL, stored, data)
	}

	// curl -F filename=@hello1.txt: the field name does not matter; the
	// collection and ttl reach the growth and the upload.
	body, ct = multipartBody(t, "filename", "hello1.txt", "application/octet-stream", []byte("hello weed-fs1!\n"))
	status, _, reply = m.do(http.MethodPost, "/submit?collection=picture&ttl=1d", body, ct)
	if status != http.StatusCreated {
		t.Fatalf("submit collection=picture: %d %s", status, reply)
	}
	if err := json.Unmarshal(reply, &res); err != nil || res.FileName != "hello1.txt" {
		t.Fatalf("submit reply %s", reply)
	}
	var uploads []url.Values
	for _, v := range vs {
		v.mu.Lock()
		uploads = append(uploads, v.queries["upload"]...)
		v.mu.Unlock()
	}
	// The two uploads may land on different fake volume servers, so their
	// order here is not the order they were sent in.
	withTTL := 0
	for _, q := range uploads {
		if q.Get("ttl") == "1d" {
			withTTL++
		}
	}
	if len(uploads) != 2 || withTTL != 1 {
		t.Fatalf("upload queries %v, want two, exactly one with ttl=1d", uploads)
	}
	layouts := m.dirStatus().Topology.Layouts
	if len(layouts) != 2 || layouts[1].Collection != "picture" || layouts[1].TTL != "1d" {
		t.Fatalf("layouts %+v", layouts)
	}

	for _, c := range []struct {
		name, query, ct string
		body            string
		status          int
	}{
		{"not multipart", "", "text/plain", "hello", http.StatusBadRequest},
		{"no file part", "", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n", http.StatusBadRequest},
		{"bad collection", "?collection=a/b", ct, "", http.StatusBadRequest},
	} {
		status, _, reply := m.do(http.MethodPost, "/submit"+c.query, strings.NewReader(c.body), c.ct)
		if status != c.status || !strings.Contains(string(reply), `"error"`) {
			t.Errorf("%s: %d %s, want %d JSON", c.name, status, reply, c.status)
		}
	}
}

func TestSubmitUploadFailure(t *testing.T) {
	m, vs := walkThroughCluster(t, Options{DefaultReplication: "000"})
	for _, v := range vs {
		v.setFail("upload", true)
	}
	body, ct := multipartBody(t, "file", "a.txt", "text/plain", []byte("a"))
	status, _, reply := m.do(http.MethodPost, "/submit", body, ct)
	if want := `{"error":"injected failure"}` + "\n"; status != http.StatusInternalServerError || string(reply) != want {
		t.Fatalf("submit to a failing volume server: %d %s, want 500 %s", status, reply, want)
	}
}

func TestNewLeaderLookupWaitsForHeartbeats(t *testing.T) {
	// A master that has just become leader has heard one of the two
	// replicas of volume 3 and none of volume 5: lookups and redirects wait
	// for the heartbeats instead of answering short or "not found".
	lead := &fakeLead{leader: true, since: time.Now()}
	m := startMaster(t, Options{PulseSeconds: 1, DefaultReplication: "001"}, lead)
	p001, err := needle.ParsePlacement("001")
	if err != nil {
		t.Fatal(err)
	}
	v1 := newFakeVolume(t, "dc1", "", 7)
	v2 := newFakeVolume(t, "dc1", "", 7)
	for _, v := range []*fakeVolume{v1, v2} {
		v.volumes[3] = wire.VolumeInfo{ID: 3, ReplicaPlacement: p001, Version: needle.CurrentVersion}
	}
	v2.volumes[5] = wire.VolumeInfo{ID: 5, Version: needle.CurrentVersion}
	v1.heartbeatTo(m.addr)

	lookupDone := make(chan LookupResult, 1)
	redirectDone := make(chan string, 1)
	go func() {
		var l LookupResult
		resp, err := testHTTP.Get(m.base + "/dir/lookup?volumeId=3")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&l)
			resp.Body.Close()
		}
		if err != nil {
			t.Error(err)
		}
		lookupDone <- l
	}()
	go func() {
		resp, err := testHTTP.Get(m.base + "/5,01637037d6")
		if err != nil {
			t.Error(err)
			redirectDone <- ""
			return
		}
		resp.Body.Close()
		redirectDone <- fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("Location"))
	}()
	time.Sleep(200 * time.Millisecond)
	v2.heartbeatTo(m.addr)

	if l := <-lookupDone; len(l.Locations) != 2 {
		t.Errorf("lookup of volume 3 on a new leader: %+v, want both replicas", l)
	}
	if got, want := <-redirectDone, "301 http://"+v2.addr()+"/5,01637037d6"; got != want {
		t.Errorf("redirect of volume 5 on a new leader: %q, want %q", got, want)
	}
}

// TestAssignResultEncodesLikeEncodingJSON checks the hand-written encoder
// of the assign reply against encoding/json.
func TestAssignResultEncodesLikeEncodingJSON(t *testing.T) {
	for _, a := range []wire.Assignment{{}, {Fid: "3,01637037d6", URL: "127.0.0.1:8080", PublicURL: "example.com:80", Count: 1},
		{Fid: "x", URL: "\"q\"", PublicURL: "é\n", Count: 1 << 40}} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(a); err != nil {
			t.Fatal(err)
		}
		if got := string(assignReply(a).AppendJSON(nil)) + "\n"; got != want.String() {
			t.Errorf("%+v: AppendJSON %s, encoding/json %s", a, got, want.String())
		}
	}
}
