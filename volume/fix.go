package volume

import (
	"bufio"
	"errors"
	"fmt"
	"os"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
)

// Fix rebuilds a volume's .idx from its .dat (the .dat is the truth): one
// entry per record in file order, a put for each CRC-valid needle and a
// delete for each tombstone, so that replaying it leaves the last record
// of each key in force. The new index replaces the .idx atomically and any
// bolt map (rebuilt at the next load) is removed; the .dat is not changed.
// The volume must not be open.
//
// Records with a bad checksum but a sane header are left out and the scan
// goes on; other damage is stepped over to the next valid record (as a
// load does), and the scan stops only at a tail no valid record follows. Either way the new
// .idx is still installed and the error returned wraps needle.ErrCorrupt
// (or needle.ErrCRC) and says what was left out.
func Fix(dir, collection string, id needle.VolumeID) error {
	if err := CheckCollection(collection); err != nil {
		return err
	}
	base := FileBase(dir, collection, id)
	dat, err := os.Open(base + ".dat")
	if err != nil {
		return fmt.Errorf("fix volume %d: %w", id, err)
	}
	defer dat.Close()
	fi, err := dat.Stat()
	if err != nil {
		return fmt.Errorf("fix volume %d: %w", id, err)
	}
	datSize := fi.Size()
	sb, err := readSuperBlock(dat, datSize)
	if err != nil {
		return fmt.Errorf("fix volume %d: %w", id, err)
	}

	tmpPath := base + ".idx.fix"
	tmp, err := os.OpenFile(tmpPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("fix volume %d: %w", id, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmpPath)
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	var (
		puts, deletes int
		skipped       []error
	)
	stop, reason, err := salvageRecords(dat, sb.dataStart(), datSize, sb.version, func(off int64, n *needle.Needle, _ []byte) error {
		var b [needle.IdxEntrySize]byte
		entryFor(off, n).Put(b[:])
		if n.IsTombstone() {
			deletes++
		} else {
			puts++
		}
		_, err := w.Write(b[:])
		return err
	}, func(off int64, h needle.Header, _ []byte, perr error) bool {
		skipped = append(skipped, fmt.Errorf("needle %x at offset %d left out: %w", uint64(h.Key), off, perr))
		return true
	}, func(d damagedSpan) {
		skipped = append(skipped, fmt.Errorf("%d damaged bytes at offset %d left out: %w", d.Len, d.Off, d.Reason))
	})
	if err != nil {
		return fmt.Errorf("fix volume %d: %w", id, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("fix volume %d: write index: %w", id, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("fix volume %d: %w", id, err)
	}
	if err := removeIfExists(base + ".bdb"); err != nil {
		return fmt.Errorf("fix volume %d: %w", id, err)
	}
	if err := os.Rename(tmpPath, base+".idx"); err != nil {
		return fmt.Errorf("fix volume %d: %w", id, err)
	}
	if err := syncDir(dir); err != nil {
		glog.Warningf("fix volume %d: %v", id, err)
	}
	glog.Infof("fix volume %d: rebuilt %s.idx: %d needles, %d tombstones", id, base, puts, deletes)
	if stop < datSize {
		skipped = append(skipped, fmt.Errorf("%d bytes from offset %d not indexed (a torn tail: a load cuts them): %w", datSize-stop, stop, reason))
	}
	if len(skipped) > 0 {
		err := fmt.Errorf("fix volume %d: %w", id, errors.Join(skipped...))
		glog.Warning(err)
		return err
	}
	return nil
}
