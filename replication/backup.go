package replication

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
)

// BackupOptions say what `weed backup` copies and where.
type BackupOptions struct {
	// Masters is the master list ("host:port", comma separated) to look
	// the volume up with.
	Masters    string
	Dir        string
	Collection string
	VolumeID   needle.VolumeID
	// HTTPClient, when set, carries every request.
	HTTPClient *http.Client
	// GarbageThreshold, when above 0, compacts the local copy after the
	// run if its garbage ratio is above it.
	GarbageThreshold float64
	// Progress, when set, is called about every 200 ms during the first
	// run's copy of the .dat with the bytes copied so far (weed backup
	// shows them on a terminal).
	Progress func(copied int64)
}

// BackupResult says what a backup run did.
type BackupResult struct {
	// Source is the replica the volume was copied from.
	Source string
	// Full is true when the whole .dat was copied (first run).
	Full bool
	// Bytes is the size of the .dat copied (first run).
	Bytes int64
	// Pulled and Deleted count the records taken from the source and the
	// needles deleted locally because the source no longer has them.
	Pulled, Deleted int
	// Compacted reports that the local copy was compacted afterwards.
	Compacted bool
	// FileCount is the number of live needles of the local copy.
	FileCount uint64
}

// Backup makes or refreshes a local copy of a volume in opts.Dir: the
// first run copies the source's .dat (the index is built from it); later
// runs fetch only what changed, with the replica sync protocol and the
// source as the authority (records appended since the local copy's last
// one, minus the slack), then compare digests and fix the buckets that
// differ, which also follows compactions of the source (its tombstones
// are gone: what it no longer holds is deleted here). The result is a
// volume a volume server loads as is.
func Backup(ctx context.Context, opts BackupOptions) (BackupResult, error) {
	var res BackupResult
	if err := volume.CheckCollection(opts.Collection); err != nil {
		return res, err
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	cl, err := client.New(opts.Masters, client.WithHTTPClient(hc), client.WithLookupTTL(-1))
	if err != nil {
		return res, err
	}
	locs, err := cl.Lookup(ctx, opts.VolumeID)
	if err != nil {
		return res, fmt.Errorf("backup: look up volume %d: %w", opts.VolumeID, err)
	}
	var peer Peer
	var errs []error
	for _, l := range locs {
		p := NewRemotePeer(hc, l.URL, opts.VolumeID, nil)
		if _, err := p.Status(ctx); err != nil {
			errs = append(errs, err)
			continue
		}
		peer = p
		break
	}
	if peer == nil {
		return res, fmt.Errorf("backup: no replica of volume %d answers: %w", opts.VolumeID, errors.Join(errs...))
	}
	res.Source = peer.Name()
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	base := volume.FileBase(opts.Dir, opts.Collection, opts.VolumeID)
	if _, err := os.Stat(base + ".dat"); errors.Is(err, os.ErrNotExist) {
		stopProgress := watchFileSize(base+".dat.part", opts.Progress)
		n, err := downloadDat(ctx, peer, opts.VolumeID, base+".dat.part", needle.Placement{})
		stopProgress()
		if err != nil {
			_ = os.Remove(base + ".dat.part")
			return res, fmt.Errorf("backup: %w", err)
		}
		if err := volume.RemoveFiles(base); err != nil {
			return res, fmt.Errorf("backup: %w", err)
		}
		if err := os.Rename(base+".dat.part", base+".dat"); err != nil {
			return res, fmt.Errorf("backup: %w", err)
		}
		res.Full, res.Bytes = true, n
	} else if err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	v, err := volume.Open(opts.Dir, opts.Collection, opts.VolumeID, volume.Options{})
	if err != nil {
		return res, fmt.Errorf("backup: open the local copy: %w", err)
	}
	defer v.Close()
	if !res.Full {
		local := sideRole{Receives: true}
		source := sideRole{Trusted: true, Authority: true}
		st, err := reconcile(ctx, LocalSide(v), peer, local, source, reconcileOptions{RoundPause: time.Second})
		res.Pulled, res.Deleted = st.Pulled, st.DeletedLocal
		if errors.Is(err, errDigestMismatch) {
			// The source kept changing; what is here is a valid copy of
			// it as of moments ago.
			glog.Warningf("backup of volume %d: %v (writes in progress on %s)", opts.VolumeID, err, peer.Name())
		} else if err != nil {
			return res, fmt.Errorf("backup: sync with %s: %w", peer.Name(), err)
		}
	}
	if opts.GarbageThreshold > 0 && v.GarbageRatio() > opts.GarbageThreshold {
		if err := v.Compact(); err != nil {
			return res, fmt.Errorf("backup: compact the local copy: %w", err)
		}
		if err := v.CommitCompact(); err != nil {
			return res, fmt.Errorf("backup: compact the local copy: %w", err)
		}
		res.Compacted = true
	}
	info := v.Info()
	res.FileCount = info.FileCount - min(info.FileCount, info.DeleteCount)
	if err := v.Sync(); err != nil {
		return res, fmt.Errorf("backup: %w", err)
	}
	return res, nil
}

// watchFileSize calls progress with the size of path about every 200 ms
// until the returned stop is called (which waits for the watcher to end).
// A nil progress watches nothing.
func watchFileSize(path string, progress func(int64)) (stop func()) {
	if progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if fi, err := os.Stat(path); err == nil {
					progress(fi.Size())
				}
			}
		}
	}()
	return func() {
		close(done)
		<-ended
	}
}
