package volumeserver

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
)

func TestAdminAssignVolume(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	bad := []struct{ name, query string }{
		{"no volume", ""},
		{"volume 0", "volume=0"},
		{"volume not a number", "volume=seven"},
		{"volume too big", "volume=4294967296"},
		{"collection with a slash", "volume=1&collection=../etc"},
		{"collection with a dot", "volume=1&collection=a.b"},
		{"collection too long", "volume=1&collection=" + strings.Repeat("c", 129)},
		{"replication of two digits", "volume=1&replication=01"},
		{"replication out of range", "volume=1&replication=300"},
		{"bad ttl", "volume=1&ttl=3q"},
	}
	for _, c := range bad {
		r := do(t, http.MethodPost, ts.url+"/admin/assign_volume?"+c.query, nil, nil)
		if r.status != http.StatusBadRequest || r.json(t)["error"] == nil {
			t.Errorf("%s: %d %s, want 400", c.name, r.status, r.body)
		}
	}
	if vols := ts.store.Volumes(); len(vols) != 0 {
		t.Fatalf("refused assigns created %d volumes", len(vols))
	}
	entries, err := os.ReadDir(ts.dir)
	if err != nil || len(entries) != 0 {
		t.Fatalf("refused assigns left files: %v %v", entries, err)
	}

	r := do(t, http.MethodPost, ts.url+"/admin/assign_volume?volume=7&collection=picture&replication=010&ttl=3d", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("assign = %d %s", r.status, r.body)
	}
	vol := ts.store.Volume(7)
	if vol == nil || vol.Collection() != "picture" || vol.Placement().String() != "010" || vol.TTL().String() != "3d" {
		t.Fatalf("volume 7 = %+v", vol)
	}
	if _, err := os.Stat(volume.FileBase(ts.dir, "picture", 7) + ".dat"); err != nil {
		t.Errorf("picture_7.dat: %v", err)
	}
	r = do(t, http.MethodPost, ts.url+"/admin/assign_volume?volume=7", nil, nil)
	if r.status != http.StatusConflict {
		t.Errorf("second assign of volume 7 = %d %s, want 409", r.status, r.body)
	}
	// -max is 7: fill the slots, then one more is refused.
	for vid := 1; vid <= 6; vid++ {
		if r := do(t, http.MethodPost, ts.url+fmt.Sprintf("/admin/assign_volume?volume=%d", vid), nil, nil); r.status != http.StatusOK {
			t.Fatalf("assign %d = %d %s", vid, r.status, r.body)
		}
	}
	r = do(t, http.MethodPost, ts.url+"/admin/assign_volume?volume=8", nil, nil)
	if r.status != http.StatusInsufficientStorage || r.json(t)["error"] == nil {
		t.Errorf("assign past -max = %d %s", r.status, r.body)
	}
	if r := do(t, http.MethodGet, ts.url+"/admin/assign_volume?volume=9", nil, nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET assign_volume = %d", r.status)
	}
}

func TestAdminVacuum(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	ts.addVolume(t, 1, "")
	for key := needle.Key(1); key <= 10; key++ {
		body := strings.NewReader(strings.Repeat(fmt.Sprint(key), 300))
		if r := do(t, http.MethodPost, ts.url+"/"+fidOf(1, key, 0x0badcafe), body, nil); r.status != http.StatusCreated {
			t.Fatalf("upload %d: %d %s", key, r.status, r.body)
		}
	}
	for key := needle.Key(1); key <= 6; key++ {
		if r := do(t, http.MethodDelete, ts.url+"/"+fidOf(1, key, 0x0badcafe), nil, nil); r.status != http.StatusAccepted {
			t.Fatalf("delete %d: %d %s", key, r.status, r.body)
		}
	}
	r := do(t, http.MethodGet, ts.url+"/admin/vacuum/check?volume=1&garbageThreshold=0.3", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("check = %d %s", r.status, r.body)
	}
	ratio, ok := r.json(t)["garbageRatio"].(float64)
	if !ok || ratio < 0.4 || ratio > 1 {
		t.Fatalf("garbage ratio = %s", r.body)
	}
	before := ts.store.Volume(1).Size()
	for _, step := range []string{"compact", "commit"} {
		if r := do(t, http.MethodPost, ts.url+"/admin/vacuum/"+step+"?volume=1", nil, nil); r.status != http.StatusOK {
			t.Fatalf("%s = %d %s", step, r.status, r.body)
		}
	}
	if after := ts.store.Volume(1).Size(); after >= before {
		t.Errorf("vacuum left %d bytes of %d", after, before)
	}
	for key := needle.Key(7); key <= 10; key++ {
		if r := do(t, http.MethodGet, ts.url+"/"+fidOf(1, key, 0x0badcafe), nil, nil); r.status != http.StatusOK {
			t.Errorf("file %d after vacuum: %d", key, r.status)
		}
	}
	// Commit with nothing compacted is a conflict; cleanup is always fine.
	if r := do(t, http.MethodPost, ts.url+"/admin/vacuum/commit?volume=1", nil, nil); r.status != http.StatusConflict {
		t.Errorf("commit without compact = %d %s", r.status, r.body)
	}
	if r := do(t, http.MethodPost, ts.url+"/admin/vacuum/compact?volume=1", nil, nil); r.status != http.StatusOK {
		t.Fatalf("compact = %d %s", r.status, r.body)
	}
	if r := do(t, http.MethodPost, ts.url+"/admin/vacuum/cleanup?volume=1", nil, nil); r.status != http.StatusOK {
		t.Errorf("cleanup = %d %s", r.status, r.body)
	}
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/admin/vacuum/check?volume=2", 404},
		{http.MethodGet, "/admin/vacuum/check?volume=1&garbageThreshold=2", 400},
		{http.MethodGet, "/admin/vacuum/check?volume=x", 400},
		{http.MethodPost, "/admin/vacuum/compact?volume=2", 404},
		{http.MethodPost, "/admin/vacuum/commit", 400},
	} {
		if r := do(t, c.method, ts.url+c.path, nil, nil); r.status != c.status || r.json(t)["error"] == nil {
			t.Errorf("%s %s = %d %s, want %d", c.method, c.path, r.status, r.body, c.status)
		}
	}
}

func TestAdminDeleteVolumeAndCollection(t *testing.T) {
	m := newFakeMaster(t)
	ts := startServer(t, []string{m.addr()})
	for _, q := range []string{"volume=1", "volume=2&collection=pics", "volume=3&collection=pics", "volume=4&collection=docs"} {
		if r := do(t, http.MethodPost, ts.url+"/admin/assign_volume?"+q, nil, nil); r.status != http.StatusOK {
			t.Fatalf("assign %s = %d %s", q, r.status, r.body)
		}
	}
	if r := do(t, http.MethodPost, ts.url+"/admin/delete_volume?volume=1", nil, nil); r.status != http.StatusOK {
		t.Fatalf("delete_volume = %d %s", r.status, r.body)
	}
	if r := do(t, http.MethodPost, ts.url+"/admin/delete_volume?volume=1", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("second delete_volume = %d %s", r.status, r.body)
	}
	if _, err := os.Stat(volume.FileBase(ts.dir, "", 1) + ".dat"); !os.IsNotExist(err) {
		t.Errorf("1.dat after delete_volume: %v", err)
	}
	for _, q := range []string{"", "collection=", "collection=../x"} {
		if r := do(t, http.MethodPost, ts.url+"/admin/delete_collection?"+q, nil, nil); r.status != http.StatusBadRequest {
			t.Errorf("delete_collection?%s = %d %s", q, r.status, r.body)
		}
	}
	if r := do(t, http.MethodPost, ts.url+"/admin/delete_collection?collection=pics", nil, nil); r.status != http.StatusOK {
		t.Fatalf("delete_collection = %d %s", r.status, r.body)
	}
	if ts.store.Volume(2) != nil || ts.store.Volume(3) != nil || ts.store.Volume(4) == nil {
		t.Errorf("after deleting pics: volumes %v", ts.store.Status())
	}
}
