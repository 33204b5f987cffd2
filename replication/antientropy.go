package replication

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/volume"
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
func (c *Coordinator) runAntiEntropy(ctx context.Context, interval time.Duration) {
	first := interval/2 + rand.N(interval/2+1)
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.antiEntropyPass(ctx)
		t.Reset(interval)
	}
}

// antiEntropyPass checks every replicated volume this server leads.
func (c *Coordinator) antiEntropyPass(ctx context.Context) {
	start := time.Now()
	checked := 0
	for _, v := range c.store.Volumes() {
		if ctx.Err() != nil {
			return
		}
		if !needsSync(v) || c.sync.refusesPrimary(v) {
			continue
		}
		did, err := c.antiEntropyVolume(ctx, v)
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
func (c *Coordinator) antiEntropyVolume(ctx context.Context, v *volume.Volume) (bool, error) {
	peers, err := c.OtherReplicas(ctx, v.ID())
	if err != nil {
		return false, err
	}
	self := c.selfAddr()
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
	damaged, err := v.Scrub(ctx, c.aeLimit)
	if err != nil {
		return true, fmt.Errorf("scrub: %w", err)
	}
	for _, key := range damaged {
		repaired := false
		for _, p := range healthy {
			rec, err := c.peers.Peer(p.URL, v.ID()).LiveRecord(ctx, key)
			if err != nil {
				continue
			}
			if res, err := v.ApplyRecords([][]byte{rec}, volume.ApplyOptions{Repair: true}); err == nil && res.Applied > 0 {
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
		peer := c.peers.Peer(p.URL, v.ID())
		st, err := reconcile(ctx, LocalSide(v), peer, role, role, reconcileOptions{SkipSince: true, Rounds: 2, RoundPause: time.Second, Limit: c.aeLimit})
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
