package volume

// A -dir given -max=0 sizes itself from its free space, as SeaweedFS does:
// the volumes it holds plus one new volume per volume size limit of free
// space not already promised to the volumes it holds (each may still grow to
// the limit), less one kept as headroom. Until the master has named the
// volume size limit such a directory takes no new volume.

// autoMax returns the -max of an automatic location: its volumes plus the
// new volumes its free space holds. The caller holds s.mu.
func (s *Store) autoMax(loc *location) int {
	if s.sizeLimit == 0 {
		return loc.count
	}
	var promised uint64
	for id, where := range s.where {
		if where != loc {
			continue
		}
		if v := s.volumes[id]; v != nil && v.Size() < s.sizeLimit {
			promised += s.sizeLimit - v.Size()
		}
	}
	loc.space.mu.Lock()
	free := loc.space.free
	loc.space.mu.Unlock()
	n := loc.count
	if free > promised && free-promised > s.sizeLimit {
		n += int((free-promised)/s.sizeLimit) - 1
	}
	return n
}

// adjustAutoMax recomputes the -max of every automatic location from the
// last measured free space and the volume size limit, and reports whether
// one changed (the master must hear of it).
func (s *Store) adjustAutoMax() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, loc := range s.locations {
		if !loc.auto {
			continue
		}
		if m := s.autoMax(loc); m != loc.max {
			loc.max = m
			changed = true
		}
	}
	return changed
}
