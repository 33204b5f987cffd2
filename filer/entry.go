package filer

import (
	"encoding/json"
	"fmt"
	"time"
)

// entryVersion is the version of the stored entry encoding weed writes.
const entryVersion = 1

// Chunk is one needle holding part of a file: the bytes [Offset, Offset+Size)
// of the file are the needle named by Fid.
type Chunk struct {
	// Fid names the needle, e.g. "3,01637037d6".
	Fid string
	// Offset is where the chunk starts in the file, in bytes.
	Offset int64
	// Size is the chunk's length in bytes.
	Size uint64
	// ETag is the volume server's ETag of the needle (8 hex digits).
	ETag string
}

// Entry is what the filer keeps for one path: a directory, or a file stored
// as one or more chunks (one for small files, several for files larger than
// the filer's -maxMB), in increasing offset order.
type Entry struct {
	// FullPath is the canonical path of the entry (see CleanPath).
	FullPath string
	// IsDirectory tells a directory from a file.
	IsDirectory bool
	// Mime is the file's content type; empty when unknown.
	Mime string
	// Mtime is the last modification time, stored with nanosecond precision
	// (years 1678 to 2262); the zero time round-trips as zero.
	Mtime time.Time
	// Size is the file's length in bytes (the sum of its chunk sizes).
	Size uint64
	// Chunks lists the needles holding the file's bytes; nil for directories.
	Chunks []Chunk
	// Collection, Replication and TTL are the assign parameters the file
	// was written with, in their query-string forms ("", "001", "3d").
	Collection  string
	Replication string
	TTL         string
}

// Name returns the last segment of the entry's path ("" for the root).
func (e *Entry) Name() string {
	_, name := SplitPath(e.FullPath)
	return name
}

// Fid returns the fid shown for the entry in listings: its first chunk's, or
// "" when it has no chunks (directories, empty files).
func (e *Entry) Fid() string {
	if len(e.Chunks) == 0 {
		return ""
	}
	return e.Chunks[0].Fid
}

// entryJSON is version 1 of the stored encoding. Short field names keep
// entries small in Redis and bolt; unknown fields are ignored on decode, so
// later builds may add fields without a version bump.
type entryJSON struct {
	V           int         `json:"v"`
	Path        string      `json:"p"`
	Dir         bool        `json:"d,omitempty"`
	Mime        string      `json:"m,omitempty"`
	MtimeNs     int64       `json:"t,omitempty"`
	Size        uint64      `json:"s,omitempty"`
	Chunks      []chunkJSON `json:"c,omitempty"`
	Collection  string      `json:"col,omitempty"`
	Replication string      `json:"rep,omitempty"`
	TTL         string      `json:"ttl,omitempty"`
}

type chunkJSON struct {
	Fid    string `json:"f"`
	Offset int64  `json:"o,omitempty"`
	Size   uint64 `json:"s,omitempty"`
	ETag   string `json:"e,omitempty"`
}

// MarshalEntry encodes e in the versioned form stores keep. The result
// belongs to the caller.
func MarshalEntry(e *Entry) ([]byte, error) {
	w := entryJSON{
		V:           entryVersion,
		Path:        e.FullPath,
		Dir:         e.IsDirectory,
		Mime:        e.Mime,
		Size:        e.Size,
		Collection:  e.Collection,
		Replication: e.Replication,
		TTL:         e.TTL,
	}
	if !e.Mtime.IsZero() {
		w.MtimeNs = e.Mtime.UnixNano()
	}
	if len(e.Chunks) > 0 {
		w.Chunks = make([]chunkJSON, len(e.Chunks))
		for i, c := range e.Chunks {
			w.Chunks[i] = chunkJSON{Fid: c.Fid, Offset: c.Offset, Size: c.Size, ETag: c.ETag}
		}
	}
	b, err := json.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("filer: encode entry %q: %w", e.FullPath, err)
	}
	return b, nil
}

// UnmarshalEntry decodes bytes written by MarshalEntry. Corrupt input or an
// unknown encoding version gives an error wrapping ErrBadEntry.
func UnmarshalEntry(b []byte) (*Entry, error) {
	var w entryJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEntry, err)
	}
	if w.V != entryVersion {
		return nil, fmt.Errorf("%w: version %d", ErrBadEntry, w.V)
	}
	e := &Entry{
		FullPath:    w.Path,
		IsDirectory: w.Dir,
		Mime:        w.Mime,
		Size:        w.Size,
		Collection:  w.Collection,
		Replication: w.Replication,
		TTL:         w.TTL,
	}
	if w.MtimeNs != 0 {
		e.Mtime = time.Unix(0, w.MtimeNs)
	}
	if len(w.Chunks) > 0 {
		e.Chunks = make([]Chunk, len(w.Chunks))
		for i, c := range w.Chunks {
			if c.Offset < 0 {
				return nil, fmt.Errorf("%w: chunk %d has negative offset", ErrBadEntry, i)
			}
			e.Chunks[i] = Chunk{Fid: c.Fid, Offset: c.Offset, Size: c.Size, ETag: c.ETag}
		}
	}
	return e, nil
}
