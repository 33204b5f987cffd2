package volume

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/weedfs/weed/needle"
)

// Read returns the live needle with key if cookie matches, with exactly one
// ReadAt of the record (header, body, checksum and, in version 3, the
// timestamp; never the padding). buf is reused for the record when its
// capacity is large enough (pass nil to allocate); the needle's slices alias
// the returned buffer, which the caller owns.
//
// Errors: needle.ErrNotFound for a missing, deleted or expired (ttl) needle,
// needle.ErrCookieMismatch for a wrong cookie, needle.ErrCRC or
// needle.ErrCorrupt for damaged bytes, ErrClosed.
func (v *Volume) Read(key needle.Key, cookie needle.Cookie, buf []byte) (needle.Needle, []byte, error) {
	v.fileMu.RLock()
	defer v.fileMu.RUnlock()
	if v.closed {
		return needle.Needle{}, buf, fmt.Errorf("volume %d: %w", v.id, ErrClosed)
	}
	nv, ok := v.nm.Get(key)
	if !ok || nv.Size == 0 || nv.Size == needle.TombstoneSize {
		return needle.Needle{}, buf, fmt.Errorf("volume %d: key %x: %w", v.id, uint64(key), needle.ErrNotFound)
	}
	need := needle.RecordLenUnpadded(nv.Size, v.version)
	off := needle.OffsetBytes(nv.Offset)
	if off+need > v.end.Load() {
		// A damaged .idx entry (the load checks only the last ones): no
		// buffer of the size it claims.
		return needle.Needle{}, buf, fmt.Errorf("volume %d: read needle %x at %d: %w: a record of %d bytes runs past the end of the .dat (%d bytes)",
			v.id, uint64(key), off, needle.ErrCorrupt, need, v.end.Load())
	}
	if int64(cap(buf)) >= need {
		buf = buf[:need]
	} else {
		buf = make([]byte, need)
	}
	if _, err := v.dat.ReadAt(buf, off); err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: record runs past the end of the .dat", needle.ErrCorrupt)
		}
		return needle.Needle{}, buf, fmt.Errorf("volume %d: read needle %x at %d: %w", v.id, uint64(key), off, err)
	}
	h, _ := needle.ParseHeader(buf)
	if h.Key != key || h.Size != nv.Size {
		return needle.Needle{}, buf, fmt.Errorf("volume %d: %w: record at %d is key %x size %d, index says key %x size %d",
			v.id, needle.ErrCorrupt, off, uint64(h.Key), h.Size, uint64(key), nv.Size)
	}
	if h.Cookie != cookie {
		return needle.Needle{}, buf, fmt.Errorf("volume %d: key %x: %w", v.id, uint64(key), needle.ErrCookieMismatch)
	}
	var n needle.Needle
	if err := n.ParseRecord(buf, v.version); err != nil {
		return needle.Needle{}, buf, fmt.Errorf("volume %d: needle %x at %d: %w", v.id, uint64(key), off, err)
	}
	if expired(&n, v.ttl, time.Now()) {
		return needle.Needle{}, buf, fmt.Errorf("volume %d: key %x expired: %w", v.id, uint64(key), needle.ErrNotFound)
	}
	return n, buf, nil
}

// expired reports whether n's ttl (or, when n has none, the volume's) has
// run out at now. The clock starts at the needle's LastModified, or its
// AppendAtNs when it has none; a needle with neither never expires.
func expired(n *needle.Needle, volumeTTL needle.TTL, now time.Time) bool {
	ttl := n.TTL
	if ttl.IsZero() {
		ttl = volumeTTL
	}
	if ttl.IsZero() {
		return false
	}
	var start time.Time
	switch {
	case n.LastModified != 0:
		start = time.Unix(int64(n.LastModified), 0)
	case n.AppendAtNs != 0:
		start = time.Unix(0, int64(n.AppendAtNs))
	default:
		return false
	}
	return !now.Before(start.Add(ttl.Duration()))
}
