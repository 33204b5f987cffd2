package volume

import (
	"fmt"
	"os"

	"github.com/golang/glog"
	"github.com/weedfs/weed/needle"
)

// ImportVolume adds volume id to the store from a .dat that fill writes to
// the path it is given (in the location with the most free slots); the
// index is built from the .dat. The slot is held while fill runs.
// Errors: ErrVolumeExists, ErrNoFreeSlot, ErrBadCollection, fill's error,
// or the volume's load error.
func (s *Store) ImportVolume(id needle.VolumeID, collection string, fill func(datPath string) error) (*Volume, error) {
	if err := CheckCollection(collection); err != nil {
		return nil, err
	}
	if id == 0 {
		return nil, fmt.Errorf("import volume: %w: id 0", needle.ErrBadVolumeID)
	}
	s.mu.Lock()
	if _, ok := s.volumes[id]; ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("import volume %d: %w", id, ErrVolumeExists)
	}
	loc := s.roomiestLocked()
	if loc == nil {
		note := s.lowSpaceNoteLocked()
		s.mu.Unlock()
		return nil, fmt.Errorf("import volume %d: %w%s", id, ErrNoFreeSlot, note)
	}
	loc.count++ // held for the import
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		loc.count--
		s.mu.Unlock()
	}

	base := FileBase(loc.dir, collection, id)
	part := base + ".dat.part"
	if _, err := os.Stat(base + ".dat"); err == nil {
		release()
		return nil, fmt.Errorf("import volume %d: %w: %s.dat", id, ErrVolumeExists, base)
	}
	if err := fill(part); err != nil {
		release()
		_ = os.Remove(part)
		return nil, fmt.Errorf("import volume %d: %w", id, err)
	}
	for _, ext := range volumeExts {
		if err := removeIfExists(base + ext); err != nil {
			release()
			_ = os.Remove(part)
			return nil, fmt.Errorf("import volume %d: %w", id, err)
		}
	}
	if err := os.Rename(part, base+".dat"); err != nil {
		release()
		_ = os.Remove(part)
		return nil, fmt.Errorf("import volume %d: %w", id, err)
	}
	if err := syncDir(loc.dir); err != nil {
		glog.Warningf("import volume %d: %v", id, err)
	}
	v, err := Open(loc.dir, collection, id, s.opts)
	if err != nil {
		release()
		return nil, fmt.Errorf("import volume %d: %w", id, err)
	}
	s.mu.Lock()
	if _, ok := s.volumes[id]; ok {
		loc.count--
		s.mu.Unlock()
		_ = v.Destroy()
		return nil, fmt.Errorf("import volume %d: %w", id, ErrVolumeExists)
	}
	v.space = loc.space
	v.SetSizeLimit(s.sizeLimit)
	s.volumes[id] = v
	s.where[id] = loc
	s.mu.Unlock()
	glog.Infof("volume store: imported volume %d (collection %q, %d bytes) in %s", id, collection, v.Size(), loc.dir)
	return v, nil
}
