package master

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/internal/rlimit"
)

// ForwardedByHeader is set on every request a follower forwards to the
// leader, to the follower's address. A master that is not the leader
// answers such a request with 503 instead of forwarding it again, so a
// request never bounces between masters that disagree on the leader.
const ForwardedByHeader = "X-Weed-Forwarded-By"

// errNoLeader is the message of the 503 answered while no leader is known.
const errNoLeader = "no leader"

// leaderPoll is how often a follower holding a request looks for a leader.
const leaderPoll = 100 * time.Millisecond

type forwardKey struct{}

// forwardAttempt is one try at forwarding a request, shared with the
// proxy's hooks through the request context.
type forwardAttempt struct {
	leader string
	// mayRetry lets proxyError leave the answer to wrap when the leader
	// could not be reached at all.
	mayRetry bool
	// unreachable is set by proxyError instead of answering.
	unreachable bool
}

// leaderForwarder forwards requests to the leader with a reverse proxy over
// keep-alive connections; request and response bodies are streamed. While
// an election is under way (no leader known, or the known one refuses
// connections) it holds requests for up to wait, so that clients of a
// surviving master ride over a failover.
type leaderForwarder struct {
	lead  Leadership
	wait  time.Duration
	proxy *httputil.ReverseProxy
}

func newLeaderForwarder(lead Leadership, wait time.Duration) *leaderForwarder {
	f := &leaderForwarder{lead: lead, wait: wait}
	transport := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          128,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	f.proxy = &httputil.ReverseProxy{
		Rewrite:      f.rewrite,
		Transport:    transport,
		ErrorHandler: f.proxyError,
	}
	return f
}

// rewrite points the outgoing request at the leader chosen by wrap.
func (f *leaderForwarder) rewrite(pr *httputil.ProxyRequest) {
	var leader string
	if a, ok := pr.In.Context().Value(forwardKey{}).(*forwardAttempt); ok {
		leader = a.leader
	}
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = leader
	pr.Out.Host = leader
	pr.SetXForwarded()
	pr.Out.Header.Set(ForwardedByHeader, f.lead.Self())
}

func (f *leaderForwarder) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	var leader string
	if a, ok := r.Context().Value(forwardKey{}).(*forwardAttempt); ok {
		leader = a.leader
		var oe *net.OpError
		if a.mayRetry && errors.As(err, &oe) && oe.Op == "dial" && !rlimit.IsTooManyOpenFiles(err) {
			glog.V(1).Infof("forward %s %s: leader %s unreachable (%v); waiting for a leader", r.Method, r.URL.Path, leader, err)
			a.unreachable = true
			return
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		glog.V(1).Infof("forward %s %s to leader %s: %v", r.Method, r.URL.Path, leader, err)
		w.WriteHeader(http.StatusBadGateway)
	case rlimit.IsTooManyOpenFiles(err):
		glog.Errorf("forward %s %s to leader %s: %v", r.Method, r.URL.Path, leader, err)
		httpx.WriteError(w, r, http.StatusServiceUnavailable, err.Error())
	default:
		glog.Warningf("forward %s %s to leader %s: %v", r.Method, r.URL.Path, leader, err)
		httpx.WriteError(w, r, http.StatusBadGateway, "leader "+leader+": "+err.Error())
	}
}

// wrap returns a handler that runs h on the leader and forwards the request
// to the leader on a follower. While no leader is known, or the known one
// cannot be reached (then only requests without a body, which can be sent
// again), it waits up to f.wait for one; after that it answers 503
// {"error":"no leader"}, or 502 for an unreachable leader. A forwarded
// request reaching a follower is answered 503 at once.
func (f *leaderForwarder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !f.lead.IsLeader() && r.Header.Get(ForwardedByHeader) != "" {
			httpx.WriteError(w, r, http.StatusServiceUnavailable, errNoLeader)
			return
		}
		deadline := time.Now().Add(f.wait)
		resendable := r.Body == nil || r.Body == http.NoBody
		waited := false
		for {
			if f.lead.IsLeader() {
				h.ServeHTTP(w, r)
				return
			}
			leader := f.lead.Leader()
			if leader != "" && leader != f.lead.Self() {
				a := &forwardAttempt{leader: leader, mayRetry: resendable && time.Now().Add(leaderPoll).Before(deadline)}
				glog.V(3).Infof("forward %s %s to leader %s", r.Method, r.URL.Path, leader)
				f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), forwardKey{}, a)))
				if !a.unreachable {
					return
				}
			} else if !time.Now().Add(leaderPoll).Before(deadline) {
				httpx.WriteError(w, r, http.StatusServiceUnavailable, errNoLeader)
				return
			}
			if !waited {
				glog.V(1).Infof("%s %s: waiting up to %v for a leader", r.Method, r.URL.Path, f.wait)
				waited = true
			}
			t := time.NewTimer(leaderPoll)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				httpx.WriteError(w, r, http.StatusServiceUnavailable, errNoLeader)
				return
			}
		}
	})
}

// close drops the idle connections to the leader.
func (f *leaderForwarder) close() {
	if t, ok := f.proxy.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}
