package consistency

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/weedfs/weed/testcluster"
	"github.com/weedfs/weed/volume"
)

// TestKill9Durability writes files from four clients at once to two volume
// servers (001, -fsync) and kills both with -9 right after the last
// acknowledgement: restarted, they sync and every acknowledged file reads
// from both, byte for byte.
func TestKill9Durability(t *testing.T) {
	e := newEnv(t, "001", 2, nil, "-fsync")
	var (
		mu    sync.Mutex
		files []stored
		wg    sync.WaitGroup
		errs  = make(chan error, 4)
	)
	for w := range 4 {
		wg.Go(func() {
			for i := range 15 {
				data := []byte(fmt.Sprintf("writer %d file %d: acknowledged means on disk", w, i))
				sub, err := testcluster.Submit(e.master.Addr(), "d.txt", data, "")
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				files = append(files, stored{sub.Fid, data})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, v := range e.vols {
		v.Kill()
	}
	for _, v := range e.vols {
		if err := volume.Check(v.Dir); err != nil {
			t.Logf("%s after kill -9 (before the load repairs it): %v", v.Name, err)
		}
		v.Start()
	}
	vids := uniqueVolumes(files)
	if !testcluster.Eventually(testcluster.Settle, func() bool { return e.allHealthy(vids, 2) }) {
		t.Fatalf("volumes %v not healthy after the restart", vids)
	}
	for _, f := range files {
		for _, v := range e.vols {
			r, err := testcluster.ReadDirect(v.Addr(), f.Fid)
			if err != nil || r.Status != http.StatusOK || string(r.Body) != string(f.Data) {
				t.Errorf("%s from %s after kill -9: %v %v", f.Fid, v.Name, r, err)
			}
		}
	}
	t.Logf("%d acknowledged files on %d volumes survived kill -9 of both replicas", len(files), len(vids))
}
