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

type leaderAddrKey struct{}

// leaderForwarder forwards requests to the leader with a reverse proxy over
// keep-alive connections; request and response bodies are streamed.
type leaderForwarder struct {
	lead  Leadership
	proxy *httputil.ReverseProxy
}

func newLeaderForwarder(lead Leadership) *leaderForwarder {
	f := &leaderForwarder{lead: lead}
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
	leader, _ := pr.In.Context().Value(leaderAddrKey{}).(string)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = leader
	pr.Out.Host = leader
	pr.SetXForwarded()
	pr.Out.Header.Set(ForwardedByHeader, f.lead.Self())
}

func (f *leaderForwarder) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	leader, _ := r.Context().Value(leaderAddrKey{}).(string)
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
// to the leader on a follower. With no leader known (or a forwarded request
// reaching a follower) it answers 503 {"error":"no leader"}.
func (f *leaderForwarder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.lead.IsLeader() {
			h.ServeHTTP(w, r)
			return
		}
		leader := f.lead.Leader()
		if leader == "" || leader == f.lead.Self() || r.Header.Get(ForwardedByHeader) != "" {
			httpx.WriteError(w, r, http.StatusServiceUnavailable, errNoLeader)
			return
		}
		glog.V(3).Infof("forward %s %s to leader %s", r.Method, r.URL.Path, leader)
		ctx := context.WithValue(r.Context(), leaderAddrKey{}, leader)
		f.proxy.ServeHTTP(w, r.WithContext(ctx))
	})
}

// close drops the idle connections to the leader.
func (f *leaderForwarder) close() {
	if t, ok := f.proxy.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}
