package volume

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/golang/glog"
	"github.com/weedfs/weed/wire"
)

// ErrNoSpace means a directory has too little free disk space for new
// needles: an append failed with ENOSPC (or EDQUOT), or the free space is
// below -minFreeSpace. Writes refused for it wrap ErrReadOnly too.
var ErrNoSpace = errors.New("not enough free disk space")

// ErrBadMinFreeSpace means a -minFreeSpace value does not parse.
var ErrBadMinFreeSpace = errors.New("bad minimum free space")

// MinFreeSpace is -minFreeSpace (SeaweedFS's flag): the free space of a
// directory below which its volumes take no new needles and no new volume
// is created there. Either Percent (of the file system's size) or Bytes is
// set; the zero value sets no threshold (only a full disk stops writes).
type MinFreeSpace struct {
	Percent float64
	Bytes   uint64
}

// byteUnits are the size suffixes ParseMinFreeSpace takes, as SeaweedFS
// (go-humanize) reads them: K, KB = 1000; Ki, KiB = 1024; and so on.
var byteUnits = map[string]float64{
	"b": 1,
	"k": 1e3, "kb": 1e3, "ki": 1 << 10, "kib": 1 << 10,
	"m": 1e6, "mb": 1e6, "mi": 1 << 20, "mib": 1 << 20,
	"g": 1e9, "gb": 1e9, "gi": 1 << 30, "gib": 1 << 30,
	"t": 1e12, "tb": 1e12, "ti": 1 << 40, "tib": 1 << 40,
	"p": 1e15, "pb": 1e15, "pi": 1 << 50, "pib": 1 << 50,
}

// ParseMinFreeSpace parses a -minFreeSpace value the way SeaweedFS does: a
// plain number up to 100 is a percentage ("1" is 1%), a larger one a
// number of bytes; "5%" is a percentage; a number with a size unit
// ("10GiB", "500MB", "64KiB", "100B") is a size. Empty (or "0") means no
// threshold. Errors wrap ErrBadMinFreeSpace.
func ParseMinFreeSpace(s string) (MinFreeSpace, error) {
	in := s
	s = strings.TrimSpace(s)
	if s == "" {
		return MinFreeSpace{}, nil
	}
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.') {
		end++
	}
	num, unit := s[:end], strings.ToLower(strings.TrimSpace(s[end:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return MinFreeSpace{}, fmt.Errorf("%w: %q: want a percentage (1, 5%%) or a size (10GiB)", ErrBadMinFreeSpace, in)
	}
	if unit == "%" || unit == "" && f <= 100 {
		if f > 100 {
			return MinFreeSpace{}, fmt.Errorf("%w: %q: a percentage above 100", ErrBadMinFreeSpace, in)
		}
		return MinFreeSpace{Percent: f}, nil
	}
	mult := 1.0
	if unit != "" {
		m, ok := byteUnits[unit]
		if !ok {
			return MinFreeSpace{}, fmt.Errorf("%w: %q: unknown unit %q", ErrBadMinFreeSpace, in, s[end:])
		}
		mult = m
	}
	b := f * mult
	if b >= math.MaxUint64 {
		return MinFreeSpace{}, fmt.Errorf("%w: %q: too large", ErrBadMinFreeSpace, in)
	}
	return MinFreeSpace{Bytes: uint64(b)}, nil
}

// String formats m so that ParseMinFreeSpace reads it back: "1%",
// "1048576B", or "0" for no threshold.
func (m MinFreeSpace) String() string {
	switch {
	case m.Percent > 0:
		return strconv.FormatFloat(m.Percent, 'g', -1, 64) + "%"
	case m.Bytes > 0:
		return strconv.FormatUint(m.Bytes, 10) + "B"
	}
	return "0"
}

// threshold returns the free bytes below which a file system of total
// bytes is low on space.
func (m MinFreeSpace) threshold(total uint64) uint64 {
	if m.Percent > 0 {
		return uint64(math.Ceil(float64(total) * m.Percent / 100))
	}
	return m.Bytes
}

func (m MinFreeSpace) check() error {
	if m.Percent < 0 || m.Percent > 100 || math.IsNaN(m.Percent) {
		return fmt.Errorf("%w: %w: percentage %v", ErrBadOptions, ErrBadMinFreeSpace, m.Percent)
	}
	if m.Percent > 0 && m.Bytes > 0 {
		return fmt.Errorf("%w: %w: both a percentage and a size", ErrBadOptions, ErrBadMinFreeSpace)
	}
	return nil
}

// spaceSlack is how much free space, beyond -minFreeSpace and the record
// that failed, a directory whose append failed for lack of space needs
// before its volumes take writes again (so that they do not flap).
const spaceSlack = 1 << 20

// statfsFunc returns the bytes available to the server and the total bytes
// of the file system holding dir.
type statfsFunc func(dir string) (free, total uint64, err error)

// dirSpace is the space state of one -dir, shared by its volumes. low is
// read on every write (one atomic load); the rest is under mu.
type dirSpace struct {
	dir    string
	low    atomic.Bool             // its volumes take no new needles
	notify *atomic.Pointer[func()] // the store's: called when low changes

	mu     sync.Mutex
	full   bool   // an append failed for lack of space, and space has not returned
	need   uint64 // the size of the append that failed
	below  bool   // free < -minFreeSpace at the last check
	known  bool   // free and total were measured
	free   uint64 // at the last check
	total  uint64
	failed bool // the last statfs failed (to log a failure streak once)
}

// outOfSpace records that an append of n bytes failed with err for lack of
// space: the directory's volumes stop taking needles at once, and the
// store's notify runs (the server beats to the master right away).
func (d *dirSpace) outOfSpace(n int, err error) {
	d.mu.Lock()
	first := !d.full
	d.full = true
	d.need = max(d.need, uint64(n))
	changed := d.updateLocked()
	d.mu.Unlock()
	if first {
		glog.Errorf("volume store: %s is out of space (%v): its volumes take no new needles until space returns", d.dir, err)
	}
	if changed {
		d.notifyChange()
	}
}

// check measures the free space with statfs and updates low against min.
// It reports whether low changed.
func (d *dirSpace) check(statfs statfsFunc, min MinFreeSpace) bool {
	free, total, err := statfs(d.dir)
	d.mu.Lock()
	if err != nil {
		if !d.failed {
			glog.Warningf("volume store: free space of %s: %v", d.dir, err)
		}
		d.failed = true
		d.mu.Unlock()
		return false
	}
	d.failed = false
	d.free, d.total, d.known = free, total, true
	thr := min.threshold(total)
	wasBelow := d.below
	d.below = free < thr
	if d.below && !wasBelow {
		glog.Warningf("volume store: %s has %d of %d bytes free, below -minFreeSpace %s: its volumes take no new needles", d.dir, free, total, min)
	}
	if d.full && free >= satAdd(thr, max(d.need, spaceSlack)) {
		d.full, d.need = false, 0
		glog.Infof("volume store: %s has %d bytes free again", d.dir, free)
	}
	changed := d.updateLocked()
	low := d.low.Load()
	d.mu.Unlock()
	if changed && !low {
		glog.Infof("volume store: the volumes in %s take writes again", d.dir)
	}
	return changed
}

// updateLocked sets low from full and below; it reports whether low
// changed. The caller holds mu.
func (d *dirSpace) updateLocked() bool {
	want := d.full || d.below
	return d.low.Swap(want) != want
}

func (d *dirSpace) notifyChange() {
	if fn := d.notify.Load(); fn != nil {
		(*fn)()
	}
}

// info returns the directory's last measured space.
func (d *dirSpace) info() wire.DiskInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return wire.DiskInfo{Dir: d.dir, Free: d.free, Total: d.total, LowSpace: d.low.Load()}
}

// satAdd adds without overflowing.
func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// OnSpaceChange makes the store call fn (which must not block) whenever a
// directory becomes low on space or has space again; the server beats to
// the master then. fn replaces any earlier one.
func (s *Store) OnSpaceChange(fn func()) { s.spaceNotify.Store(&fn) }

// CheckSpace measures every directory's free space and returns it; a
// directory below Options.MinFreeSpace, or whose append failed for lack of
// space and has not regained it, refuses new needles (its volumes report
// ReadOnly) until the next check finds enough. It calls the OnSpaceChange
// function when a directory's state changed.
func (s *Store) CheckSpace() []wire.DiskInfo {
	out := make([]wire.DiskInfo, len(s.locations))
	changed := false
	for i, loc := range s.locations {
		if loc.space.check(s.statfs, s.opts.MinFreeSpace) {
			changed = true
		}
		out[i] = loc.space.info()
	}
	if s.adjustAutoMax() {
		changed = true
	}
	if changed && len(s.locations) > 0 {
		s.locations[0].space.notifyChange()
	}
	return out
}

// SetStatfs replaces the measure of a directory's free and total bytes
// (the file system's statfs) for the next CheckSpace calls; tests use it to
// stand for a disk filling up. Call it before the store is in use.
func (s *Store) SetStatfs(fn func(dir string) (free, total uint64, err error)) {
	s.statfs = fn
}
