package master

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/internal/rlimit"
	"github.com/weedfs/weed/wire"
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

// errLeaderChanged is the message of the 503 answered when the leader a
// request with a body was forwarded to stopped leading before it answered.
const errLeaderChanged = "the leader changed before it answered; send the request again"

// States of a forwardAttempt while it waits for the leader's answer.
const (
	attemptWaiting   int32 = iota // no response headers yet
	attemptAnswered               // headers came: the body is streamed
	attemptAbandoned              // this master stopped naming the leader
)

// forwardAttempt is one try at forwarding a request, shared with the
// proxy's hooks through the request context.
type forwardAttempt struct {
	leader string
	// mayRetry lets proxyError leave the answer to wrap when the leader
	// could not be reached at all.
	mayRetry bool
	// resendable: the request has no body and can be sent again.
	resendable bool
	// unreachable is set by proxyError instead of answering.
	unreachable bool
	// state is attemptWaiting until the leader's headers come
	// (attemptAnswered) or the leader changes first (attemptAbandoned).
	state atomic.Int32
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
		Rewrite:        f.rewrite,
		Transport:      transport,
		ModifyResponse: f.answered,
		ErrorHandler:   f.proxyError,
	}
	return f
}

// answered runs when the leader's response headers came: from then on the
// attempt is no longer abandoned on a leader change (its body is being
// streamed), and the answer names the leader that gave it
// (wire.LeaderHeader), so that a volume server calling a follower
// learns where the leader is.
func (f *leaderForwarder) answered(resp *http.Response) error {
	a, ok := resp.Request.Context().Value(forwardKey{}).(*forwardAttempt)
	if !ok {
		return nil
	}
	if !a.state.CompareAndSwap(attemptWaiting, attemptAnswered) {
		return errors.New("leader " + a.leader + " was replaced before it answered")
	}
	resp.Header.Set(wire.LeaderHeader, a.leader)
	return nil
}

// watchLeader abandons attempt a (through cancel) once this master no
// longer names a.leader as the leader while a waits for its answer: a
// leader that was paused or cut off never answers, and its followers elect
// another. It returns when done is closed or a is answered or abandoned.
func (f *leaderForwarder) watchLeader(a *forwardAttempt, cancel context.CancelFunc, done <-chan struct{}) {
	t := time.NewTicker(leaderPoll)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if a.state.Load() != attemptWaiting {
			return
		}
		if now := f.lead.Leader(); now != a.leader && a.state.CompareAndSwap(attemptWaiting, attemptAbandoned) {
			glog.V(1).Infof("forward to %s abandoned: the leader is now %q", a.leader, now)
			cancel()
			return
		}
	}
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
		if a.state.Load() == attemptAbandoned {
			if a.resendable {
				a.unreachable = true
				return
			}
			httpx.WriteError(w, r, http.StatusServiceUnavailable, errLeaderChanged)
			return
		}
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
// {"error":"no leader"}, or 502 for an unreachable leader. A forward whose
// leader is replaced before it answers (it was paused, or cut off) is
// abandoned: a request without a body goes to the new leader (the wait
// for one starts again, once), one with a body is answered 503. A
// forwarded request reaching a follower is answered 503 at once.
func (f *leaderForwarder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !f.lead.IsLeader() && r.Header.Get(ForwardedByHeader) != "" {
			httpx.WriteError(w, r, http.StatusServiceUnavailable, errNoLeader)
			return
		}
		deadline := time.Now().Add(f.wait)
		resendable := r.Body == nil || r.Body == http.NoBody
		waited, extended := false, false
		for {
			if f.lead.IsLeader() {
				h.ServeHTTP(w, r)
				return
			}
			leader := f.lead.Leader()
			if leader != "" && leader != f.lead.Self() {
				a := &forwardAttempt{leader: leader, resendable: resendable, mayRetry: resendable && time.Now().Add(leaderPoll).Before(deadline)}
				glog.V(3).Infof("forward %s %s to leader %s", r.Method, r.URL.Path, leader)
				f.forward(w, r, a)
				if !a.unreachable {
					return
				}
				if a.state.Load() == attemptAbandoned {
					if !extended {
						// The time spent on a leader that stopped
						// answering does not count against the wait for
						// the next one.
						deadline, extended = time.Now().Add(f.wait), true
					} else if !time.Now().Before(deadline) {
						httpx.WriteError(w, r, http.StatusServiceUnavailable, errNoLeader)
						return
					}
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

// forward sends r to a.leader through the proxy, abandoning it (see
// watchLeader) if the leader changes before it answers.
func (f *leaderForwarder) forward(w http.ResponseWriter, r *http.Request, a *forwardAttempt) {
	ctx, cancel := context.WithCancel(context.WithValue(r.Context(), forwardKey{}, a))
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go f.watchLeader(a, cancel, done)
	f.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// close drops the idle connections to the leader.
func (f *leaderForwarder) close() {
	if t, ok := f.proxy.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}
