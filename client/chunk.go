package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/needle"
)

// ChunkManifest describes a file stored as several needles. It is itself
// stored as a needle (uploaded with UploadRequest.ChunkManifest set), and a
// volume server serves the whole file when that needle is read. Its JSON
// form is {"name","mime","size","chunks":[{"fid","offset","size"}]}.
type ChunkManifest struct {
	// Name is the file name.
	Name string `json:"name"`
	// Mime is the file's MIME type.
	Mime string `json:"mime"`
	// Size is the file's length in bytes.
	Size int64 `json:"size"`
	// Chunks are the needles holding the bytes, in offset order.
	Chunks []ChunkInfo `json:"chunks"`
}

// ChunkInfo is one chunk of a chunked file: bytes [Offset, Offset+Size) of
// the file are stored in needle Fid.
type ChunkInfo struct {
	// Fid is the needle holding the chunk.
	Fid string `json:"fid"`
	// Offset is where the chunk starts in the file.
	Offset int64 `json:"offset"`
	// Size is the chunk's length in bytes.
	Size int64 `json:"size"`
}

// maxManifestSize bounds the JSON of a manifest a reader accepts.
const maxManifestSize = 16 << 20

// ParseChunkManifest decodes and checks a manifest: every fid parses, the
// chunks (sorted by offset on return) neither overlap nor reach past Size,
// and sizes are not negative. Gaps are allowed and read as zeros by servers.
func ParseChunkManifest(data []byte) (*ChunkManifest, error) {
	if len(data) > maxManifestSize {
		return nil, fmt.Errorf("weed: chunk manifest of %d bytes is too large", len(data))
	}
	var m ChunkManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("weed: chunk manifest: %w", err)
	}
	if m.Size < 0 {
		return nil, fmt.Errorf("weed: chunk manifest: negative size %d", m.Size)
	}
	sort.SliceStable(m.Chunks, func(i, j int) bool { return m.Chunks[i].Offset < m.Chunks[j].Offset })
	var end int64
	for _, ch := range m.Chunks {
		if _, err := needle.ParseFileID(ch.Fid); err != nil {
			return nil, fmt.Errorf("weed: chunk manifest: %w", err)
		}
		if ch.Offset < end || ch.Size < 0 || ch.Size > m.Size-ch.Offset {
			return nil, fmt.Errorf("weed: chunk manifest: chunk %s at %d+%d overlaps or exceeds size %d", ch.Fid, ch.Offset, ch.Size, m.Size)
		}
		end = ch.Offset + ch.Size
	}
	return &m, nil
}

// ChunkedUpload describes a file to store in chunks.
type ChunkedUpload struct {
	// Filename and MimeType are stored in the manifest; MimeType defaults
	// to the one of Filename's extension.
	Filename, MimeType string
	// ChunkSize is the size of every chunk but the last, in bytes (> 0).
	ChunkSize int64
	// Collection, Replication, TTL and DataCenter are used for every
	// assign, as in AssignRequest.
	Collection, Replication, TTL, DataCenter string
	// ModTime, when not zero, is stored with the manifest.
	ModTime time.Time
	// OnChunk, when set, is called after each chunk is stored.
	OnChunk func(ChunkInfo)
}

// chunkReadBuffer is how far ahead of the upload a chunked upload reads.
const chunkReadBuffer = 64 << 10

// UploadChunked stores r as chunks of req.ChunkSize bytes, each one its own
// needle, then stores the manifest with ?cm=true and returns the manifest's
// fid. Chunks are streamed from r one after the other: memory use does not
// depend on ChunkSize or on the file's size. If any step fails, the chunks
// already stored are deleted (best effort) and the error is returned.
func (c *Client) UploadChunked(ctx context.Context, r io.Reader, req ChunkedUpload) (UploadedFile, error) {
	if req.ChunkSize <= 0 {
		return UploadedFile{}, fmt.Errorf("weed: chunked upload of %q: chunk size %d", req.Filename, req.ChunkSize)
	}
	mimeType := req.MimeType
	if mimeType == "" {
		mimeType = mime.TypeByExtension(filepath.Ext(req.Filename))
	}
	m := ChunkManifest{Name: req.Filename, Mime: mimeType, Chunks: []ChunkInfo{}}
	ar := AssignRequest{Replication: req.Replication, Collection: req.Collection, TTL: req.TTL, DataCenter: req.DataCenter}
	br := bufio.NewReaderSize(r, chunkReadBuffer)
	fail := func(err error) (UploadedFile, error) {
		c.deleteChunks(ctx, m.Chunks)
		return UploadedFile{}, err
	}
	for {
		if _, err := br.Peek(1); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fail(fmt.Errorf("weed: chunked upload of %q: reading: %w", req.Filename, err))
		}
		a, err := c.Assign(ctx, ar)
		if err != nil {
			return fail(err)
		}
		chunkName := fmt.Sprintf("%s_chunk_%d", req.Filename, len(m.Chunks))
		if req.Filename == "" {
			chunkName = ""
		}
		lr := &io.LimitedReader{R: br, N: req.ChunkSize}
		cr := &countingReader{r: lr}
		_, err = c.Upload(ctx, a.URL, a.Fid, UploadRequest{Filename: chunkName, MimeType: "application/octet-stream", Body: cr, TTL: req.TTL, JWT: a.JWT})
		if err != nil {
			return fail(err)
		}
		n := cr.n.Load()
		ch := ChunkInfo{Fid: a.Fid, Offset: m.Size, Size: n}
		m.Chunks = append(m.Chunks, ch)
		m.Size += n
		if req.OnChunk != nil {
			req.OnChunk(ch)
		}
	}
	data, err := json.Marshal(&m)
	if err != nil {
		return fail(fmt.Errorf("weed: chunk manifest: %w", err))
	}
	a, err := c.Assign(ctx, ar)
	if err != nil {
		return fail(err)
	}
	res, err := c.Upload(ctx, a.URL, a.Fid, UploadRequest{
		Filename: req.Filename, MimeType: "application/json", Body: bytes.NewReader(data),
		TTL: req.TTL, ChunkManifest: true, ModTime: req.ModTime, JWT: a.JWT,
	})
	if err != nil {
		return fail(err)
	}
	name := res.Name
	if name == "" {
		name = req.Filename
	}
	return UploadedFile{FileName: name, FileURL: publicOrURL(a) + "/" + a.Fid, Fid: a.Fid, Size: m.Size}, nil
}

// deleteChunks deletes stored chunks after a failed chunked upload, even
// when ctx is already cancelled.
func (c *Client) deleteChunks(ctx context.Context, chunks []ChunkInfo) {
	if len(chunks) == 0 {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, ch := range chunks {
		if _, err := c.Delete(dctx, ch.Fid); err != nil && !errors.Is(err, ErrNotFound) {
			glog.Warningf("weed client: leaving chunk %s of a failed upload behind: %v", ch.Fid, err)
		}
	}
}

// countingReader counts the bytes read through it. The count is atomic
// because an HTTP transport reads request bodies in its own goroutine.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
