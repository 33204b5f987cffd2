package master

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

func TestCollectionDelete(t *testing.T) {
	m, vs := walkThroughCluster(t, Options{})
	m.assign("collection=picture")
	m.assign("")
	var before []needle.VolumeID
	for _, v := range vs {
		for _, vid := range v.volumeIDs() {
			v.mu.Lock()
			c := v.volumes[vid].Collection
			v.mu.Unlock()
			if c == "picture" && !slices.Contains(before, vid) {
				before = append(before, vid)
			}
		}
	}
	slices.Sort(before)
	if len(before) != 6 {
		t.Fatalf("picture volumes %v, want 6", before)
	}

	status, body := m.get("/col/delete?collection=picture")
	if status != http.StatusOK {
		t.Fatalf("col/delete: %d %s", status, body)
	}
	var res CollectionDeleteResult
	if err := json.Unmarshal(body, &res); err != nil || res.Collection != "picture" || !slices.Equal(res.Volumes, before) {
		t.Fatalf("col/delete reply %s, want volumes %v", body, before)
	}
	for _, v := range vs {
		if n := v.calls(wire.DeleteCollectionPath, 0); n != 1 {
			t.Errorf("%s: %d delete_collection calls, want 1", v.addr(), n)
		}
		for _, vid := range v.volumeIDs() {
			if slices.Contains(before, vid) {
				t.Errorf("%s still holds picture volume %d", v.addr(), vid)
			}
		}
	}
	st := m.dirStatus().Topology
	if len(st.Layouts) != 1 || st.Layouts[0].Collection != "" {
		t.Fatalf("layouts after col/delete: %+v", st.Layouts)
	}
	// picture took six of dc2's seven slots, so the default collection got
	// one volume (two slots); the picture slots are free again.
	if st.Free != 19 {
		t.Fatalf("free %d after col/delete, want 19", st.Free)
	}
	var l LookupResult
	m.getJSON("/dir/lookup?volumeId="+before[0].String(), http.StatusNotFound, &l)

	for _, c := range []struct {
		query  string
		status int
	}{
		{"collection=picture", http.StatusNotFound},
		{"", http.StatusBadRequest},
		{"collection=a/b", http.StatusBadRequest},
	} {
		status, body := m.get("/col/delete?" + c.query)
		if status != c.status || !strings.Contains(string(body), `"error"`) {
			t.Errorf("col/delete?%s: %d %s, want %d JSON", c.query, status, body, c.status)
		}
	}
}

func TestCollectionDeleteFailureKeepsTopology(t *testing.T) {
	m, vs := walkThroughCluster(t, Options{})
	m.assign("collection=video")
	vs[2].setFail(wire.DeleteCollectionPath, true)
	status, body := m.get("/col/delete?collection=video")
	if status != http.StatusBadGateway || !strings.Contains(string(body), "injected failure") {
		t.Fatalf("col/delete with a failing node: %d %s", status, body)
	}
	if st := m.dirStatus().Topology; len(st.Layouts) != 1 || st.Layouts[0].Collection != "video" {
		t.Fatalf("layouts %+v, want video kept", st.Layouts)
	}
}

// TestCollectionDeleteRacingHeartbeat: a real volume server heartbeats as
// soon as it dropped a collection, so the master may forget the volumes
// before its own DeleteCollection; the reply still names them.
func TestCollectionDeleteRacingHeartbeat(t *testing.T) {
	m := startMaster(t, Options{}, nil)
	beat := func(hostPort string, vols []wire.VolumeInfo) error {
		host, port, err := net.SplitHostPort(hostPort)
		if err != nil {
			return err
		}
		p, _ := strconv.Atoi(port)
		hb := wire.Heartbeat{Version: wire.HeartbeatVersion, IP: host, Port: p, PublicURL: hostPort,
			MaxVolumeCount: 7, Volumes: append([]wire.VolumeInfo{}, vols...)}
		body, _ := json.Marshal(hb)
		resp, err := testHTTP.Post(m.base+wire.HeartbeatPath, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("heartbeat: status %d", resp.StatusCode)
		}
		return nil
	}
	vs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != wire.DeleteCollectionPath {
			http.NotFound(w, r)
			return
		}
		// The volumes are gone: say so before answering.
		if err := beat(r.Host, nil); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	}))
	t.Cleanup(vs.Close)
	vols := []wire.VolumeInfo{
		{ID: 5, Collection: "pics", Version: needle.CurrentVersion},
		{ID: 6, Collection: "pics", Version: needle.CurrentVersion},
		{ID: 7, Collection: "", Version: needle.CurrentVersion},
	}
	if err := beat(vs.Listener.Addr().String(), vols); err != nil {
		t.Fatal(err)
	}
	var res CollectionDeleteResult
	m.getJSON("/col/delete?collection=pics", http.StatusOK, &res)
	if res.Collection != "pics" || !slices.Equal(res.Volumes, []needle.VolumeID{5, 6}) {
		t.Fatalf("col/delete reply %+v, want volumes [5 6]", res)
	}
}
