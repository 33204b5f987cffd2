// Package raft holds end-to-end tests of a Raft group of real weed masters:
// leader failover, restarts from -mdir, membership growth, followers that
// answer every master endpoint, and growth after a leader change. Every test
// starts its own processes through testcluster and talks to them over HTTP.
package raft

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/testcluster"
)

// Bounds of the waits in these tests. They are generous on purpose: the
// machine is shared; the promised figures are measured and logged instead.
const (
	// leaderBound is how long a failover may take before the test fails.
	leaderBound = 20 * time.Second
	// assignBound is how long assigns may fail after a kill before the test
	// fails.
	assignBound = 30 * time.Second
	// settleBound bounds waits for heartbeats and membership changes.
	settleBound = 30 * time.Second
)

// volStatus is the body of /vol/status, with the views of it these tests
// take.
type volStatus struct {
	testcluster.VolStatus
}

// volumeRecord is one replica of a volume as /vol/status lists it.
type volumeRecord struct {
	Node        string
	Collection  string
	Replication string
	TTL         string
}

// records flattens /vol/status into the replicas of every volume id.
func (s volStatus) records() map[needle.VolumeID][]volumeRecord {
	out := make(map[needle.VolumeID][]volumeRecord)
	for _, racks := range s.Volumes.DataCenters {
		for _, nodes := range racks {
			for node, vols := range nodes {
				for _, v := range vols {
					out[v.ID] = append(out[v.ID], volumeRecord{
						Node: node, Collection: v.Collection,
						Replication: v.ReplicaPlacement.String(), TTL: v.TTL,
					})
				}
			}
		}
	}
	return out
}

// collectionVolumes returns the sorted ids of the volumes of collection c.
func (s volStatus) collectionVolumes(c string) []needle.VolumeID {
	var ids []needle.VolumeID
	for id, recs := range s.records() {
		if recs[0].Collection == c {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// doJSON sends a request without following redirects and decodes a JSON
// answer into v (when not nil and the body is not empty). It returns the
// status code.
func doJSON(method, target string, body io.Reader, contentType string, v any) (int, error) {
	var header map[string]string
	if contentType != "" {
		header = map[string]string{"Content-Type": contentType}
	}
	r, err := testcluster.Send(testcluster.NoFollow, method, target, body, header)
	if err != nil {
		return r.Status, err
	}
	if v != nil && len(bytes.TrimSpace(r.Body)) > 0 {
		if err := json.Unmarshal(r.Body, v); err != nil {
			return r.Status, fmt.Errorf("%s %s: %d %q: %w", method, target, r.Status, truncate(r.Body), err)
		}
	}
	return r.Status, nil
}

func truncate(b []byte) string {
	if len(b) > 300 {
		b = b[:300]
	}
	return string(b)
}

// readFile GETs http://addr/fid and checks the bytes.
func readFile(addr, fid string, want []byte) error {
	r, err := testcluster.ReadDirect(addr, fid)
	if err != nil {
		return fmt.Errorf("read %s from %s: %w", fid, addr, err)
	}
	if r.Status != http.StatusOK {
		return fmt.Errorf("read %s from %s: status %d", fid, addr, r.Status)
	}
	if !bytes.Equal(r.Body, want) {
		return fmt.Errorf("read %s from %s: got %q, want %q", fid, addr, truncate(r.Body), truncate(want))
	}
	return nil
}

// getVolStatus fetches /vol/status through master.
func getVolStatus(master string) (volStatus, error) {
	var s volStatus
	status, err := doJSON(http.MethodGet, "http://"+master+"/vol/status", nil, "", &s)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("vol/status through %s: %d", master, status)
	}
	return s, err
}

// storedFile is a file written by a test, with where it was written.
type storedFile struct {
	Fid  string
	URL  string
	Data []byte
}

// fidLedger records every fid a test was handed out and checks that no key
// and no (volume, key) pair repeats. Safe for concurrent use.
type fidLedger struct {
	mu     sync.Mutex
	keys   map[needle.Key]string
	maxKey needle.Key
	pairs  map[[2]uint64]bool
	dups   []string
	n      int
}

func newFidLedger() *fidLedger {
	return &fidLedger{keys: make(map[needle.Key]string), pairs: make(map[[2]uint64]bool)}
}

// add records the count keys of an assign (fid, fid_1 … fid_{count-1}).
func (l *fidLedger) add(fid string, count uint64, via string) error {
	f, err := needle.ParseFileID(fid)
	if err != nil {
		return fmt.Errorf("parse fid %q from %s: %w", fid, via, err)
	}
	if count == 0 {
		count = 1
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	for i := uint64(0); i < count; i++ {
		k := f.Key + needle.Key(i)
		if prev, ok := l.keys[k]; ok {
			l.dups = append(l.dups, fmt.Sprintf("key %d: %s (now %s via %s)", k, prev, fid, via))
		}
		l.keys[k] = fid + " via " + via
		pair := [2]uint64{uint64(f.Volume), uint64(k)}
		if l.pairs[pair] {
			l.dups = append(l.dups, fmt.Sprintf("volume %d key %d twice (%s via %s)", f.Volume, k, fid, via))
		}
		l.pairs[pair] = true
		l.maxKey = max(l.maxKey, k)
	}
	return nil
}

// check fails t if a key or pair repeated.
func (l *fidLedger) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.dups) > 0 {
		t.Errorf("%d repeated file keys among %d assigns:\n%s", len(l.dups), l.n, strings.Join(l.dups, "\n"))
	}
}

// assigns returns how many assigns were recorded.
func (l *fidLedger) assigns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// highest returns the highest key recorded.
func (l *fidLedger) highest() needle.Key {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxKey
}

// volumeWatch polls /vol/status through the masters in the background and
// checks that a volume id never names two different volumes: every replica
// of an id, whenever seen, has the same collection, replication and ttl.
type volumeWatch struct {
	mu      sync.Mutex
	seen    map[needle.VolumeID]volumeRecord
	clashes []string
	polls   int
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// watchVolumes starts polling; masters returns the addresses to ask.
func watchVolumes(masters func() []string, every time.Duration) *volumeWatch {
	w := &volumeWatch{seen: make(map[needle.VolumeID]volumeRecord), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		i := 0
		for {
			ms := masters()
			if len(ms) > 0 {
				if s, err := getVolStatus(ms[i%len(ms)]); err == nil {
					w.observe(s)
				}
				i++
			}
			select {
			case <-w.stop:
				return
			case <-time.After(every):
			}
		}
	}()
	return w
}

// observe records one /vol/status answer.
func (w *volumeWatch) observe(s volStatus) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.polls++
	for id, recs := range s.records() {
		for _, r := range recs {
			want, ok := w.seen[id]
			if !ok {
				w.seen[id] = r
				continue
			}
			if want.Collection != r.Collection || want.Replication != r.Replication || want.TTL != r.TTL {
				w.clashes = append(w.clashes, fmt.Sprintf("volume %d: %+v and %+v", id, want, r))
			}
		}
	}
}

// halt stops polling and waits for the poller; it may be called again.
func (w *volumeWatch) halt() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// finish stops polling, fails t on a clash and returns the ids seen.
func (w *volumeWatch) finish(t *testing.T) map[needle.VolumeID]volumeRecord {
	t.Helper()
	w.halt()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.clashes) > 0 {
		t.Errorf("volume ids reused:\n%s", strings.Join(w.clashes, "\n"))
	}
	t.Logf("volume watch: %d polls, %d volume ids seen", w.polls, len(w.seen))
	return w.seen
}

// addrs returns the addresses of the running processes of ps.
func addrs(ps ...*testcluster.Process) []string {
	var out []string
	for _, p := range ps {
		if p.Running() {
			out = append(out, p.Addr())
		}
	}
	return out
}

// waitLeaderAmong polls the running masters of ms until one of them reports
// itself leader and every running one names it; it returns that master and
// when it was first seen leading.
func waitLeaderAmong(t *testing.T, ms []*testcluster.Process, bound time.Duration) (*testcluster.Process, time.Time) {
	t.Helper()
	var leader *testcluster.Process
	var firstSeen time.Time
	ok := testcluster.Eventually(bound, func() bool {
		agreed := ""
		leader = nil
		for _, m := range ms {
			if !m.Running() {
				continue
			}
			st, err := m.Status()
			if err != nil {
				return false
			}
			if st.IsLeader {
				leader = m
				if firstSeen.IsZero() {
					firstSeen = time.Now()
				}
			}
			if st.Leader == "" || (agreed != "" && st.Leader != agreed) {
				return false
			}
			agreed = st.Leader
		}
		return leader != nil && leader.Addr() == agreed
	})
	if !ok {
		t.Fatalf("masters %v did not agree on a leader within %v", addrs(ms...), bound)
	}
	return leader, firstSeen
}

// followersOf returns the running masters of ms other than leader.
func followersOf(leader *testcluster.Process, ms []*testcluster.Process) []*testcluster.Process {
	var out []*testcluster.Process
	for _, m := range ms {
		if m != leader && m.Running() {
			out = append(out, m)
		}
	}
	return out
}

// memberSet returns the self address plus Peers of a /cluster/status, sorted.
func memberSet(self string, st testcluster.ClusterStatus) []string {
	m := append([]string{self}, st.Peers...)
	slices.Sort(m)
	return slices.Compact(m)
}
