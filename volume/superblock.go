package volume

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/weedfs/weed/needle"
)

// superBlock is the head of a .dat file: version(1) replication(1) ttl(2)
// compactRevision(2) extraSize(2), then extraSize bytes of extra data in
// versions 2 and 3 (SeaweedFS stores a protobuf there; weed writes none and
// keeps what it finds). Records start at dataStart.
type superBlock struct {
	version         uint8
	placement       needle.Placement
	ttl             needle.TTL
	compactRevision uint16
	extra           []byte // bytes after the first 8, versions 2 and 3 only
}

// bytes encodes the superblock as it is stored, extra bytes included.
func (sb superBlock) bytes() []byte {
	b := make([]byte, needle.SuperBlockSize, needle.SuperBlockSize+len(sb.extra))
	b[0] = sb.version
	b[1] = sb.placement.Byte()
	t := sb.ttl.Bytes()
	b[2], b[3] = t[0], t[1]
	binary.BigEndian.PutUint16(b[4:6], sb.compactRevision)
	if sb.version >= needle.Version2 {
		binary.BigEndian.PutUint16(b[6:8], uint16(len(sb.extra)))
		b = append(b, sb.extra...)
	}
	return b
}

// dataStart is the offset of the first record: just past the superblock
// and its extra bytes, rounded up to the 8-byte record alignment the way
// SeaweedFS aligns its first append.
func (sb superBlock) dataStart() int64 {
	n := int64(needle.SuperBlockSize)
	if sb.version >= needle.Version2 {
		n += int64(len(sb.extra))
	}
	if r := n % needle.PaddingSize; r != 0 {
		n += needle.PaddingSize - r
	}
	return n
}

// parseSuperBlockHead decodes the first 8 bytes of a .dat and returns the
// superblock without its extra bytes and how many extra bytes follow.
func parseSuperBlockHead(b []byte) (superBlock, int, error) {
	if len(b) < needle.SuperBlockSize {
		return superBlock{}, 0, fmt.Errorf("%w: superblock needs %d bytes, have %d", needle.ErrCorrupt, needle.SuperBlockSize, len(b))
	}
	sb := superBlock{
		version:         b[0],
		placement:       needle.PlacementFromByte(b[1]),
		ttl:             needle.TTLFromBytes(b[2:4]),
		compactRevision: binary.BigEndian.Uint16(b[4:6]),
	}
	if sb.version < needle.Version1 || sb.version > needle.Version3 {
		return superBlock{}, 0, fmt.Errorf("%w: superblock version %d", needle.ErrBadVersion, sb.version)
	}
	extra := 0
	if sb.version >= needle.Version2 {
		extra = int(binary.BigEndian.Uint16(b[6:8]))
	}
	return sb, extra, nil
}

// readSuperBlock reads and checks the superblock of a .dat of size bytes.
func readSuperBlock(r io.ReaderAt, size int64) (superBlock, error) {
	var head [needle.SuperBlockSize]byte
	if size < needle.SuperBlockSize {
		return superBlock{}, fmt.Errorf("%w: .dat of %d bytes has no superblock", needle.ErrCorrupt, size)
	}
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return superBlock{}, fmt.Errorf("read superblock: %w", err)
	}
	sb, extra, err := parseSuperBlockHead(head[:])
	if err != nil {
		return superBlock{}, err
	}
	if extra > 0 {
		if int64(needle.SuperBlockSize+extra) > size {
			return superBlock{}, fmt.Errorf("%w: superblock names %d extra bytes, .dat has %d bytes", needle.ErrCorrupt, extra, size)
		}
		sb.extra = make([]byte, extra)
		if _, err := r.ReadAt(sb.extra, needle.SuperBlockSize); err != nil {
			return superBlock{}, fmt.Errorf("read superblock extra: %w", err)
		}
	}
	return sb, nil
}

// DatPlacement reads the superblock at the start of a .dat of size bytes
// and returns the replica placement it names (a copy's check that it got
// the volume it asked for).
func DatPlacement(r io.ReaderAt, size int64) (needle.Placement, error) {
	sb, err := readSuperBlock(r, size)
	if err != nil {
		return needle.Placement{}, err
	}
	return sb.placement, nil
}
