package needle

import (
	"encoding/binary"
	"fmt"
)

// AppendRecordParts encodes n's record (version 2 or 3) like AppendRecord,
// except that the data bytes are left out, so a large file is never copied
// into a record buffer: the record is out[start:start+at], then n.Data, then
// out[start+at:], where start is len(dst). It sets n.Size, n.Flags and
// n.Checksum as AppendRecord does. A tombstone has no data: at is then the
// length of the whole record. Errors are AppendRecord's.
func (n *Needle) AppendRecordParts(dst []byte, version uint8) (out []byte, at int, err error) {
	start := len(dst)
	if n.tombstone {
		out, err = n.AppendRecord(dst, version)
		return out, len(out) - start, err
	}
	if version != Version2 && version != Version3 {
		return dst, 0, fmt.Errorf("%w: cannot write version %d", ErrBadVersion, version)
	}
	flags, size, err := n.layout()
	if err != nil {
		return dst, 0, err
	}
	// Encode the record of the same needle without its data, then make
	// its size fields, checksum and padding those of the real one.
	m := *n
	m.Data = nil
	out, err = m.AppendRecord(dst, version)
	if err != nil {
		return dst, 0, err
	}
	b := out[start:]
	dataLen := uint32(len(n.Data))
	emptySize := size - dataLen
	checksum := DataChecksum(n.Data)
	binary.BigEndian.PutUint32(b[12:16], size)
	binary.BigEndian.PutUint32(b[HeaderSize:], dataLen)
	binary.BigEndian.PutUint32(b[HeaderSize+int(emptySize):], checksum)
	unpadded := int(RecordLenUnpadded(emptySize, version))
	padding := int(RecordLen(size, version)) - int(RecordLenUnpadded(size, version))
	out = out[:start+unpadded]
	for range padding {
		out = append(out, 0)
	}
	n.Size, n.Flags, n.Checksum = size, flags, checksum
	return out, HeaderSize + dataSizeSize, nil
}
