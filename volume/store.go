package volume

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/rlimit"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/wire"
)

// Store is the volume server's set of -dir locations, each with a -max.
// NewStore loads every volume it finds (N.dat and c_N.dat), which is how
// users migrate data: copy a .dat/.idx pair into another server's dir.
// Safe for concurrent use. The store never creates or removes a file
// outside its directories: collection names are checked (CheckCollection).
type Store struct {
	opts      Options
	locations []*location

	mu        sync.RWMutex
	volumes   map[needle.VolumeID]*Volume
	where     map[needle.VolumeID]*location
	sizeLimit uint64

	statfs      statfsFunc             // statfs, or a test's
	spaceNotify atomic.Pointer[func()] // OnSpaceChange's function
}

// location is one -dir with its -max.
type location struct {
	dir string
	max int
	// auto marks a -max of 0: max is recomputed from the free space
	// (adjustAutoMax).
	auto  bool
	count int       // volumes held; under Store.mu
	space *dirSpace // shared with its volumes
}

// hasRoom reports whether a new volume may go to the location: a free slot
// and not low on disk space. The caller holds Store.mu.
func (l *location) hasRoom() bool { return l.max > l.count && !l.space.low.Load() }

// volumeFile names a volume found in a directory.
type volumeFile struct {
	collection string
	id         needle.VolumeID
}

// parseDatName parses "N.dat" or "collection_N.dat" (the last '_' splits
// the collection from the id). ok is false for any other name.
func parseDatName(name string) (volumeFile, bool) {
	base, found := strings.CutSuffix(name, ".dat")
	if !found || base == "" {
		return volumeFile{}, false
	}
	collection, idStr := "", base
	if i := strings.LastIndexByte(base, '_'); i >= 0 {
		collection, idStr = base[:i], base[i+1:]
		if collection == "" {
			return volumeFile{}, false
		}
	}
	for i := 0; i < len(idStr); i++ {
		if idStr[i] < '0' || idStr[i] > '9' {
			return volumeFile{}, false
		}
	}
	id, err := needle.ParseVolumeID(idStr)
	if err != nil || id == 0 || id.String() != idStr || CheckCollection(collection) != nil {
		return volumeFile{}, false
	}
	return volumeFile{collection: collection, id: id}, true
}

// listVolumes returns the volumes whose .dat is in dir, sorted by id; names
// that look like volume files but are not valid are logged and skipped.
func listVolumes(dir string) ([]volumeFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []volumeFile
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".dat") {
			continue
		}
		vf, ok := parseDatName(e.Name())
		if !ok {
			glog.Warningf("%s: ignoring %s: not N.dat or <collection>_N.dat", dir, e.Name())
			continue
		}
		out = append(out, vf)
	}
	slices.SortFunc(out, func(a, b volumeFile) int { return cmp.Compare(a.id, b.id) })
	return out, nil
}

// NewStore opens the store's directories (creating missing ones) and loads
// every volume in them, in parallel. dirs and maxVolumes pair up; a max of
// 0 sizes its directory from its free space (SeaweedFS's -max=0: the
// volumes held, plus one per volume size limit of unpromised free space,
// less one), recomputed as the space changes. A volume
// that fails to load is logged and skipped, as is a second volume with an
// id already loaded; neither stops the others. Errors: mismatched or empty
// lists, a negative max, an unusable directory, bad options, and
// ErrOpenFilesLimit when the open-files limit cannot hold every volume
// found (counted before any is loaded) or a load runs out of descriptors
// anyway: the store never serves part of its volumes for want of them.
func NewStore(dirs []string, maxVolumes []int, opts Options) (*Store, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	if len(dirs) == 0 || len(dirs) != len(maxVolumes) {
		return nil, fmt.Errorf("volume store: %d dirs and %d max counts", len(dirs), len(maxVolumes))
	}
	s := &Store{
		opts:    opts,
		volumes: make(map[needle.VolumeID]*Volume),
		where:   make(map[needle.VolumeID]*location),
		statfs:  statfs,
	}
	type found struct {
		loc *location
		vf  volumeFile
	}
	var todo []found
	for i, dir := range dirs {
		if maxVolumes[i] < 0 {
			return nil, fmt.Errorf("volume store: negative max %d for %s", maxVolumes[i], dir)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("volume store: %w", err)
		}
		loc := &location{dir: dir, max: maxVolumes[i], auto: maxVolumes[i] == 0, space: &dirSpace{dir: dir, notify: &s.spaceNotify}}
		s.locations = append(s.locations, loc)
		vfs, err := listVolumes(dir)
		if err != nil {
			return nil, fmt.Errorf("volume store: %w", err)
		}
		for _, vf := range vfs {
			todo = append(todo, found{loc, vf})
		}
	}

	// Count before loading: a store that runs out of descriptors halfway
	// would serve half a disk (and then accept no connections).
	if err := checkOpenFiles(len(todo), opts.MapKind); err != nil {
		return nil, fmt.Errorf("volume store: %w", err)
	}
	if err := checkOpenFiles(s.MaxVolumeCount(), opts.MapKind); err != nil {
		glog.Warningf("volume store: -max allows %d volumes, more than the open files limit holds (new volumes past it will fail): %v", s.MaxVolumeCount(), err)
	}

	opened := make([]*Volume, len(todo))
	errs := make([]error, len(todo))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(todo), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				f := todo[i]
				v, err := Open(f.loc.dir, f.vf.collection, f.vf.id, opts)
				if err != nil {
					errs[i] = err
					continue
				}
				opened[i] = v
			}
		}()
	}
	for i := range todo {
		work <- i
	}
	close(work)
	wg.Wait()
	for i, err := range errs {
		if err != nil && rlimit.IsTooManyOpenFiles(err) {
			for _, v := range opened {
				if v != nil {
					_ = v.Close()
				}
			}
			return nil, fmt.Errorf("volume store: %w: out of file descriptors loading volume %d in %s (%w); raise the limit with `ulimit -n` and start again",
				ErrOpenFilesLimit, todo[i].vf.id, todo[i].loc.dir, err)
		}
	}

	for i, v := range opened {
		if err := errs[i]; err != nil {
			glog.Errorf("volume store: skipping volume %d in %s: %v", todo[i].vf.id, todo[i].loc.dir, err)
			continue
		}
		if v == nil {
			continue
		}
		loc := todo[i].loc
		if _, dup := s.volumes[v.id]; dup {
			glog.Errorf("volume store: volume %d found twice (%s and %s); serving the first", v.id, s.where[v.id].dir, loc.dir)
			if err := v.Close(); err != nil {
				glog.Warningf("volume store: %v", err)
			}
			continue
		}
		v.space = loc.space
		s.volumes[v.id] = v
		s.where[v.id] = loc
		loc.count++
	}
	s.CheckSpace()
	for _, loc := range s.locations {
		if loc.count > loc.max {
			glog.Warningf("volume store: %s holds %d volumes, more than its max %d", loc.dir, loc.count, loc.max)
		}
	}
	glog.Infof("volume store: loaded %d volumes from %d dirs", len(s.volumes), len(s.locations))
	return s, nil
}

// Volume returns the volume with id, or nil if the store has none.
func (s *Store) Volume(id needle.VolumeID) *Volume {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.volumes[id]
}

// Volumes returns the store's volumes sorted by id.
func (s *Store) Volumes() []*Volume {
	s.mu.RLock()
	out := make([]*Volume, 0, len(s.volumes))
	for _, v := range s.volumes {
		out = append(out, v)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Volume) int { return cmp.Compare(a.id, b.id) })
	return out
}

// AddVolume creates a volume in the location with the most free slots.
// Errors: ErrVolumeExists, ErrNoFreeSlot, ErrBadCollection, a bad
// placement, or the file system's.
func (s *Store) AddVolume(id needle.VolumeID, collection string, rp needle.Placement, ttl needle.TTL) error {
	if err := CheckCollection(collection); err != nil {
		return err
	}
	if id == 0 {
		return fmt.Errorf("add volume: %w: id 0", needle.ErrBadVolumeID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.volumes[id]; ok {
		return fmt.Errorf("add volume %d: %w", id, ErrVolumeExists)
	}
	best := s.roomiestLocked()
	if best == nil {
		return fmt.Errorf("add volume %d: %w%s", id, ErrNoFreeSlot, s.lowSpaceNoteLocked())
	}
	v, err := Create(best.dir, collection, id, rp, ttl, s.opts)
	if err != nil {
		return err
	}
	v.space = best.space
	v.SetSizeLimit(s.sizeLimit)
	s.volumes[id] = v
	s.where[id] = best
	best.count++
	glog.Infof("volume store: added volume %d (collection %q, replication %s, ttl %q) in %s", id, collection, rp, ttl, best.dir)
	return nil
}

// roomiestLocked returns the location with the most free slots among those
// with room (hasRoom), or nil. The caller holds mu.
func (s *Store) roomiestLocked() *location {
	var best *location
	for _, loc := range s.locations {
		if loc.hasRoom() && (best == nil || loc.max-loc.count > best.max-best.count) {
			best = loc
		}
	}
	return best
}

// lowSpaceNoteLocked explains ErrNoFreeSlot when directories with free
// slots are low on disk space. The caller holds mu.
func (s *Store) lowSpaceNoteLocked() string {
	n := 0
	for _, loc := range s.locations {
		if loc.max > loc.count && loc.space.low.Load() {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d dirs with free slots are low on disk space: %v)", n, ErrNoSpace)
}

// DeleteVolume destroys the volume with id and removes its files.
// ErrVolumeNotFound if the store has none.
func (s *Store) DeleteVolume(id needle.VolumeID) error {
	s.mu.Lock()
	v, ok := s.volumes[id]
	if ok {
		s.forgetLocked(id)
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("delete volume %d: %w", id, ErrVolumeNotFound)
	}
	return v.Destroy()
}

func (s *Store) forgetLocked(id needle.VolumeID) {
	s.where[id].count--
	delete(s.volumes, id)
	delete(s.where, id)
}

// DeleteCollection destroys every volume of the collection. The default
// collection ("") cannot be deleted this way (ErrBadCollection); a
// collection with no volumes is not an error.
func (s *Store) DeleteCollection(collection string) error {
	if collection == "" {
		return fmt.Errorf("delete collection: %w: the default collection", ErrBadCollection)
	}
	if err := CheckCollection(collection); err != nil {
		return err
	}
	s.mu.Lock()
	var doomed []*Volume
	for id, v := range s.volumes {
		if v.collection == collection {
			doomed = append(doomed, v)
			s.forgetLocked(id)
		}
	}
	s.mu.Unlock()
	var err error
	for _, v := range doomed {
		err = errors.Join(err, v.Destroy())
	}
	if len(doomed) > 0 {
		glog.Infof("volume store: deleted collection %q (%d volumes)", collection, len(doomed))
	}
	return err
}

// MaxVolumeCount returns the sum of the locations' -max, except that a
// location low on disk space counts only the volumes it holds: the master
// grows no volume there.
func (s *Store) MaxVolumeCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, loc := range s.locations {
		if loc.space.low.Load() {
			n += min(loc.count, loc.max)
		} else {
			n += loc.max
		}
	}
	return n
}

// SetVolumeSizeLimit sets the size (from the master's heartbeat reply) at
// or above which every volume, present and future, refuses writes with
// ErrReadOnly. 0 means no limit.
func (s *Store) SetVolumeSizeLimit(bytes uint64) {
	s.mu.Lock()
	s.sizeLimit = bytes
	for _, v := range s.volumes {
		v.SetSizeLimit(bytes)
	}
	s.mu.Unlock()
	if s.adjustAutoMax() && len(s.locations) > 0 {
		s.locations[0].space.notifyChange()
	}
}

// Status returns every volume's Info, sorted by id.
func (s *Store) Status() []wire.VolumeInfo {
	vols := s.Volumes()
	out := make([]wire.VolumeInfo, len(vols))
	for i, v := range vols {
		out[i] = v.Info()
	}
	return out
}

// MaxFileKey returns the largest needle key of any volume.
func (s *Store) MaxFileKey() needle.Key {
	var k needle.Key
	for _, v := range s.Volumes() {
		k = max(k, v.MaxFileKey())
	}
	return k
}

// Dirs returns the store's directories in the order given to NewStore.
func (s *Store) Dirs() []string {
	out := make([]string, len(s.locations))
	for i, loc := range s.locations {
		out[i] = loc.dir
	}
	return out
}

// Close closes every volume; the store must not be used afterwards.
func (s *Store) Close() error {
	s.mu.Lock()
	vols := make([]*Volume, 0, len(s.volumes))
	for _, v := range s.volumes {
		vols = append(vols, v)
	}
	s.mu.Unlock()
	var err error
	for _, v := range vols {
		err = errors.Join(err, v.Close())
	}
	return err
}
