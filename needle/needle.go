package needle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Bits of the flags byte that follows a needle's data (versions 2 and 3).
const (
	FlagGzip            byte = 0x01 // Data is gzip-compressed
	FlagHasName         byte = 0x02 // nameSize(1) name follows
	FlagHasMime         byte = 0x04 // mimeSize(1) mime follows
	FlagHasLastModified byte = 0x08 // 5 bytes of unix seconds follow
	FlagHasTTL          byte = 0x10 // 2 bytes of ttl follow
	FlagHasPairs        byte = 0x20 // pairsSize(2) pairs follow
	FlagChunkManifest   byte = 0x80 // Data is a chunk manifest (JSON)
)

// Limits of the variable-length needle fields.
const (
	MaxNameSize     = 255       // one length byte
	MaxMimeSize     = 255       // one length byte
	MaxPairsSize    = 65535     // two length bytes
	MaxLastModified = 1<<40 - 1 // five bytes of unix seconds
)

const (
	dataSizeSize     = 4
	flagsSize        = 1
	lastModifiedSize = 5
	ttlSize          = 2
	pairsSizeSize    = 2
)

// Errors of the needle codec, in addition to those in types.go.
var (
	// ErrTooLarge means a needle field (or the whole body) does not fit the
	// on-disk format: name or mime over 255 bytes, pairs over 65535 bytes,
	// LastModified over 40 bits, or a body of 0xFFFFFFFF bytes or more.
	ErrTooLarge = errors.New("needle field too large")
	// ErrBadVersion means a needle version other than 1, 2 or 3 was asked
	// for, or version 1 was asked for when writing (weed writes 2 and 3 only).
	ErrBadVersion = errors.New("unsupported needle version")
)

// Header is the fixed 16-byte start of every needle record: cookie(4)
// key(8) size(4). Size counts the body; 0 marks a tombstone.
type Header struct {
	Cookie Cookie
	Key    Key
	Size   uint32
}

// ParseHeader decodes the first HeaderSize bytes of b. It returns an error
// wrapping ErrCorrupt if b is shorter than that; any 16 bytes decode.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: header needs %d bytes, have %d", ErrCorrupt, HeaderSize, len(b))
	}
	return parseHeader(b), nil
}

func parseHeader(b []byte) Header {
	return Header{
		Cookie: Cookie(binary.BigEndian.Uint32(b[0:4])),
		Key:    Key(binary.BigEndian.Uint64(b[4:12])),
		Size:   binary.BigEndian.Uint32(b[12:16]),
	}
}

// RecordLen returns the on-disk length of a record whose body is size bytes
// (0 for a tombstone), padding included: always a multiple of 8, with 1 to 8
// bytes of padding.
func RecordLen(size uint32, version uint8) int64 {
	n := RecordLenUnpadded(size, version)
	return n + PaddingSize - n%PaddingSize
}

// RecordLenUnpadded returns the length of header, body, checksum and (in
// version 3) timestamp: the bytes ParseRecord needs to decode a record.
func RecordLenUnpadded(size uint32, version uint8) int64 {
	n := int64(HeaderSize) + int64(size) + ChecksumSize
	if version == Version3 {
		n += TimestampSize
	}
	return n
}

// Needle is one stored blob with its metadata. It is a plain value: methods
// on a Needle are not safe for concurrent use with writes to its fields.
//
// Byte slices (Data, Name, Mime, Pairs) are not copied by the codec: a
// Needle filled by ParseRecord aliases the parsed buffer, and AppendRecord
// only reads them.
type Needle struct {
	Cookie Cookie
	Key    Key
	// Size is the body length on disk; ParseRecord and AppendRecord set it.
	// A tombstone has Size 0.
	Size uint32
	// Data is the stored file content (gzip-compressed if IsGzipped).
	Data []byte
	// Flags is the stored flags byte (Flag* constants).
	Flags byte
	// Name is the file name, at most MaxNameSize bytes.
	Name []byte
	// Mime is the content type, at most MaxMimeSize bytes.
	Mime []byte
	// LastModified is the modification time in unix seconds (0 = unset).
	LastModified uint64
	// TTL is the needle's time to live (zero = inherit the volume's).
	TTL TTL
	// Pairs is an opaque JSON object of extra headers, at most MaxPairsSize bytes.
	Pairs []byte
	// Checksum is the stored checksum field: the masked CRC-32C of Data for
	// needles weed writes, the raw CRC-32C for some SeaweedFS versions, and
	// anything at all for tombstones.
	Checksum uint32
	// AppendAtNs is the append time in unix nanoseconds (version 3 only).
	AppendAtNs uint64

	tombstone bool
}

// Tombstone returns the delete marker for a needle: a record with an empty
// body that AppendRecord encodes with Size 0.
func Tombstone(key Key, cookie Cookie, appendAtNs uint64) Needle {
	return Needle{Key: key, Cookie: cookie, AppendAtNs: appendAtNs, tombstone: true}
}

// IsTombstone reports whether n is a delete marker (built by Tombstone or
// parsed from a record with size 0).
func (n *Needle) IsTombstone() bool { return n.tombstone }

// IsGzipped reports whether Data is stored gzip-compressed.
func (n *Needle) IsGzipped() bool { return n.Flags&FlagGzip != 0 }

// SetGzipped sets or clears the gzip flag.
func (n *Needle) SetGzipped(on bool) { n.setFlag(FlagGzip, on) }

// IsChunkManifest reports whether Data is a chunk manifest.
func (n *Needle) IsChunkManifest() bool { return n.Flags&FlagChunkManifest != 0 }

// SetChunkManifest sets or clears the chunk-manifest flag.
func (n *Needle) SetChunkManifest(on bool) { n.setFlag(FlagChunkManifest, on) }

// HasName reports whether the name flag is set.
func (n *Needle) HasName() bool { return n.Flags&FlagHasName != 0 }

// HasMime reports whether the mime flag is set.
func (n *Needle) HasMime() bool { return n.Flags&FlagHasMime != 0 }

// HasLastModified reports whether the last-modified flag is set.
func (n *Needle) HasLastModified() bool { return n.Flags&FlagHasLastModified != 0 }

// HasTTL reports whether the ttl flag is set.
func (n *Needle) HasTTL() bool { return n.Flags&FlagHasTTL != 0 }

// HasPairs reports whether the pairs flag is set.
func (n *Needle) HasPairs() bool { return n.Flags&FlagHasPairs != 0 }

// Etag returns the stored checksum as 8 lowercase hex digits.
func (n *Needle) Etag() string { return Etag(n.Checksum) }

// DiskSize returns the on-disk length of n's record, padding included.
func (n *Needle) DiskSize(version uint8) int64 { return RecordLen(n.Size, version) }

func (n *Needle) setFlag(f byte, on bool) {
	if on {
		n.Flags |= f
	} else {
		n.Flags &^= f
	}
}

// layout returns the flags byte and body size AppendRecord will write.
// The name, mime, last-modified, ttl and pairs flags are set for every
// non-empty field; a flag already set in n.Flags is kept, and its field is
// then written even if empty.
func (n *Needle) layout() (byte, uint32, error) {
	flags := n.Flags
	if len(n.Name) > 0 {
		flags |= FlagHasName
	}
	if len(n.Mime) > 0 {
		flags |= FlagHasMime
	}
	if n.LastModified != 0 {
		flags |= FlagHasLastModified
	}
	if !n.TTL.IsZero() {
		flags |= FlagHasTTL
	}
	if len(n.Pairs) > 0 {
		flags |= FlagHasPairs
	}
	size := uint64(dataSizeSize) + uint64(len(n.Data)) + flagsSize
	if flags&FlagHasName != 0 {
		if len(n.Name) > MaxNameSize {
			return 0, 0, fmt.Errorf("%w: name is %d bytes, max %d", ErrTooLarge, len(n.Name), MaxNameSize)
		}
		size += 1 + uint64(len(n.Name))
	}
	if flags&FlagHasMime != 0 {
		if len(n.Mime) > MaxMimeSize {
			return 0, 0, fmt.Errorf("%w: mime is %d bytes, max %d", ErrTooLarge, len(n.Mime), MaxMimeSize)
		}
		size += 1 + uint64(len(n.Mime))
	}
	if flags&FlagHasLastModified != 0 {
		if n.LastModified > MaxLastModified {
			return 0, 0, fmt.Errorf("%w: last modified %d does not fit 5 bytes", ErrTooLarge, n.LastModified)
		}
		size += lastModifiedSize
	}
	if flags&FlagHasTTL != 0 {
		size += ttlSize
	}
	if flags&FlagHasPairs != 0 {
		if len(n.Pairs) > MaxPairsSize {
			return 0, 0, fmt.Errorf("%w: pairs are %d bytes, max %d", ErrTooLarge, len(n.Pairs), MaxPairsSize)
		}
		size += pairsSizeSize + uint64(len(n.Pairs))
	}
	// 0xFFFFFFFF is the .idx delete marker, so the largest body is one less.
	if size >= uint64(TombstoneSize) {
		return 0, 0, fmt.Errorf("%w: body of %d bytes does not fit 32 bits", ErrTooLarge, size)
	}
	return flags, uint32(size), nil
}

// AppendRecord appends n's full on-disk record in the given version (2 or
// 3) to dst and returns the extended slice: header, body, checksum, the
// AppendAtNs timestamp in version 3, and 1 to 8 zero bytes of padding. The
// record is RecordLen(n.Size, version) bytes long.
//
// For a live needle it sets n.Size, n.Flags (adding the flag of every
// non-empty optional field) and n.Checksum (the masked CRC-32C of Data).
// For a tombstone it writes Size 0 and n.Checksum unchanged. On error
// (ErrTooLarge, ErrBadVersion) dst and n are returned unchanged. It does not
// allocate when dst has enough spare capacity.
func (n *Needle) AppendRecord(dst []byte, version uint8) ([]byte, error) {
	if version != Version2 && version != Version3 {
		return dst, fmt.Errorf("%w: cannot write version %d", ErrBadVersion, version)
	}
	var (
		flags byte
		size  uint32
	)
	if !n.tombstone {
		var err error
		if flags, size, err = n.layout(); err != nil {
			return dst, err
		}
	}
	total := RecordLen(size, version)
	if total > math.MaxInt-int64(len(dst)) {
		return dst, fmt.Errorf("%w: record of %d bytes", ErrTooLarge, total)
	}
	start := len(dst)
	dst = slices.Grow(dst, int(total))[:start+int(total)]
	b := dst[start:]

	checksum := n.Checksum
	if !n.tombstone {
		checksum = DataChecksum(n.Data)
	}
	binary.BigEndian.PutUint32(b[0:4], uint32(n.Cookie))
	binary.BigEndian.PutUint64(b[4:12], uint64(n.Key))
	binary.BigEndian.PutUint32(b[12:16], size)
	i := HeaderSize
	if !n.tombstone {
		binary.BigEndian.PutUint32(b[i:], uint32(len(n.Data)))
		i += dataSizeSize
		i += copy(b[i:], n.Data)
		b[i] = flags
		i++
		if flags&FlagHasName != 0 {
			b[i] = byte(len(n.Name))
			i++
			i += copy(b[i:], n.Name)
		}
		if flags&FlagHasMime != 0 {
			b[i] = byte(len(n.Mime))
			i++
			i += copy(b[i:], n.Mime)
		}
		if flags&FlagHasLastModified != 0 {
			lm := n.LastModified
			b[i], b[i+1], b[i+2], b[i+3], b[i+4] = byte(lm>>32), byte(lm>>24), byte(lm>>16), byte(lm>>8), byte(lm)
			i += lastModifiedSize
		}
		if flags&FlagHasTTL != 0 {
			b[i], b[i+1] = n.TTL.Count, n.TTL.Unit
			i += ttlSize
		}
		if flags&FlagHasPairs != 0 {
			binary.BigEndian.PutUint16(b[i:], uint16(len(n.Pairs)))
			i += pairsSizeSize
			i += copy(b[i:], n.Pairs)
		}
	}
	binary.BigEndian.PutUint32(b[i:], checksum)
	i += ChecksumSize
	if version == Version3 {
		binary.BigEndian.PutUint64(b[i:], n.AppendAtNs)
		i += TimestampSize
	}
	clear(b[i:]) // padding; spare capacity may hold old bytes

	n.Size, n.Checksum = size, checksum
	if !n.tombstone {
		n.Flags = flags
	}
	return dst, nil
}

// ParseRecord decodes a record of the given version (1, 2 or 3) from b into
// n, replacing all of n's fields. b must hold at least
// RecordLenUnpadded(size, version) bytes; padding and anything after it are
// ignored and never checked (SeaweedFS pads with garbage).
//
// Data, Name, Mime and Pairs alias b: the caller must not modify b while it
// uses n, and must copy them to keep them beyond b's lifetime. Parsing
// allocates nothing on success.
//
// For a live needle the checksum field must equal the masked or the raw
// CRC-32C of Data, otherwise the error wraps ErrCRC; the checksum of a
// tombstone (size 0) is not checked. Malformed bytes give an error wrapping
// ErrCorrupt, an unknown version ErrBadVersion. ParseRecord never panics. On
// error n's contents are unspecified.
func (n *Needle) ParseRecord(b []byte, version uint8) error {
	if version < Version1 || version > Version3 {
		return fmt.Errorf("%w: %d", ErrBadVersion, version)
	}
	if len(b) < HeaderSize {
		return fmt.Errorf("%w: record needs %d header bytes, have %d", ErrCorrupt, HeaderSize, len(b))
	}
	h := parseHeader(b)
	need := RecordLenUnpadded(h.Size, version)
	if int64(len(b)) < need {
		return fmt.Errorf("%w: key %x: record needs %d bytes, have %d", ErrCorrupt, uint64(h.Key), need, len(b))
	}
	*n = Needle{Cookie: h.Cookie, Key: h.Key, Size: h.Size}
	end := HeaderSize + int(h.Size)
	body := b[HeaderSize:end:end]
	n.Checksum = binary.BigEndian.Uint32(b[end:])
	if version == Version3 {
		n.AppendAtNs = binary.BigEndian.Uint64(b[end+ChecksumSize:])
	}
	if h.Size == 0 {
		n.tombstone = true
		return nil
	}
	if version == Version1 {
		n.Data = body
	} else if err := n.parseBody(body); err != nil {
		return err
	}
	if !ChecksumMatches(n.Checksum, n.Data) {
		return fmt.Errorf("%w: key %x: stored %08x, data crc %08x", ErrCRC, uint64(n.Key), n.Checksum, RawCRC(n.Data))
	}
	return nil
}

// parseBody decodes a version 2/3 body. Every field whose flag is set must be
// present in full; bytes after the last field are ignored, as SeaweedFS
// readers do.
func (n *Needle) parseBody(body []byte) error {
	if len(body) < dataSizeSize+flagsSize {
		return n.corrupt("body of %d bytes is too short", len(body))
	}
	dataSize := uint64(binary.BigEndian.Uint32(body))
	if dataSize > uint64(len(body)-dataSizeSize-flagsSize) {
		return n.corrupt("data size %d overruns body of %d bytes", dataSize, len(body))
	}
	i := dataSizeSize + int(dataSize)
	n.Data = body[dataSizeSize:i:i]
	n.Flags = body[i]
	i++
	rest := body[i:]
	var err error
	if n.Flags&FlagHasName != 0 {
		if n.Name, rest, err = n.lengthPrefixed(rest, 1, "name"); err != nil {
			return err
		}
	}
	if n.Flags&FlagHasMime != 0 {
		if n.Mime, rest, err = n.lengthPrefixed(rest, 1, "mime"); err != nil {
			return err
		}
	}
	if n.Flags&FlagHasLastModified != 0 {
		if len(rest) < lastModifiedSize {
			return n.corrupt("last modified overruns body")
		}
		n.LastModified = uint64(rest[0])<<32 | uint64(rest[1])<<24 | uint64(rest[2])<<16 | uint64(rest[3])<<8 | uint64(rest[4])
		rest = rest[lastModifiedSize:]
	}
	if n.Flags&FlagHasTTL != 0 {
		if len(rest) < ttlSize {
			return n.corrupt("ttl overruns body")
		}
		n.TTL = TTLFromBytes(rest[:ttlSize])
		rest = rest[ttlSize:]
	}
	if n.Flags&FlagHasPairs != 0 {
		if n.Pairs, _, err = n.lengthPrefixed(rest, 2, "pairs"); err != nil {
			return err
		}
	}
	return nil
}

// lengthPrefixed splits a field with a 1- or 2-byte big-endian length off b.
func (n *Needle) lengthPrefixed(b []byte, lenSize int, what string) (field, rest []byte, err error) {
	if len(b) < lenSize {
		return nil, nil, n.corrupt("%s size overruns body", what)
	}
	l := int(b[0])
	if lenSize == 2 {
		l = int(binary.BigEndian.Uint16(b))
	}
	b = b[lenSize:]
	if l > len(b) {
		return nil, nil, n.corrupt("%s of %d bytes overruns body", what, l)
	}
	return b[:l:l], b[l:], nil
}

func (n *Needle) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: key %x: %s", ErrCorrupt, uint64(n.Key), fmt.Sprintf(format, args...))
}
