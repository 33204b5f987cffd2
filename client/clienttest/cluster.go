// Package clienttest runs an in-process fake weed cluster (one master and
// some volume servers, real HTTP on 127.0.0.1) for tests and examples of
// code that uses package client. It speaks the client-facing HTTP API of
// weed (assign, lookup, submit, upload, read with ranges, delete, chunk
// manifests) and keeps files in memory; it does no replication, growth or
// persistence, and is not a server to run in production. With
// Options.Secret it acts as a secured cluster (-secure.secret): assigns and
// /dir/lookup?fileId= answer tokens, volume servers refuse writes and
// deletes without one.
package clienttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weedfs/weed/client"
	"github.com/weedfs/weed/internal/security"
	"github.com/weedfs/weed/needle"
)

// Options shapes a fake cluster. Zero fields take the defaults.
type Options struct {
	// VolumeServers is the number of volume servers (default 1).
	VolumeServers int
	// Volumes is the number of volumes (default 3), with ids 1..Volumes.
	Volumes int
	// Copies is how many volume servers hold each volume (default 1, at
	// most VolumeServers).
	Copies int
	// Secret, when set, makes the cluster a secured one: the master
	// answers a token (JWT) in the Authorization header of every assign
	// and of /dir/lookup?fileId=, and volume servers answer 401 to a
	// write or delete without a valid token for its fid.
	Secret string
}

// File is a stored file as the fake keeps it.
type File struct {
	// Name and Mime are the stored file name and MIME type.
	Name, Mime string
	// Data is the stored bytes; callers must not modify it.
	Data []byte
	// Gzipped is set when the upload said its bytes are gzip-compressed.
	Gzipped bool
	// ChunkManifest is set for a needle uploaded with ?cm=true.
	ChunkManifest bool
	// TTL is the ttl given at upload.
	TTL string
	// ModTime is the modification time given at upload (?ts=), or the
	// upload time.
	ModTime time.Time

	cookie needle.Cookie
}

type fileKey struct {
	vid needle.VolumeID
	key needle.Key
}

// Cluster is a running fake cluster. Its methods are safe for concurrent use.
type Cluster struct {
	master  *httptest.Server
	servers []*httptest.Server

	mu          sync.Mutex
	holders     map[needle.VolumeID][]int // volume -> server indexes
	vids        []needle.VolumeID
	nextVolume  int
	nextKey     uint64
	files       map[fileKey]*File
	assignFail  *client.Error
	requests    map[string]int
	lookupDelay time.Duration

	secret       []byte // nil: no tokens
	expireTokens int    // how many of the next tokens are signed expired
	refused      int    // writes and deletes answered 401
}

// Start starts a fake cluster on 127.0.0.1. Close it when done.
func Start(opts Options) (*Cluster, error) {
	if opts.VolumeServers <= 0 {
		opts.VolumeServers = 1
	}
	if opts.Volumes <= 0 {
		opts.Volumes = 3
	}
	if opts.Copies <= 0 {
		opts.Copies = 1
	}
	if opts.Copies > opts.VolumeServers {
		return nil, fmt.Errorf("clienttest: %d copies on %d volume servers", opts.Copies, opts.VolumeServers)
	}
	c := &Cluster{
		holders:  map[needle.VolumeID][]int{},
		files:    map[fileKey]*File{},
		requests: map[string]int{},
	}
	if opts.Secret != "" {
		c.secret = []byte(opts.Secret)
	}
	for i := 0; i < opts.VolumeServers; i++ {
		idx := i
		c.servers = append(c.servers, httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.serveVolume(idx, w, r)
		})))
	}
	for v := 1; v <= opts.Volumes; v++ {
		vid := needle.VolumeID(v)
		c.vids = append(c.vids, vid)
		for k := 0; k < opts.Copies; k++ {
			c.holders[vid] = append(c.holders[vid], (v-1+k)%opts.VolumeServers)
		}
	}
	c.master = httptest.NewServer(http.HandlerFunc(c.serveMaster))
	return c, nil
}

// Close stops every server of the cluster.
func (c *Cluster) Close() {
	c.master.Close()
	for _, s := range c.servers {
		s.Close()
	}
}

// MasterAddr returns the master's "host:port".
func (c *Cluster) MasterAddr() string { return c.master.Listener.Addr().String() }

// VolumeServerAddrs returns the volume servers' "host:port" addresses.
func (c *Cluster) VolumeServerAddrs() []string {
	out := make([]string, len(c.servers))
	for i, s := range c.servers {
		out[i] = s.Listener.Addr().String()
	}
	return out
}

// Holders returns the addresses of the volume servers holding volume vid.
func (c *Cluster) Holders(vid needle.VolumeID) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, i := range c.holders[vid] {
		out = append(out, c.servers[i].Listener.Addr().String())
	}
	return out
}

// StopVolumeServer closes volume server i: connections to it are refused
// from then on, while the master still lists it as a holder.
func (c *Cluster) StopVolumeServer(i int) {
	c.servers[i].Close()
}

// Requests returns how many requests the master received for path (such as
// "/dir/lookup" or "/dir/assign").
func (c *Cluster) Requests(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests[path]
}

// FailAssign makes every later /dir/assign (and /submit) answer status with
// {"error": message}. A status of 0 makes them succeed again.
func (c *Cluster) FailAssign(status int, message string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if status == 0 {
		c.assignFail = nil
		return
	}
	c.assignFail = &client.Error{StatusCode: status, Message: message}
}

// SetLookupDelay makes the master wait d before answering each
// /dir/lookup, so that tests can have many lookups in flight at once.
func (c *Cluster) SetLookupDelay(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lookupDelay = d
}

// ExpireTokens makes the next n tokens the master hands out (Options.Secret)
// expired already, as if their holder had waited too long.
func (c *Cluster) ExpireTokens(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireTokens = n
}

// Refused returns how many writes and deletes the volume servers refused
// with 401 for want of a valid token.
func (c *Cluster) Refused() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refused
}

// sign returns the Authorization value of a token for fid (and count-1 ids
// after it), or "" without a secret.
func (c *Cluster) sign(fid string, count int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secret == nil {
		return ""
	}
	exp := time.Now().Add(security.DefaultTokenTTL)
	if c.expireTokens > 0 {
		c.expireTokens--
		exp = time.Now().Add(-time.Minute)
	}
	return security.Bearer(security.Sign(c.secret, security.Claims{Fid: fid, Count: uint64(count), Exp: exp.Unix()}))
}

// authorized checks the token of a write or delete of id, answering 401 when
// it is not valid.
func (c *Cluster) authorized(w http.ResponseWriter, r *http.Request, id needle.FileID) bool {
	if c.secret == nil {
		return true
	}
	claims, err := security.Parse(c.secret, security.RequestToken(r), time.Now())
	if err == nil && claims.Covers(id) {
		return true
	}
	if err == nil {
		err = security.ErrWrongFid
	}
	c.mu.Lock()
	c.refused++
	c.mu.Unlock()
	writeError(w, http.StatusUnauthorized, err.Error())
	return false
}

// File returns the file stored under fid, if any.
func (c *Cluster) File(fid string) (File, bool) {
	id, err := needle.ParseFileID(fid)
	if err != nil {
		return File{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.files[fileKey{id.Volume, id.Key}]
	if !ok || f.cookie != id.Cookie {
		return File{}, false
	}
	return *f, true
}

// Put stores f under a newly assigned fid, bypassing HTTP (for tests that
// need a file an upload could not produce, such as a hostile file name).
func (c *Cluster) Put(f File) (string, error) {
	fid, _, ferr := c.assign(1)
	if ferr != nil {
		return "", ferr
	}
	id, err := needle.ParseFileID(fid)
	if err != nil {
		return "", err
	}
	if f.ModTime.IsZero() {
		f.ModTime = time.Now()
	}
	c.store(id, &f)
	return fid, nil
}

// FileCount returns how many files are stored.
func (c *Cluster) FileCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.files)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func (c *Cluster) addr(server int) string { return c.servers[server].Listener.Addr().String() }

// assign reserves count keys on the next volume in turn. It returns the
// fid, the holder's address, or the configured failure.
func (c *Cluster) assign(count int) (string, string, *client.Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.assignFail != nil {
		return "", "", c.assignFail
	}
	vid := c.vids[c.nextVolume%len(c.vids)]
	c.nextVolume++
	c.nextKey++
	key := c.nextKey
	c.nextKey += uint64(count - 1)
	fid := needle.FileID{Volume: vid, Key: needle.Key(key), Cookie: needle.Cookie(rand.Uint32())}
	return fid.String(), c.addr(c.holders[vid][0]), nil
}

func (c *Cluster) serveMaster(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.requests[r.URL.Path]++
	delay := c.lookupDelay
	c.mu.Unlock()
	switch r.URL.Path {
	case "/dir/assign":
		count := 1
		if s := r.FormValue("count"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 1000 {
				writeError(w, http.StatusBadRequest, "bad count "+s)
				return
			}
			count = n
		}
		fid, addr, ferr := c.assign(count)
		if ferr != nil {
			writeError(w, ferr.StatusCode, ferr.Message)
			return
		}
		if auth := c.sign(fid, count); auth != "" {
			w.Header().Set(security.AuthorizationHeader, auth)
		}
		writeJSON(w, http.StatusOK, map[string]any{"fid": fid, "url": addr, "publicUrl": addr, "count": count})
	case "/dir/lookup":
		if delay > 0 {
			time.Sleep(delay)
		}
		v := r.FormValue("volumeId")
		if fid := r.FormValue("fileId"); fid != "" {
			v = fid
			if auth := c.sign(fid, 1); auth != "" {
				w.Header().Set(security.AuthorizationHeader, auth)
			}
		}
		if i := strings.IndexByte(v, ','); i >= 0 {
			v = v[:i]
		}
		vid, err := needle.ParseVolumeID(v)
		holders := c.Holders(vid)
		if err != nil || len(holders) == 0 {
			writeJSON(w, http.StatusNotFound, map[string]string{"volumeId": v, "error": "volumeId not found."})
			return
		}
		locs := make([]map[string]string, 0, len(holders))
		for _, h := range holders {
			locs = append(locs, map[string]string{"url": h, "publicUrl": h})
		}
		writeJSON(w, http.StatusOK, map[string]any{"volumeId": v, "locations": locs})
	case "/submit":
		c.serveSubmit(w, r)
	default:
		up, err := needle.ParseURLPath(r.URL.Path)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		holders := c.Holders(up.FileID.Volume)
		if len(holders) == 0 {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		http.Redirect(w, r, "http://"+holders[0]+r.URL.Path, http.StatusMovedPermanently)
	}
}

func (c *Cluster) serveSubmit(w http.ResponseWriter, r *http.Request) {
	f, err := readUpload(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	fid, addr, ferr := c.assign(1)
	if ferr != nil {
		writeError(w, ferr.StatusCode, ferr.Message)
		return
	}
	id, _ := needle.ParseFileID(fid)
	c.store(id, f)
	writeJSON(w, http.StatusCreated, map[string]any{"fid": fid, "fileName": f.Name, "fileUrl": addr + "/" + fid, "size": len(f.Data)})
}

// readUpload reads a multipart upload (the first file part) or a raw body.
func readUpload(r *http.Request) (*File, error) {
	q := r.URL.Query()
	f := &File{TTL: q.Get("ttl"), ChunkManifest: q.Get("cm") == "true", ModTime: time.Now()}
	if ts := q.Get("ts"); ts != "" {
		if sec, err := strconv.ParseInt(ts, 10, 64); err == nil {
			f.ModTime = time.Unix(sec, 0)
		}
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		f.Data = data
		if mt != "" && mt != "application/octet-stream" {
			f.Mime = mt
		}
		return f, nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, err
	}
	part, err := mr.NextPart()
	if err != nil {
		return nil, fmt.Errorf("no file part: %w", err)
	}
	defer part.Close()
	f.Name = part.FileName()
	if ct := part.Header.Get("Content-Type"); ct != "application/octet-stream" {
		f.Mime = ct
	}
	f.Gzipped = part.Header.Get("Content-Encoding") == "gzip"
	if f.Data, err = io.ReadAll(part); err != nil {
		return nil, err
	}
	return f, nil
}

func (c *Cluster) store(id needle.FileID, f *File) {
	f.cookie = id.Cookie
	c.mu.Lock()
	defer c.mu.Unlock()
	c.files[fileKey{id.Volume, id.Key}] = f
}

// holds reports whether server i holds volume vid, and whether vid exists.
func (c *Cluster) holds(i int, vid needle.VolumeID) (held, exists bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	hs := c.holders[vid]
	for _, h := range hs {
		if h == i {
			return true, true
		}
	}
	return false, len(hs) > 0
}

func (c *Cluster) serveVolume(i int, w http.ResponseWriter, r *http.Request) {
	up, err := needle.ParseURLPath(r.URL.Path)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	id := up.FileID
	held, exists := c.holds(i, id.Volume)
	if !held {
		if exists && (r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodDelete) {
			http.Redirect(w, r, "http://"+c.Holders(id.Volume)[0]+r.URL.Path, http.StatusMovedPermanently)
			return
		}
		writeError(w, http.StatusNotFound, "volume "+id.Volume.String()+" not found")
		return
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodDelete {
		if !c.authorized(w, r, id) {
			return
		}
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut:
		f, err := readUpload(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if f.ChunkManifest {
			if _, err := client.ParseChunkManifest(f.Data); err != nil {
				writeError(w, http.StatusBadRequest, err.Error())
				return
			}
		}
		c.store(id, f)
		w.Header().Set("Etag", `"`+etag(f.Data)+`"`)
		writeJSON(w, http.StatusCreated, map[string]any{"name": f.Name, "size": len(f.Data)})
	case http.MethodGet, http.MethodHead:
		f, ok := c.File(id.String())
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		data := f.Data
		if f.ChunkManifest && r.URL.Query().Get("cm") != "false" {
			if data, err = c.assemble(f.Data); err != nil {
				writeError(w, http.StatusInternalServerError, err.Error())
				return
			}
		}
		h := w.Header()
		h.Set("Etag", `"`+etag(data)+`"`)
		if f.Name != "" {
			h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": f.Name}))
		}
		ct := f.Mime
		if ct == "" {
			ct = "application/octet-stream"
		}
		h.Set("Content-Type", ct)
		if f.Gzipped {
			h.Set("Content-Encoding", "gzip")
		}
		http.ServeContent(w, r, "", f.ModTime, bytes.NewReader(data))
	case http.MethodDelete:
		c.mu.Lock()
		k := fileKey{id.Volume, id.Key}
		f, ok := c.files[k]
		if ok && f.cookie == id.Cookie {
			delete(c.files, k)
		}
		c.mu.Unlock()
		if !ok || f.cookie != id.Cookie {
			writeJSON(w, http.StatusNotFound, map[string]int{"size": 0})
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]int{"size": len(f.Data)})
	default:
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method)
	}
}

// assemble concatenates the chunks a manifest names.
func (c *Cluster) assemble(manifest []byte) ([]byte, error) {
	m, err := client.ParseChunkManifest(manifest)
	if err != nil {
		return nil, err
	}
	out := make([]byte, m.Size)
	for _, ch := range m.Chunks {
		f, ok := c.File(ch.Fid)
		if !ok || int64(len(f.Data)) != ch.Size {
			return nil, fmt.Errorf("chunk %s missing or of the wrong size", ch.Fid)
		}
		copy(out[ch.Offset:], f.Data)
	}
	return out, nil
}

func etag(data []byte) string {
	return fmt.Sprintf("%08x", crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
}
