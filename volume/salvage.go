package volume

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/weedfs/weed/needle"
)

// Salvage: how a scan of a .dat steps over damaged records. A record is
// damaged when it does not parse (checksum, body) or its header is not
// plausible (all zero, a size that runs past the end). The scan goes on at
// the next record that is whole and valid: the end of the damaged record
// if its header's length leads to one, else the first 8-byte aligned
// offset after it where one starts. Only when no valid record follows is
// the damage a torn tail.

// maxBodyFields is the most bytes the optional fields of a version 2/3
// body take (name, mime, last modified, ttl, pairs, with their lengths).
const maxBodyFields = 1 + needle.MaxNameSize + 1 + needle.MaxMimeSize + 5 + 2 + 2 + needle.MaxPairsSize

// knownFlags are the flag bits weed and SeaweedFS write.
const knownFlags = needle.FlagGzip | needle.FlagHasName | needle.FlagHasMime | needle.FlagHasLastModified |
	needle.FlagHasTTL | needle.FlagHasPairs | needle.FlagChunkManifest

// maxWeakChain bounds how many weak records (tombstones, empty needles) in
// a row a found record may start before a strong one or the end.
const maxWeakChain = 8

// salvageWindow is how much of the .dat a search reads at once.
const salvageWindow = 1 << 20

// damagedSpan is a stretch [Off, Off+Len) of a .dat that a scan stepped
// over because it holds no valid record. Header is what the first 16 bytes
// decode to (meaningful only if the damage is in the body).
type damagedSpan struct {
	Off, Len int64
	Header   needle.Header
	Reason   error
}

func (d damagedSpan) String() string {
	return fmt.Sprintf("%d bytes at offset %d (header key %x, size %d: %v)", d.Len, d.Off, uint64(d.Header.Key), d.Header.Size, d.Reason)
}

// describeSpans formats at most 10 spans for a log line.
func describeSpans(spans []damagedSpan) string {
	var b strings.Builder
	var total int64
	for i, s := range spans {
		total += s.Len
		if i < 10 {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(s.String())
		}
	}
	if len(spans) > 10 {
		fmt.Fprintf(&b, "; and %d more", len(spans)-10)
	}
	return fmt.Sprintf("%d damaged stretches, %d bytes: %s", len(spans), total, b.String())
}

// recordProbe checks candidate records of one .dat region. It reads the
// region through a window so that testing every 8-byte offset costs no
// system call each.
type recordProbe struct {
	r       io.ReaderAt
	to      int64
	version uint8
	win     []byte
	winOff  int64
	scratch []byte
	now     uint64
}

func newRecordProbe(r io.ReaderAt, to int64, version uint8) *recordProbe {
	return &recordProbe{r: r, to: to, version: version, winOff: -1, now: uint64(time.Now().UnixNano())}
}

// bytesAt returns n bytes at off (valid until the next call), or nil if
// they are not all before to.
func (p *recordProbe) bytesAt(off int64, n int) ([]byte, error) {
	if off < 0 || off+int64(n) > p.to {
		return nil, nil
	}
	if p.winOff >= 0 && off >= p.winOff && off+int64(n) <= p.winOff+int64(len(p.win)) {
		return p.win[off-p.winOff : off-p.winOff+int64(n)], nil
	}
	if n > salvageWindow/2 {
		if cap(p.scratch) < n {
			p.scratch = make([]byte, n)
		}
		b := p.scratch[:n]
		if _, err := p.r.ReadAt(b, off); err != nil {
			return nil, fmt.Errorf("read .dat at %d: %w", off, err)
		}
		return b, nil
	}
	l := min(int64(salvageWindow), p.to-off)
	if int64(cap(p.win)) < l {
		p.win = make([]byte, l)
	}
	p.win = p.win[:l]
	if _, err := p.r.ReadAt(p.win, off); err != nil && err != io.EOF {
		p.winOff = -1
		return nil, fmt.Errorf("read .dat at %d: %w", off, err)
	}
	p.winOff = off
	return p.win[:n], nil
}

// validAt reports whether a whole valid record starts at off and, if so,
// its length. Beyond parsing (checksum included), a candidate must have a
// body laid out exactly as weed and SeaweedFS write it; a weak one (a
// tombstone, or a needle with no data, whose checksum proves nothing) must
// have the checksum those writers give it and be followed by a strong
// record or the end, through at most depth more weak ones.
func (p *recordProbe) validAt(off int64, depth int) (bool, int64, error) {
	hb, err := p.bytesAt(off, needle.HeaderSize)
	if hb == nil || err != nil {
		return false, 0, err
	}
	h, _ := needle.ParseHeader(hb)
	if h == (needle.Header{}) || h.Size == needle.TombstoneSize {
		return false, 0, nil
	}
	l := needle.RecordLen(h.Size, p.version)
	if off+l > p.to {
		return false, 0, nil
	}
	weak := h.Size == 0
	if !weak && p.version != needle.Version1 {
		// Cheap checks before the whole record is read: the data size
		// leaves room for the flags and at most every optional field.
		db, err := p.bytesAt(off+needle.HeaderSize, 4)
		if db == nil || err != nil {
			return false, 0, err
		}
		ds := int64(binary.BigEndian.Uint32(db))
		fields := int64(h.Size) - 5 - ds
		if fields < 0 || fields > maxBodyFields {
			return false, 0, nil
		}
	}
	rec, err := p.bytesAt(off, int(needle.RecordLenUnpadded(h.Size, p.version)))
	if rec == nil || err != nil {
		return false, 0, err
	}
	var n needle.Needle
	if n.ParseRecord(rec, p.version) != nil {
		return false, 0, nil
	}
	if !weak && p.version != needle.Version1 {
		if n.Flags&^knownFlags != 0 || bodySize(&n) != int64(n.Size) {
			return false, 0, nil
		}
		weak = len(n.Data) == 0
	}
	if !weak {
		return true, l, nil
	}
	if n.Checksum != 0 && !(n.Size != 0 && n.Checksum == needle.DataChecksum(nil)) {
		return false, 0, nil
	}
	if p.version == needle.Version3 && (n.AppendAtNs == 0 || n.AppendAtNs > p.now+uint64(24*time.Hour)) {
		return false, 0, nil
	}
	if off+l == p.to {
		return true, l, nil
	}
	if depth == 0 {
		return false, 0, nil
	}
	ok, _, err := p.validAt(off+l, depth-1)
	return ok, l, err
}

// bodySize is the body length a writer gives the fields of n.
func bodySize(n *needle.Needle) int64 {
	s := int64(4 + len(n.Data) + 1)
	if n.HasName() {
		s += 1 + int64(len(n.Name))
	}
	if n.HasMime() {
		s += 1 + int64(len(n.Mime))
	}
	if n.HasLastModified() {
		s += 5
	}
	if n.HasTTL() {
		s += 2
	}
	if n.HasPairs() {
		s += 2 + int64(len(n.Pairs))
	}
	return s
}

// resumeAfter returns where a scan goes on after the damaged record at off
// whose first bytes decode to h, or to when nothing valid follows (a torn
// or damaged tail). With a plausible header: if the record ends exactly at
// to it is the last one; if a valid record starts at its end, there. If
// it runs past to, it looks torn: its bytes up to to may be needle data
// that merely holds records (a volume stored in a volume), so a record
// found after off counts only if whole records follow it up to to exactly.
// Otherwise the scan goes on at the first 8-byte aligned offset after off
// where a valid record starts.
func (p *recordProbe) resumeAfter(off int64, h needle.Header) (int64, error) {
	if h != (needle.Header{}) && h.Size != needle.TombstoneSize {
		switch end := off + needle.RecordLen(h.Size, p.version); {
		case end == p.to:
			return p.to, nil
		case end < p.to:
			ok, _, err := p.validAt(end, maxWeakChain)
			if err != nil || ok {
				return end, err
			}
		default:
			return p.search(off, true)
		}
	}
	return p.search(off, false)
}

// nextRecord returns the first 8-byte aligned offset after off (off itself
// excluded) where a whole valid record of r starts, or to if there is none
// before to.
func nextRecord(r io.ReaderAt, off, to int64, version uint8) (int64, error) {
	return newRecordProbe(r, to, version).next(off)
}

func (p *recordProbe) next(off int64) (int64, error) { return p.search(off, false) }

// search returns the first 8-byte aligned offset after off where a valid
// record starts (with chained, one from which whole valid records follow
// up to to exactly), or to.
func (p *recordProbe) search(off int64, chained bool) (int64, error) {
	for c := off + needle.PaddingSize; c+needle.HeaderSize <= p.to; c += needle.PaddingSize {
		ok, l, err := p.validAt(c, maxWeakChain)
		if err != nil {
			return 0, err
		}
		if ok && chained {
			ok, err = p.chainsToEnd(c + l)
			if err != nil {
				return 0, err
			}
		}
		if ok {
			return c, nil
		}
	}
	return p.to, nil
}

// chainsToEnd reports whether records follow one another from off up to
// to exactly: valid ones, or damaged ones whose header's length leads to a
// valid record or to the end (their bounds are sure).
func (p *recordProbe) chainsToEnd(off int64) (bool, error) {
	for off < p.to {
		ok, l, err := p.validAt(off, maxWeakChain)
		if err != nil {
			return false, err
		}
		if !ok {
			if l, err = p.boundedDamage(off); err != nil || l == 0 {
				return false, err
			}
		}
		off += l
	}
	return off == p.to, nil
}

// boundedDamage returns the length of the record at off, which is not
// valid, if its header is plausible and a valid record starts at its end
// (or it ends at to); else 0.
func (p *recordProbe) boundedDamage(off int64) (int64, error) {
	hb, err := p.bytesAt(off, needle.HeaderSize)
	if hb == nil || err != nil {
		return 0, err
	}
	h, _ := needle.ParseHeader(hb)
	if h == (needle.Header{}) || h.Size == needle.TombstoneSize {
		return 0, nil
	}
	l := needle.RecordLen(h.Size, p.version)
	switch end := off + l; {
	case end == p.to:
		return l, nil
	case end < p.to:
		ok, _, err := p.validAt(end, maxWeakChain)
		if err != nil || !ok {
			return 0, err
		}
		return l, nil
	}
	return 0, nil
}
