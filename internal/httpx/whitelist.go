package httpx

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/golang/glog"
)

// WhiteList admits requests by the client's address: the -whiteList flag of
// the master and the volume server, a list of IP addresses and CIDR ranges.
// An empty list admits everyone. It is read-only once built and safe for
// concurrent use.
type WhiteList struct {
	ips  map[string]bool
	nets []*net.IPNet
}

// NewWhiteList parses entries, each an IP address or a CIDR range; blank
// entries are skipped. A malformed entry is an error naming it.
func NewWhiteList(entries []string) (*WhiteList, error) {
	w := &WhiteList{ips: make(map[string]bool)}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if strings.Contains(e, "/") {
			_, n, err := net.ParseCIDR(e)
			if err != nil {
				return nil, fmt.Errorf("white list entry %q: %w", e, err)
			}
			w.nets = append(w.nets, n)
			continue
		}
		ip := net.ParseIP(e)
		if ip == nil {
			return nil, fmt.Errorf("white list entry %q is not an IP address", e)
		}
		w.ips[ip.String()] = true
	}
	return w, nil
}

// Empty reports whether the list has no entry (and so admits everyone).
func (w *WhiteList) Empty() bool { return len(w.ips) == 0 && len(w.nets) == 0 }

// Allows reports whether ip is listed or falls in a listed range.
func (w *WhiteList) Allows(ip net.IP) bool {
	if w.ips[ip.String()] {
		return true
	}
	for _, n := range w.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// Wrap returns h guarded by the list: requests from other addresses get 403
// with a JSON error naming the address. With an empty list it returns h.
func (w *WhiteList) Wrap(h http.Handler) http.Handler { return w.WrapTrusting(h, nil) }

// WrapTrusting is Wrap, except that a request from an address the list
// refuses is still admitted when trusted (if not nil) reports true for it.
func (w *WhiteList) WrapTrusting(h http.Handler, trusted func(r *http.Request, ip net.IP) bool) http.Handler {
	if w.Empty() {
		return h
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		ip := net.ParseIP(host)
		if ip != nil && (w.Allows(ip) || (trusted != nil && trusted(r, ip))) {
			h.ServeHTTP(rw, r)
			return
		}
		glog.V(1).Infof("white list: %s refused for %s %s", host, r.Method, r.URL.Path)
		WriteError(rw, r, http.StatusForbidden, "access from "+host+" is not allowed")
	})
}
