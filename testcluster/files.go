package testcluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// The requests of this file are the ones every end-to-end package makes
// on files: submit, assign, upload, lookup, read and delete, with the
// master or volume server named by its "host:port". They need no
// testing.TB, so a test's background goroutines can use them; each returns
// an error that names the request and the reply, for a test to fail with.
// None follows a redirect unless its name says so: a test sees a 301 as
// the server sent it.

// SubmitResult is a master's /submit reply.
type SubmitResult struct {
	Fid      string `json:"fid"`
	FileName string `json:"fileName"`
	FileURL  string `json:"fileUrl"`
	Size     int64  `json:"size"`
	Error    string `json:"error"`
	// Reply is the whole exchange, for tests of the exact body or headers.
	Reply Reply `json:"-"`
}

// Submit is `curl -F file=@name http://master/submit?query` (query may be
// empty). It fails unless the reply is a 201 whose JSON names a fid; the
// result holds the reply whenever one arrived.
func Submit(master, name string, data []byte, query string) (SubmitResult, error) {
	var s SubmitResult
	r, err := SendFile(withQuery("http://"+master+"/submit", query), name, data, nil)
	if err != nil {
		return s, fmt.Errorf("submit %s through %s: %w", name, master, err)
	}
	if err := decodeReply(r, http.StatusCreated, &s); err != nil || s.Fid == "" {
		s.Reply = r
		return s, fmt.Errorf("submit %s through %s: %s: want 201 with a fid (%v)", name, master, r, err)
	}
	s.Reply = r
	return s, nil
}

// AssignResult is a master's /dir/assign reply.
type AssignResult struct {
	Fid       string `json:"fid"`
	URL       string `json:"url"`
	PublicURL string `json:"publicUrl"`
	Count     uint64 `json:"count"`
	Error     string `json:"error"`
	// Reply is the whole exchange, for tests of the exact body or headers
	// (a secured master's write token is in its Authorization header).
	Reply Reply `json:"-"`
}

// Assign is `curl http://master/dir/assign?query` (query may be empty). It
// fails unless the reply is a 200 whose JSON names a fid; the result holds
// the reply whenever one arrived.
func Assign(master, query string) (AssignResult, error) {
	var a AssignResult
	r, err := Send(NoFollow, http.MethodGet, withQuery("http://"+master+"/dir/assign", query), nil, nil)
	if err != nil {
		return a, fmt.Errorf("assign through %s: %w", master, err)
	}
	if err := decodeReply(r, http.StatusOK, &a); err != nil || a.Fid == "" {
		a.Reply = r
		return a, fmt.Errorf("assign through %s: %s: want 200 with a fid (%v)", master, r, err)
	}
	a.Reply = r
	return a, nil
}

// Upload is `curl -F file=@name http://volume/fid`: it stores data as fid
// on the volume server at volume and fails unless the reply is a 201.
func Upload(volume, fid, name string, data []byte) error {
	r, err := SendFile("http://"+volume+"/"+fid, name, data, nil)
	if err != nil {
		return fmt.Errorf("upload %s to %s: %w", fid, volume, err)
	}
	if r.Status != http.StatusCreated {
		return fmt.Errorf("upload %s to %s: %s, want 201", fid, volume, r)
	}
	return nil
}

// Lookup is `curl http://master/dir/lookup?volumeId=id` for a volume id or
// a fid. Any JSON reply is a result, a 404 for an unknown volume included
// (l.Reply.Status tells them apart); it fails only when no reply arrives
// or its body is not JSON.
func Lookup(master, volumeOrFid string) (DirLookup, error) {
	var l DirLookup
	r, err := Send(NoFollow, http.MethodGet, "http://"+master+"/dir/lookup?volumeId="+url.QueryEscape(volumeOrFid), nil, nil)
	if err != nil {
		return l, fmt.Errorf("lookup %s through %s: %w", volumeOrFid, master, err)
	}
	if err := json.Unmarshal(r.Body, &l); err != nil {
		l.Reply = r
		return l, fmt.Errorf("lookup %s through %s: %s: %w", volumeOrFid, master, r, err)
	}
	l.Reply = r
	return l, nil
}

// URLs returns the url of every location of l, sorted.
func (l DirLookup) URLs() []string {
	urls := make([]string, 0, len(l.Locations))
	for _, loc := range l.Locations {
		urls = append(urls, loc.URL)
	}
	slices.Sort(urls)
	return urls
}

// ReadDirect is `curl http://addr/fid`: it reads fid from the server at
// addr without following a redirect. Any reply is a result.
func ReadDirect(addr, fid string) (Reply, error) {
	return Send(NoFollow, http.MethodGet, "http://"+addr+"/"+fid, nil, nil)
}

// ReadFollow is `curl -L http://addr/fid`: it reads fid from the server at
// addr (a master or a volume server) following redirects. Any reply is a
// result.
func ReadFollow(addr, fid string) (Reply, error) {
	return Send(Follow, http.MethodGet, "http://"+addr+"/"+fid, nil, nil)
}

// Delete is `curl -L -X DELETE http://addr/fid` on a volume server: it
// follows a 301 with another DELETE (Go's client would send a GET), at most
// three times, and returns the last reply. Any reply is a result.
func Delete(addr, fid string) (Reply, error) {
	target := "http://" + addr + "/" + fid
	for range 3 {
		r, err := Send(NoFollow, http.MethodDelete, target, nil, nil)
		if err != nil || r.Status != http.StatusMovedPermanently {
			return r, err
		}
		target = r.Header.Get("Location")
	}
	return Reply{}, fmt.Errorf("delete %s: too many redirects", fid)
}

// DeleteThroughMaster is `curl -L -X DELETE http://master/fid`: the
// master's 301 is followed to the volume server with Delete. A reply other
// than a 301 from the master is returned as it is.
func DeleteThroughMaster(master, fid string) (Reply, error) {
	r, err := Send(NoFollow, http.MethodDelete, "http://"+master+"/"+fid, nil, nil)
	if err != nil || r.Status != http.StatusMovedPermanently {
		return r, err
	}
	u, err := url.Parse(r.Header.Get("Location"))
	if err != nil {
		return r, err
	}
	return Delete(u.Host, fid)
}

// statusClient reads status pages, which tests poll: it does not follow
// redirects and gives up after 5 s, so that a paused or hung master costs
// one poll, not the whole wait.
var statusClient = &http.Client{Timeout: 5 * time.Second, CheckRedirect: refuseRedirects}

// ReadDirStatus fetches /dir/status from the master at master, without
// following a redirect; a reply other than a 200 is an error.
func ReadDirStatus(master string) (DirStatus, error) {
	var st DirStatus
	r, err := Send(statusClient, http.MethodGet, "http://"+master+"/dir/status", nil, nil)
	if err != nil {
		return st, err
	}
	if err := decodeReply(r, http.StatusOK, &st); err != nil {
		return st, fmt.Errorf("dir/status of %s: %w", master, err)
	}
	return st, nil
}

// withQuery appends "?query" to u unless query is empty.
func withQuery(u, query string) string {
	if query == "" {
		return u
	}
	return u + "?" + query
}

// decodeReply unmarshals r's JSON body into v, and fails when r's status is
// not want or the body is not JSON. v is filled even when the status is
// wrong, so that an error field can be read.
func decodeReply(r Reply, want int, v any) error {
	err := json.Unmarshal(bytes.TrimSpace(r.Body), v)
	if r.Status != want {
		return fmt.Errorf("status %d, want %d", r.Status, want)
	}
	return err
}
