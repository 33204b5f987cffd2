package volume

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// Anti-entropy: every interval, each server scrubs its copy of every
// replicated volume it serves (every live needle's CRC, paced) and repairs
// damaged needles from a healthy replica; for the volumes where it has the
// lowest address among the healthy replicas, it then compares digests with
// the others and reconciles the buckets that differ. Reads and copies are
// paced by the anti-entropy rate limit, so serving traffic is not starved.

// runAntiEntropy runs passes every interval (first one after a random part
// of it) until ctx ends.
func (s *Server) runAntiEntropy(ctx context.Context, interval time.Duration) {
	first := interval/2 + rand.N(interval/2+1)
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.antiEntropyPass(ctx)
		t.Reset(interval)
	}
}

// antiEntropyPass checks every replicated volume this server leads.
func (s *Server) antiEntropyPass(ctx context.Context) {
	start := time.Now()
	checked := 0
	for _, v := range s.store.Volumes() {
		if ctx.Err() != nil {
			return
		}
		if !needsSync(v) || s.sync.refusesPrimary(v) {
			continue
		}
		did, err := s.antiEntropyVolume(ctx, v)
		if err != nil {
			glog.Warningf("anti-entropy: volume %d: %v", v.ID(), err)
		}
		if did {
			checked++
		}
	}
	glog.V(1).Infof("anti-entropy: checked %d volumes in %v", checked, time.Since(start).Round(time.Millisecond))
}

// antiEntropyVolume scrubs v and, when this server has the lowest address
// among its healthy replicas, reconciles it with them. It reports whether
// it checked v (it has a healthy peer).
func (s *Server) antiEntropyVolume(ctx context.Context, v *Volume) (bool, error) {
	peers, err := s.otherReplicas(ctx, v.ID())
	if err != nil {
		return false, err
	}
	self := s.self()
	var healthy []wire.ReplicaLocation
	lowest := true
	for _, p := range peers {
		if !p.Healthy() {
			continue
		}
		lowest = lowest && self < p.URL
		healthy = append(healthy, p)
	}
	if len(healthy) == 0 {
		return false, nil
	}
	damaged, err := v.Scrub(ctx, s.aeLimit)
	if err != nil {
		return true, fmt.Errorf("scrub: %w", err)
	}
	for _, key := range damaged {
		repaired := false
		for _, p := range healthy {
			peer := syncPeer{hc: s.fanout.Client(), addr: p.URL, vid: v.ID(), signer: s.signer}
			rec, err := peer.liveRecord(ctx, key)
			if err != nil {
				continue
			}
			if res, err := v.ApplyRecords([][]byte{rec}, ApplyOptions{Repair: true}); err == nil && res.Applied > 0 {
				glog.Warningf("anti-entropy: volume %d: needle %x was damaged here; replaced with the copy of %s", v.ID(), uint64(key), p.URL)
				repaired = true
				break
			}
		}
		if !repaired {
			glog.Errorf("anti-entropy: volume %d: needle %x is damaged here and no healthy replica has a good copy", v.ID(), uint64(key))
		}
	}
	if !lowest {
		return true, nil
	}
	role := sideRole{Trusted: true, Authority: true, Receives: true}
	for _, p := range healthy {
		peer := syncPeer{hc: s.fanout.Client(), addr: p.URL, vid: v.ID(), signer: s.signer}
		st, err := reconcile(ctx, localSide{v}, peer, role, role, reconcileOptions{SkipSince: true, Rounds: 2, RoundPause: time.Second, Limit: s.aeLimit})
		if err != nil {
			glog.Warningf("anti-entropy: volume %d with %s: %v", v.ID(), p.URL, err)
			continue
		}
		if st.Pulled+st.Pushed+st.DeletedLocal+st.DeletedRemote > 0 {
			glog.Warningf("anti-entropy: volume %d and %s had diverged: %v", v.ID(), p.URL, st)
		}
	}
	return true, nil
}

// Scrub reads every record of the volume, paced by limit, and returns the
// keys of the live needles whose record is damaged (fails its checksum or
// does not parse although the index agrees with its bounds, or starts in
// damage whose bounds are lost, which the scrub steps over).
func (v *Volume) Scrub(ctx context.Context, limit *rateLimiter) ([]needle.Key, error) {
	if err := v.checkSyncable(); err != nil {
		return nil, err
	}
	// Its own handle of the .dat, read without the volume's locks: a
	// compaction that commits meanwhile only makes the keys found stale
	// (the offsets no longer match the map, so they are not reported).
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return nil, fmt.Errorf("volume %d: %w", v.id, ErrClosed)
	}
	f, err := os.Open(v.base + ".dat")
	end, start := v.end.Load(), v.sb.dataStart()
	v.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("volume %d: %w", v.id, err)
	}
	defer f.Close()
	var damaged []needle.Key
	r := &pacedReaderAt{ctx: ctx, r: f, limit: limit}
	var skipped []damagedSpan
	stop, reason, err := salvageRecords(r, start, end, v.version, func(int64, *needle.Needle, []byte) error {
		return nil
	}, func(off int64, h needle.Header, _ []byte, _ error) bool {
		nv, ok, err := v.lookup(h.Key)
		if err == nil && ok && needle.OffsetBytes(nv.Offset) == off && nv.Size == h.Size {
			damaged = append(damaged, h.Key)
		}
		return true
	}, func(d damagedSpan) { skipped = append(skipped, d) })
	if err != nil {
		return damaged, fmt.Errorf("volume %d: %w", v.id, err)
	}
	if len(skipped) > 0 {
		// Damage whose bounds are lost: the live needles that start in
		// it are damaged too; the rest is dead and only waits for a
		// vacuum.
		live, _, err := v.liveNeedlesIn(skipped)
		if err != nil {
			return damaged, err
		}
		damaged = append(damaged, live...)
	}
	if stop < end {
		return damaged, fmt.Errorf("volume %d: scrub stopped at %d: %w", v.id, stop, reason)
	}
	return damaged, nil
}

// pacedReaderAt paces the reads of an io.ReaderAt with a rateLimiter.
type pacedReaderAt struct {
	ctx   context.Context
	r     io.ReaderAt
	limit *rateLimiter
}

func (p *pacedReaderAt) ReadAt(b []byte, off int64) (int, error) {
	if err := p.limit.wait(p.ctx, int64(len(b))); err != nil {
		return 0, err
	}
	return p.r.ReadAt(b, off)
}
