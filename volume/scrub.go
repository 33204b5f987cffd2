package volume

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/weedfs/weed/needle"
)

// Pacer paces a background reader (a scrub) so that serving traffic is not
// starved. Safe for concurrent use.
type Pacer interface {
	// Wait blocks until n more bytes may be read, or ctx ends (then it
	// returns ctx's error).
	Wait(ctx context.Context, n int64) error
}

// Scrub reads every record of the volume, paced by pace (nil: no pacing), and returns the
// keys of the live needles whose record is damaged (fails its checksum or
// does not parse although the index agrees with its bounds, or starts in
// damage whose bounds are lost, which the scrub steps over).
func (v *Volume) Scrub(ctx context.Context, pace Pacer) ([]needle.Key, error) {
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
	r := &pacedReaderAt{ctx: ctx, r: f, pace: pace}
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

// pacedReaderAt paces the reads of an io.ReaderAt with a Pacer.
type pacedReaderAt struct {
	ctx  context.Context
	r    io.ReaderAt
	pace Pacer
}

func (p *pacedReaderAt) ReadAt(b []byte, off int64) (int, error) {
	if p.pace != nil {
		if err := p.pace.Wait(p.ctx, int64(len(b))); err != nil {
			return 0, err
		}
	}
	return p.r.ReadAt(b, off)
}
