package volumeserver

import (
	"net"
	"net/http"
	"strconv"

	"github.com/weedfs/weed/internal/httpx"
)

// PublicHandler returns the handler of the public port (-port.public, as in
// weed-fs 0.70): reads of files (GET and HEAD of a fid path) exactly as on
// the main port, and nothing else. A write or delete of a fid answers 405
// with Allow: GET, HEAD; /status, /admin and any path that is not a file
// answer 404. Serve it on a listener of its own; the main port keeps every
// endpoint.
func (s *Server) PublicHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isFilePath(r.URL.Path) {
			httpx.WriteEmptyNotFound(w)
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			s.handleRead(w, r)
		default:
			w.Header().Set("Allow", "GET, HEAD")
			httpx.WriteError(w, r, http.StatusMethodNotAllowed, "the public port serves reads only; write and delete on the main port")
		}
	})
}

// publicURL is the address handed to clients for this server's files:
// ServerOptions.PublicURL, else ip:PublicPort when a public port is set
// (the ip this server is known by), else empty (the master uses ip:port).
func (s *Server) publicURL() string {
	if s.opts.PublicURL != "" || s.opts.PublicPort == 0 {
		return s.opts.PublicURL
	}
	addr, known := s.knownSelf()
	if !known {
		return ""
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return net.JoinHostPort(host, strconv.Itoa(s.opts.PublicPort))
}
