package raftnode

import (
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/golang/glog"
	"github.com/hashicorp/go-hclog"
)

// peerQuiet is how long a peer must go without a failure line before its
// next failure is logged again (its failures recur every few hundred
// milliseconds while it is down).
const peerQuiet = 10 * time.Second

// peerField finds the peer a raft line is about: peer=ADDR,
// peer="{Voter ID ADDR}" or server-id=ID.
var peerField = regexp.MustCompile(`(?:peer|server-id)="?(?:\{\w+ \S+ )?([^\s"}]+)`)

// glogWriter receives hclog's formatted lines and logs them through glog:
// errors and warnings always, info at -v=1, debug at -v=2, trace at -v=3.
// A peer that cannot be reached is logged once when it goes down and once
// when it is back, not at every failed heartbeat: the failures about a
// peer already reported down are logged at -v=2 only.
type glogWriter struct {
	now func() time.Time

	mu   sync.Mutex
	down map[string]time.Time // peer -> last failure seen
}

func newGlogWriter() *glogWriter {
	return &glogWriter{now: time.Now, down: make(map[string]time.Time)}
}

func (g *glogWriter) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	switch {
	case strings.HasPrefix(line, "[ERROR]"), strings.HasPrefix(line, "[WARN]"):
		if peer := failedPeer(line); peer != "" && !g.failure(peer) {
			if glog.V(2) {
				glog.Info(line)
			}
			return len(p), nil
		}
		if strings.HasPrefix(line, "[ERROR]") {
			glog.Error(line)
		} else {
			glog.Warning(line)
		}
	case strings.HasPrefix(line, "[INFO]"):
		if peer := recoveredPeer(line); peer != "" && g.recovered(peer) {
			glog.Infof("raft: peer %s reachable again", peer)
		}
		if glog.V(1) {
			glog.Info(line)
		}
	case strings.HasPrefix(line, "[DEBUG]"):
		if glog.V(2) {
			glog.Info(line)
		}
	default:
		if glog.V(3) {
			glog.Info(line)
		}
	}
	return len(p), nil
}

// failedPeer returns the peer a failure line is about ("failed to
// heartbeat to", "failed to appendEntries to", "failed to contact", ...),
// or "".
func failedPeer(line string) string {
	if !strings.Contains(line, "failed to") {
		return ""
	}
	if m := peerField.FindStringSubmatch(line); m != nil {
		return m[1]
	}
	return ""
}

// recoveredPeer returns the peer raft resumed replicating to, or "".
func recoveredPeer(line string) string {
	if !strings.Contains(line, "pipelining replication") {
		return ""
	}
	if m := peerField.FindStringSubmatch(line); m != nil {
		return m[1]
	}
	return ""
}

// failure notes a failure about peer and reports whether it is news: the
// peer was not known down, or has been quiet for peerQuiet.
func (g *glogWriter) failure(peer string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	last, known := g.down[peer]
	g.down[peer] = now
	return !known || now.Sub(last) >= peerQuiet
}

// recovered forgets that peer was down and reports whether it was.
func (g *glogWriter) recovered(peer string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, was := g.down[peer]
	delete(g.down, peer)
	return was
}

// newGlogHclog returns an hclog.Logger for raft that writes through glog,
// at the most verbose level glog's -v currently lets through, and at least
// Info: the writer needs raft's "pipelining replication" lines to tell when
// a peer that was down is back (they reach glog at -v=1 only).
func newGlogHclog(name string) hclog.Logger {
	level := hclog.Info
	switch {
	case bool(glog.V(3)):
		level = hclog.Trace
	case bool(glog.V(2)):
		level = hclog.Debug
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:        name,
		Level:       level,
		Output:      newGlogWriter(),
		DisableTime: true,
	})
}
