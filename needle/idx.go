package needle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxVolumeBytes is the largest .dat size an .idx offset can address:
// offsets are stored in 8-byte units in 32 bits.
const MaxVolumeBytes = int64(1<<32-1) * PaddingSize

// idxReadChunk is how much WalkIdx asks its reader for at a time.
const idxReadChunk = 1 << 20

// ErrIdxPartialEntry is returned by WalkIdx when the stream ends inside an
// entry (a torn append). It wraps ErrCorrupt. Every whole entry before it has
// been delivered; the caller truncates the .idx to a multiple of 16 bytes.
var ErrIdxPartialEntry = fmt.Errorf("%w: partial trailing .idx entry", ErrCorrupt)

// IdxEntry is one 16-byte .idx record: key(8) offset(4) size(4), big-endian.
// Offset is in 8-byte units from the start of the .dat file.
type IdxEntry struct {
	Key    Key
	Offset uint32
	Size   uint32
}

// IsDelete reports whether e marks a delete: size 0xFFFFFFFF (weed and
// SeaweedFS 2.x+, offset names the tombstone record), size 0 (SeaweedFS
// 0.7x wrote offset 0, size 0), or offset 0, which can never hold a needle
// because the superblock is there.
func (e IdxEntry) IsDelete() bool {
	return e.Size == TombstoneSize || e.Size == 0 || e.Offset == 0
}

// RecordEnd returns the .dat byte offset just past the record e names: for
// a delete entry with a non-zero offset, the tombstone record. It is
// meaningless for entries with offset 0.
func (e IdxEntry) RecordEnd(version uint8) int64 {
	size := e.Size
	if e.IsDelete() {
		size = 0
	}
	return OffsetBytes(e.Offset) + RecordLen(size, version)
}

// Put writes e's 16 bytes into b[:IdxEntrySize]; b must be at least that long.
func (e IdxEntry) Put(b []byte) {
	_ = b[IdxEntrySize-1]
	binary.BigEndian.PutUint64(b[0:8], uint64(e.Key))
	binary.BigEndian.PutUint32(b[8:12], e.Offset)
	binary.BigEndian.PutUint32(b[12:16], e.Size)
}

// AppendTo appends e's 16 bytes to dst.
func (e IdxEntry) AppendTo(dst []byte) []byte {
	var b [IdxEntrySize]byte
	e.Put(b[:])
	return append(dst, b[:]...)
}

// ParseIdxEntry decodes the first 16 bytes of b. A shorter b gives an error
// wrapping ErrCorrupt; any 16 bytes decode.
func ParseIdxEntry(b []byte) (IdxEntry, error) {
	if len(b) < IdxEntrySize {
		return IdxEntry{}, fmt.Errorf("%w: .idx entry needs %d bytes, have %d", ErrCorrupt, IdxEntrySize, len(b))
	}
	return parseIdxEntry(b), nil
}

func parseIdxEntry(b []byte) IdxEntry {
	return IdxEntry{
		Key:    Key(binary.BigEndian.Uint64(b[0:8])),
		Offset: binary.BigEndian.Uint32(b[8:12]),
		Size:   binary.BigEndian.Uint32(b[12:16]),
	}
}

// OffsetBytes converts a stored offset (8-byte units) to a byte offset.
func OffsetBytes(units uint32) int64 { return int64(units) * PaddingSize }

// OffsetUnits converts a .dat byte offset to the stored form. The offset must
// be a non-negative multiple of 8 no larger than MaxVolumeBytes; otherwise
// the error wraps ErrCorrupt.
func OffsetUnits(off int64) (uint32, error) {
	if off < 0 || off%PaddingSize != 0 || off > MaxVolumeBytes {
		return 0, fmt.Errorf("%w: offset %d is not a multiple of %d within %d", ErrCorrupt, off, PaddingSize, MaxVolumeBytes)
	}
	return uint32(off / PaddingSize), nil
}

// WalkIdx reads .idx entries from r in large chunks (1 MiB reads, never
// per entry) and calls fn for each, in file order. An error from fn stops
// the walk and is returned unchanged. Read errors are wrapped. If the stream
// ends inside an entry, WalkIdx returns an error wrapping ErrIdxPartialEntry
// (and so ErrCorrupt) after delivering every whole entry.
func WalkIdx(r io.Reader, fn func(e IdxEntry) error) error {
	return walkIdxChunks(r, func(chunk []byte) error {
		for i := 0; i < len(chunk); i += IdxEntrySize {
			if err := fn(parseIdxEntry(chunk[i : i+IdxEntrySize])); err != nil {
				return err
			}
		}
		return nil
	})
}

// walkIdxChunks reads r in idxReadChunk pieces and calls fn with each run of
// whole entries (a non-empty multiple of IdxEntrySize bytes, valid only
// during the call). Errors are as for WalkIdx.
func walkIdxChunks(r io.Reader, fn func(chunk []byte) error) error {
	buf := make([]byte, idxReadChunk)
	have := 0 // bytes at the start of buf carried over from the last read (< IdxEntrySize)
	for {
		n, err := io.ReadFull(r, buf[have:])
		have += n
		if whole := have - have%IdxEntrySize; whole > 0 {
			if ferr := fn(buf[:whole]); ferr != nil {
				return ferr
			}
			have = copy(buf, buf[whole:have])
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			if have > 0 {
				return fmt.Errorf("%w (%d bytes)", ErrIdxPartialEntry, have)
			}
			return nil
		default:
			return fmt.Errorf("read .idx: %w", err)
		}
	}
}
