package replication

import (
	"context"
	"errors"
	"fmt"

	"github.com/golang/glog"

	"github.com/weedfs/weed/volume"
)

// errNotListed means the master's fan-out view of a volume does not list
// this replica yet: its heartbeat has not reached the leader.
var errNotListed = errors.New("the master does not list this replica yet")

// errStillStale means the leader did not accept a sync as covering every
// mark of this replica (no qualifying source, or a newer mark).
var errStillStale = errors.New("the leader still lists this replica as stale")

// rejoin reconciles v with its peers and, when the leader agrees that
// nothing is missing any more, returns nil (the caller marks it healthy).
//
// Sources: a peer counts as a source of a sync that clears a stale mark
// only if the master does not list it as stale; among those, healthy
// complete peers are preferred, and syncing ones count only when no
// healthy peer answered (a whole-cluster restart).
func (y *syncer) rejoin(ctx context.Context, v *volume.Volume) error {
	vid := v.ID()
	// Every peer that caches the fan-out view drops it, so that its next
	// write or delete reaches this replica. That holds only once the
	// master lists this replica: until then a peer would fetch a view
	// without it again, and a delete acknowledged after the sync below
	// would never arrive here (a fresh copy, before its heartbeat).
	y.c.view.invalidate(vid)
	peers, listed, err := y.c.replicaView(ctx, vid)
	if err != nil {
		return fmt.Errorf("replicas: %w", err)
	}
	if !listed {
		y.c.beat()
		return errNotListed
	}
	for _, p := range peers {
		if err := y.c.peers.Peer(p.URL, vid).Hello(ctx); err != nil {
			glog.V(1).Infof("volume %d: hello to %s: %v", vid, p.URL, err)
		}
	}
	ticket, err := y.c.masters.StaleTicket(ctx, vid, y.c.selfAddr())
	if err != nil {
		return fmt.Errorf("sync ticket: %w", err)
	}
	if ticket.Stale {
		y.markedStale(vid)
	}
	_, fresh := y.state(vid)
	self := sideRole{Trusted: !ticket.Stale && !fresh, Receives: true}
	var healthySources, syncingSources []string
	var errs []error
	for _, p := range peers {
		peer := y.c.peers.Peer(p.URL, vid)
		pst, err := peer.Status(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		role := sideRole{
			Trusted:   !p.Stale && !pst.Fresh,
			Authority: !p.Stale && !pst.Fresh && !pst.Syncing && !p.Syncing,
			Receives:  true,
		}
		stats, err := reconcile(ctx, LocalSide(v), peer, self, role, reconcileOptions{Slack: y.slack, RoundPause: syncRoundPause})
		if err != nil {
			// A peer that answers must be reconciled with before this
			// replica serves again.
			return fmt.Errorf("with %s: %w", p.URL, err)
		}
		glog.V(1).Infof("volume %d: synced with %s: %v", vid, p.URL, stats)
		switch {
		case role.Authority:
			healthySources = append(healthySources, p.URL)
		case role.Trusted:
			syncingSources = append(syncingSources, p.URL)
		}
	}
	sources := healthySources
	if len(sources) == 0 {
		sources = syncingSources
	}
	if fresh && len(healthySources) == 0 {
		return fmt.Errorf("a new copy needs a healthy peer to sync with: %w", errors.Join(errs...))
	}
	stale, err := y.c.masters.ReportSynced(ctx, vid, y.c.selfAddr(), ticket.Seq, sources)
	if err != nil {
		return fmt.Errorf("report the sync: %w", err)
	}
	if stale {
		return fmt.Errorf("%w (synced with %v; errors: %v)", errStillStale, sources, errors.Join(errs...))
	}
	if len(errs) > 0 {
		glog.Warningf("volume %d: healthy again; peers that could not be synced with: %v", vid, errors.Join(errs...))
	}
	return nil
}
