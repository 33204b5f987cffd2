package volumeserver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
	"github.com/weedfs/weed/wire"
)

// Defaults of the consistency fields of ServerOptions.
const (
	// DefaultAntiEntropyInterval is the time between two anti-entropy
	// passes (-replication.antiEntropyInterval).
	DefaultAntiEntropyInterval = 10 * time.Minute
	// DefaultCopyBytesPerSecond bounds the .dat streams a server sends for
	// re-replication and backups.
	DefaultCopyBytesPerSecond = 32 << 20
	// DefaultAntiEntropyBytesPerSecond bounds what an anti-entropy pass
	// reads (scrub) and copies.
	DefaultAntiEntropyBytesPerSecond = 8 << 20
)

// initConsistency sets up replica states (every replicated volume starts
// syncing), the fan-out view and the rate limits. NewServer calls it.
func (s *Server) initConsistency() {
	pulse := time.Duration(s.opts.PulseSeconds) * time.Second
	slack := s.opts.SyncSlack
	if slack <= 0 {
		slack = DefaultSyncSlack
	}
	if s.opts.AntiEntropyInterval == 0 {
		s.opts.AntiEntropyInterval = DefaultAntiEntropyInterval
	}
	if s.opts.CopyBytesPerSecond == 0 {
		s.opts.CopyBytesPerSecond = DefaultCopyBytesPerSecond
	}
	if s.opts.AntiEntropyBytesPerSecond == 0 {
		s.opts.AntiEntropyBytesPerSecond = DefaultAntiEntropyBytesPerSecond
	}
	s.sync = newSyncer(s, pulse, slack)
	s.view = newFanoutView(s, pulse)
	s.copyLimit = newRateLimiter(s.opts.CopyBytesPerSecond)
	s.aeLimit = newRateLimiter(s.opts.AntiEntropyBytesPerSecond)
	s.sync.startAll("the server started")
}

// runConsistency starts the sync loop and the anti-entropy loop; they stop
// when ctx ends.
func (s *Server) runConsistency(ctx context.Context) {
	go s.sync.run(ctx)
	if s.opts.AntiEntropyInterval > 0 {
		go s.runAntiEntropy(ctx, s.opts.AntiEntropyInterval)
	}
}

// refuseSyncing answers a request this replica must not serve: a read of
// a volume that is syncing and marked stale (or a fresh copy), or a client
// write or delete of a volume that is syncing; or any of them while the
// server is cut off from the masters. Reads and deletes are redirected to
// a healthy replica, writes refused. It reports whether it answered.
func (s *Server) refuseSyncing(w http.ResponseWriter, r *http.Request, vol *volume.Volume) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if !s.sync.refusesReads(r.Context(), vol) {
			return false
		}
	} else if !s.sync.refusesPrimary(vol) {
		return false
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		httpx.WriteError(w, r, http.StatusServiceUnavailable, fmt.Sprintf("volume %d is syncing on %s; write to a healthy replica", vol.ID(), s.self()))
		return true
	}
	peers, err := s.otherReplicas(r.Context(), vol.ID())
	var healthy []wire.ReplicaLocation
	for _, p := range peers {
		if p.Healthy() {
			healthy = append(healthy, p)
		}
	}
	if len(healthy) == 0 {
		msg := fmt.Sprintf("volume %d is syncing on %s and no healthy replica is known", vol.ID(), s.self())
		if err != nil {
			msg += ": " + err.Error()
		}
		httpx.WriteError(w, r, http.StatusServiceUnavailable, msg)
		return true
	}
	l := healthy[rand.IntN(len(healthy))]
	addr := l.PublicURL
	if addr == "" {
		addr = l.URL
	}
	glog.V(3).Infof("%s %s: volume %d is syncing here, redirecting to %s", r.Method, r.URL.Path, vol.ID(), addr)
	redirectTo(w, r, addr)
	return true
}

// primaryDelete is DELETE /<fid> sent by a client: the delete is applied
// here, then on every replica the master knows (syncing ones included).
// Before it is acknowledged, a replica that could not apply it, or any
// replica missing from the master's list, is marked stale through the
// leader; when that cannot be recorded the client gets a 500 and the mark
// is retried in the background.
func (s *Server) primaryDelete(w http.ResponseWriter, r *http.Request, vol *volume.Volume, fid needle.FileID) {
	if s.refuseSyncing(w, r, vol) {
		return
	}
	ctx := r.Context()
	if vol.Placement().CopyCount() <= 1 {
		size, err := vol.Delete(fid.Key, fid.Cookie, 0)
		s.answerDelete(w, r, vol, fid, size, err)
		return
	}
	hold := s.holdView(vol)
	targets, short, err := s.deleteTargets(ctx, vol)
	if err == nil {
		err = volume.FailAt("delete:targets")
	}
	if err != nil {
		hold.release()
		glog.Warningf("delete %s: %v", fid, err)
		httpx.WriteError(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	size, ts, err := vol.DeleteNewest(fid.Key, fid.Cookie)
	hold.release()
	if isMissing(err) && s.hasPendingMarks(fid.Volume) {
		// Gone here, but an earlier delete's stale mark is not recorded
		// yet: this delete is not acknowledged before it is.
		s.retryMarks(ctx)
		if s.hasPendingMarks(fid.Volume) {
			httpx.WriteJSON(w, r, http.StatusInternalServerError, DeleteReply{Error: "the stale mark of an earlier delete is not recorded yet"})
			return
		}
	}
	if err != nil {
		s.answerDelete(w, r, vol, fid, size, err)
		return
	}
	errs := s.fanout.Each(ctx, targets, func(ctx context.Context, target string) error {
		return s.sendReplicaDelete(ctx, target, fid, ts, 0)
	})
	self := s.self()
	reached := []string{self}
	var failed []string
	for i, t := range targets {
		if errs[i] != nil {
			failed = append(failed, t)
			glog.Warningf("delete %s: replica %s: %v", fid, t, errs[i])
		} else {
			reached = append(reached, t)
		}
	}
	if len(failed) > 0 || short {
		if err := s.markStale(ctx, fid.Volume, failed, short, reached); err != nil {
			glog.Errorf("delete %s: %v", fid, err)
			s.queueMark(pendingMark{vid: fid.Volume, nodes: failed, wildcard: short, reached: reached})
			httpx.WriteJSON(w, r, http.StatusInternalServerError, DeleteReply{Size: size, Error: err.Error()})
			return
		}
	}
	glog.V(3).Infof("deleted %s (%d bytes) at %d on %v; missed by %v", fid, size, ts, reached, failed)
	httpx.WriteJSON(w, r, http.StatusAccepted, DeleteReply{Size: size})
}

// answerDelete writes the reply of a delete applied (or not) locally.
func (s *Server) answerDelete(w http.ResponseWriter, r *http.Request, vol *volume.Volume, fid needle.FileID, size uint32, err error) {
	switch {
	case err == nil:
		httpx.WriteJSON(w, r, http.StatusAccepted, DeleteReply{Size: size})
	case isMissing(err):
		httpx.WriteJSON(w, r, http.StatusNotFound, DeleteReply{})
	default:
		s.writeStoreError(w, r, fmt.Errorf("delete %s: %w", fid, err))
	}
}

// deleteTargets returns the other replicas of vol from the fan-out view,
// asking the master afresh once when it lists fewer than the volume's
// copies; short reports that it still does.
func (s *Server) deleteTargets(ctx context.Context, vol *volume.Volume) (targets []string, short bool, err error) {
	need := vol.Placement().CopyCount() - 1
	for attempt := 0; attempt < 2; attempt++ {
		if attempt > 0 {
			s.view.invalidate(vol.ID())
		}
		peers, err := s.otherReplicas(ctx, vol.ID())
		if err != nil {
			return nil, false, fmt.Errorf("look up the replicas of volume %d: %w", vol.ID(), err)
		}
		targets = targets[:0]
		for _, p := range peers {
			targets = append(targets, p.URL)
		}
		if len(targets) >= need {
			return targets, false, nil
		}
	}
	return targets, true, nil
}

// rollbackOnReplicas sends the rollback delete of a failed write (stamped
// writeAt) to the replicas that may have taken it; those that cannot be
// reached are marked stale (in the background when the leader cannot be
// reached either). A replica the write has not reached yet keeps the
// tombstone and refuses the write if it still arrives.
func (s *Server) rollbackOnReplicas(ctx context.Context, vol *volume.Volume, fid needle.FileID, writeAt, ts uint64, targets []string) {
	errs := s.fanout.Each(ctx, targets, func(ctx context.Context, target string) error {
		return s.sendReplicaDelete(ctx, target, fid, ts, writeAt)
	})
	var failed []string
	for i, t := range targets {
		if errs[i] != nil {
			failed = append(failed, t)
			glog.Errorf("volume %d: undoing the failed write of %s on %s: %v", fid.Volume, fid, t, errs[i])
		}
	}
	if len(failed) == 0 {
		return
	}
	if err := s.markStale(ctx, fid.Volume, failed, false, nil); err != nil {
		glog.Errorf("volume %d: %v (retrying in the background)", fid.Volume, err)
		s.queueMark(pendingMark{vid: fid.Volume, nodes: failed})
	}
}

// readRepair fetches a good copy of a needle whose local record is
// damaged from a healthy replica, appends it here (same bytes, same append
// time) and reads it again. It returns the first error when no replica
// has a good copy.
func (s *Server) readRepair(ctx context.Context, vol *volume.Volume, fid needle.FileID, buf []byte, readErr error) (needle.Needle, []byte, error) {
	if !needsSync(vol) || !(errors.Is(readErr, needle.ErrCRC) || errors.Is(readErr, needle.ErrCorrupt)) {
		return needle.Needle{}, buf, readErr
	}
	peers, err := s.otherReplicas(ctx, vol.ID())
	if err != nil {
		return needle.Needle{}, buf, errors.Join(readErr, err)
	}
	for _, p := range peers {
		if !p.Healthy() {
			continue
		}
		peer := syncPeer{hc: s.fanout.Client(), addr: p.URL, vid: vol.ID(), signer: s.signer}
		rec, err := peer.liveRecord(ctx, fid.Key)
		if err != nil {
			glog.V(1).Infof("read repair of %s: %v", fid, err)
			continue
		}
		res, err := vol.ApplyRecords([][]byte{rec}, volume.ApplyOptions{Repair: true})
		if err != nil {
			glog.Warningf("read repair of %s from %s: %v", fid, p.URL, err)
			continue
		}
		n, out, err := vol.Read(fid.Key, fid.Cookie, buf)
		if err == nil {
			glog.Warningf("read repair: %s was damaged here (%v); replaced with the copy of %s (%d record applied)", fid, readErr, p.URL, res.Applied)
			return n, out, nil
		}
		buf = out
	}
	return needle.Needle{}, buf, readErr
}
