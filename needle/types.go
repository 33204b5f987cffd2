// Package needle holds the Haystack primitives of weed: file ids, the needle
// codec, .idx entries and the in-memory (or bolt-backed) needle map.
//
// Everything in this package is pure data handling: no network, no
// knowledge of volumes or servers. All integers on disk are big-endian.
package needle

import (
	"errors"
	"strconv"
)

// VolumeID names a volume across the cluster. Volume ids start at 1.
type VolumeID uint32

// String returns the decimal form used in fids and file names.
func (v VolumeID) String() string { return strconv.FormatUint(uint64(v), 10) }

// ParseVolumeID parses a decimal volume id.
func ParseVolumeID(s string) (VolumeID, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, ErrBadVolumeID
	}
	return VolumeID(n), nil
}

// Key is the 64-bit needle key inside a volume, handed out by the master.
type Key uint64

// Cookie is the random 32-bit value stored with every needle; a request must
// present it, which stops URL guessing.
type Cookie uint32

// Sizes of the fixed parts of the on-disk formats, in bytes.
const (
	HeaderSize      = 16 // cookie(4) key(8) size(4)
	ChecksumSize    = 4
	TimestampSize   = 8 // appendAtNs, version 3 only
	PaddingSize     = 8 // needles start at multiples of 8 bytes
	IdxEntrySize    = 16
	SuperBlockSize  = 8
	MaxPossibleSize = 1<<32 - 1 // largest needle body the 32-bit size field can name
)

// TombstoneSize is the .idx size value of a delete entry written by weed
// (and by SeaweedFS since 2.x). Older volumes mark deletes with offset 0, size 0.
const TombstoneSize uint32 = 0xFFFFFFFF

// Needle format versions found in superblocks.
const (
	Version1 uint8 = 1
	Version2 uint8 = 2
	Version3 uint8 = 3
	// CurrentVersion is the version weed writes.
	CurrentVersion = Version3
)

// Errors shared by the storage packages. Check them with errors.Is.
var (
	// ErrNotFound means no live needle has that key.
	ErrNotFound = errors.New("needle not found")
	// ErrDeleted means the key was deleted (a tombstone is the latest entry).
	// Callers that do not care about the difference treat it as ErrNotFound;
	// errors.Is(ErrDeleted, ErrNotFound) does not hold, so check both.
	ErrDeleted = errors.New("needle deleted")
	// ErrCookieMismatch means the needle exists but the request's cookie is
	// wrong. HTTP layers answer it exactly like ErrNotFound.
	ErrCookieMismatch = errors.New("cookie mismatch")
	// ErrCRC means the stored checksum does not match the data.
	ErrCRC = errors.New("needle checksum mismatch")
	// ErrCorrupt means bytes could not be parsed as a needle.
	ErrCorrupt = errors.New("corrupt needle")
	// ErrBadFileID means a fid string is malformed.
	ErrBadFileID = errors.New("malformed file id")
	// ErrBadVolumeID means a volume id string is malformed.
	ErrBadVolumeID = errors.New("malformed volume id")
	// ErrBadTTL means a ttl string is malformed.
	ErrBadTTL = errors.New("malformed ttl")
)
