package needle

import "hash/crc32"

// castagnoli is the CRC-32C table; hash/crc32 uses the SSE4.2/ARM64 CRC
// instructions for it when the CPU has them.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcMaskDelta is added to the rotated CRC in the masked form (the value
// LevelDB and Snappy use, and SeaweedFS 0.7x wrote).
const crcMaskDelta = 0xa282ead8

// RawCRC returns the CRC-32C (Castagnoli) of data.
func RawCRC(data []byte) uint32 { return crc32.Checksum(data, castagnoli) }

// MaskCRC returns the masked form of a raw CRC-32C:
// ((c >> 15) | (c << 17)) + 0xa282ead8. It is the checksum weed stores.
func MaskCRC(c uint32) uint32 { return (c>>15 | c<<17) + crcMaskDelta }

// DataChecksum returns the checksum field weed writes for data: the masked
// CRC-32C.
func DataChecksum(data []byte) uint32 { return MaskCRC(RawCRC(data)) }

// ChecksumMatches reports whether a stored checksum field is valid for data.
// Both the masked CRC-32C (weed, SeaweedFS 0.7x) and the raw one (SeaweedFS
// 2.x and later) are accepted.
func ChecksumMatches(stored uint32, data []byte) bool {
	c := RawCRC(data)
	return stored == c || stored == MaskCRC(c)
}

// Etag formats a stored checksum field as the HTTP ETag value: exactly 8
// lowercase hex digits, without quotes.
func Etag(checksum uint32) string {
	const hexdigits = "0123456789abcdef"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = hexdigits[checksum&0xf]
		checksum >>= 4
	}
	return string(b[:])
}
