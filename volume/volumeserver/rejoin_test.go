package volumeserver

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// A fresh copy must not sync (and turn healthy) before the master lists
// it: until then a peer that drops its cached view fetches one without the
// copy again, and a delete acknowledged after the sync never reaches it.
func TestFreshCopyWaitsUntilTheMasterListsIt(t *testing.T) {
	fm := newFakeMaster(t)
	fm.answersStale = true
	a := startServer(t, []string{fm.addr()})
	b := startServer(t, []string{fm.addr()})
	for _, ts := range []*testServer{a, b} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { ts.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	a.addVolume(t, 1, "001")
	fm.setLocations(1, a.addr)

	r := do(t, http.MethodPost, b.url+wire.CopyVolumePath+"?volume=1&collection=&replication=001&source="+a.addr, nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("copy_volume: %d %s", r.status, r.body)
	}
	// Several sync loop ticks and retries (the old code synced and
	// turned healthy within milliseconds).
	time.Sleep(2 * time.Second)
	if syncing, fresh := b.repl.State(1); !syncing || !fresh {
		t.Fatalf("before the master lists the copy: syncing %v, fresh %v; want a syncing fresh copy", syncing, fresh)
	}

	fm.setLocations(1, a.addr, b.addr)
	eventually(t, 15*time.Second, "the copy did not turn healthy once the master listed it", func() bool {
		syncing, _ := b.repl.State(1)
		return !syncing
	})
}

// A hello must not be answered while a write or delete that read the old
// fan-out view has yet to append locally: the rejoining replica's sync
// starts after its hellos and would miss that operation, and so would the
// operation's own fan-out.
func TestHelloWaitsForOperationsOnTheOldView(t *testing.T) {
	const kept, written = "1,01fc4a422c", "1,02fc4a422c"
	for _, point := range []string{"write:targets", "delete:targets"} {
		t.Run(point, func(t *testing.T) {
			fm := newFakeMaster(t)
			a := startServer(t, []string{fm.addr()})
			b := startServer(t, []string{fm.addr()})
			a.addVolume(t, 1, "001")
			b.addVolume(t, 1, "001")
			fm.setLocations(1, a.addr, b.addr)
			uploadFile(t, a.url, kept, "kept.txt", "text/plain", []byte("to be deleted"))

			reached, release := make(chan struct{}), make(chan struct{})
			var hit, released sync.Once
			free := func() { released.Do(func() { close(release) }) }
			t.Cleanup(free)
			hookFailpoint(t, func(p string) error {
				if p == point {
					hit.Do(func() { close(reached); <-release })
				}
				return nil
			})

			fid, method := written, http.MethodPost
			if point == "delete:targets" {
				fid, method = kept, http.MethodDelete
			}
			opDone := make(chan string, 1)
			go func() {
				var body io.Reader
				ct := ""
				if method == http.MethodPost {
					var buf bytes.Buffer
					mw := multipart.NewWriter(&buf)
					fw, _ := mw.CreateFormFile("file", "new.txt")
					_, _ = fw.Write([]byte("written on the old view"))
					_ = mw.Close()
					body, ct = &buf, mw.FormDataContentType()
				}
				req, _ := http.NewRequest(method, a.url+"/"+fid, body)
				if ct != "" {
					req.Header.Set("Content-Type", ct)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					opDone <- err.Error()
					return
				}
				resp.Body.Close()
				opDone <- resp.Status
			}()
			select {
			case <-reached:
			case <-time.After(10 * time.Second):
				t.Fatalf("the %s never reached %s", method, point)
			}

			// applied reports whether the operation has been applied here.
			applied := func() bool {
				f, err := needle.ParseFileID(fid)
				if err != nil {
					return false
				}
				_, _, err = a.store.Volume(1).Read(f.Key, f.Cookie, nil)
				return (err == nil) == (method == http.MethodPost)
			}
			helloDone := make(chan bool, 1)
			go func() {
				resp, err := http.Post(a.url+wire.SyncHelloPath+"?volume=1", "", nil)
				if err == nil {
					resp.Body.Close()
				}
				helloDone <- err == nil && resp.StatusCode == http.StatusOK && applied()
			}()
			select {
			case <-helloDone:
				t.Fatalf("the hello was answered while a %s on the old view had not appended", method)
			case <-time.After(300 * time.Millisecond):
			}
			free()
			select {
			case ok := <-helloDone:
				if !ok {
					t.Fatalf("when the hello was answered the %s was not applied on %s", method, a.addr)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the hello was not answered after the operation appended")
			}
			if got := <-opDone; got != "201 Created" && got != "202 Accepted" {
				t.Fatalf("%s %s: %s", method, fid, got)
			}
		})
	}
}

// A lookup of the fan-out view in flight when the view is invalidated
// (a hello) must not put its older answer back in the cache.
func TestInvalidateDropsAViewInFlight(t *testing.T) {
	fm := newFakeMaster(t)
	a := startServer(t, []string{fm.addr()})
	a.addVolume(t, 1, "001")
	fm.setLocations(1, a.addr)
	read, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fm.mu.Lock()
	fm.lookupHold = func() { once.Do(func() { close(read); <-release }) }
	fm.mu.Unlock()

	first := make(chan []wire.ReplicaLocation, 1)
	go func() {
		locs, _ := a.repl.View(context.Background(), 1)
		first <- locs
	}()
	<-read
	fm.setLocations(1, a.addr, "127.0.0.1:1")
	a.repl.InvalidateView(1)
	close(release)
	if locs := <-first; len(locs) != 1 {
		t.Fatalf("the lookup in flight answered %v; want the one location it read", locs)
	}
	locs, err := a.repl.View(context.Background(), 1)
	if err != nil || len(locs) != 2 {
		t.Fatalf("view after the invalidation = %v, %v; want both locations", locs, err)
	}
}
