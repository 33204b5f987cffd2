package volume

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/weedfs/weed/needle"
)

// maxCheckProblems bounds how many problems Check lists per volume.
const maxCheckProblems = 100

var errTooManyProblems = errors.New("too many problems")

// Check verifies every volume in dir (N.dat and c_N.dat) without changing
// anything: the .dat superblock is sane, the .idx holds whole entries, and
// every live .idx entry (last entry per key, deletes applied) points inside
// the .dat at a record with the same key and size and a valid CRC. It
// returns nil, or errors.Join of every problem found (at most 100 per
// volume), each naming the volume and wrapping needle.ErrCorrupt or
// needle.ErrCRC. Entries still buffered in an open volume's memory are not
// seen: call Sync or Close first.
func Check(dir string) error {
	vfs, err := listVolumes(dir)
	if err != nil {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	var errs []error
	for _, vf := range vfs {
		if err := checkVolume(FileBase(dir, vf.collection, vf.id)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkVolume(base string) error {
	var problems []error
	add := func(err error) {
		problems = append(problems, fmt.Errorf("%s: %w", base, err))
	}
	done := func() error { return errors.Join(problems...) }

	dat, err := os.Open(base + ".dat")
	if err != nil {
		add(err)
		return done()
	}
	defer dat.Close()
	fi, err := dat.Stat()
	if err != nil {
		add(err)
		return done()
	}
	datSize := fi.Size()
	sb, err := readSuperBlock(dat, datSize)
	if err != nil {
		add(err)
		return done()
	}
	var raw [needle.SuperBlockSize]byte
	if _, err := dat.ReadAt(raw[:], 0); err != nil {
		add(err)
		return done()
	}
	if count, unit := raw[2], raw[3]; unit > needle.TTLUnitYear || (count == 0) != (unit == 0) {
		add(fmt.Errorf("%w: superblock ttl bytes %02x %02x", needle.ErrCorrupt, count, unit))
	}

	idx, err := os.Open(base + ".idx")
	if err != nil {
		add(err)
		return done()
	}
	defer idx.Close()
	if fi, err = idx.Stat(); err != nil {
		add(err)
		return done()
	}
	idxSize := fi.Size()
	if rem := idxSize % needle.IdxEntrySize; rem != 0 {
		add(fmt.Errorf("%w: .idx of %d bytes ends inside an entry", needle.ErrCorrupt, idxSize))
		idxSize -= rem
	}
	m := needle.NewCompactMap()
	var st needle.IdxStats
	if err := needle.LoadIdx(io.NewSectionReader(idx, 0, idxSize), m, &st); err != nil {
		add(err)
		return done()
	}
	var rec []byte
	err = m.Range(func(k needle.Key, nv needle.Value) error {
		if len(problems) >= maxCheckProblems {
			return errTooManyProblems
		}
		var perr error
		if rec, perr = checkNeedle(dat, datSize, sb, k, nv, rec); perr != nil {
			add(perr)
		}
		return nil
	})
	if errors.Is(err, errTooManyProblems) {
		problems = append(problems, fmt.Errorf("%s: more problems not listed", base))
	} else if err != nil {
		add(err)
	}
	return done()
}

// checkNeedle verifies that the live entry (k, nv) names a matching,
// CRC-valid record inside the .dat.
func checkNeedle(dat io.ReaderAt, datSize int64, sb superBlock, k needle.Key, nv needle.Value, rec []byte) ([]byte, error) {
	off := needle.OffsetBytes(nv.Offset)
	if off < sb.dataStart() {
		return rec, fmt.Errorf("%w: needle %x at offset %d is inside the superblock", needle.ErrCorrupt, uint64(k), off)
	}
	if end := off + needle.RecordLen(nv.Size, sb.version); end > datSize {
		return rec, fmt.Errorf("%w: needle %x at offset %d (%d bytes) runs past the end of the .dat (%d bytes)",
			needle.ErrCorrupt, uint64(k), off, needle.RecordLen(nv.Size, sb.version), datSize)
	}
	l := needle.RecordLenUnpadded(nv.Size, sb.version)
	if int64(cap(rec)) < l {
		rec = make([]byte, l)
	}
	rec = rec[:l]
	if _, err := dat.ReadAt(rec, off); err != nil {
		return rec, fmt.Errorf("needle %x at offset %d: %w", uint64(k), off, err)
	}
	h, _ := needle.ParseHeader(rec)
	if h.Key != k || h.Size != nv.Size {
		return rec, fmt.Errorf("%w: .idx says needle %x (%d bytes) at offset %d, the record there is key %x (%d bytes)",
			needle.ErrCorrupt, uint64(k), nv.Size, off, uint64(h.Key), h.Size)
	}
	var n needle.Needle
	if err := n.ParseRecord(rec, sb.version); err != nil {
		return rec, fmt.Errorf("needle %x at offset %d: %w", uint64(k), off, err)
	}
	return rec, nil
}
