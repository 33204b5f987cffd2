package benchmark

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/weedfs/weed/needle"
)

// DefaultNullSize is the body size a NullServer answers reads with when its
// Size is zero.
const DefaultNullSize = 1024

// NullServer is a do-nothing weed: one http.Handler that answers as both a
// master and a volume server without storing anything, so that a benchmark
// against it measures the ceiling of the benchmark client on a machine.
//
//   - GET or POST /dir/assign: a fid with a fresh key (keys increase by
//     count) on volume 1, and the address the request was sent to as url
//     and publicUrl (with Volumes: on volume 1+key mod len(Volumes), at
//     the address of that volume, below);
//   - /dir/lookup: that same address for any volume (with Volumes:
//     Volumes[(vid-1) mod len(Volumes)]);
//   - POST or PUT /<fid>, and POST /submit: the body is drained and
//     answered with 201 {"name":"","size":<bytes received>};
//   - GET or HEAD /<fid>: 200 with Size bytes;
//   - DELETE /<fid>: 202 {"size":<Size>}.
//
// With Volumes set it is a do-nothing master instead: assigns and lookups
// name those addresses (other NullServers) in turn, so that a NullServer
// master and two NullServer volume servers, three processes, measure what
// the split into a master and volume servers costs by itself.
//
// The zero value is ready to use; set Size (and Volumes) before serving.
// It is safe for concurrent use.
type NullServer struct {
	// Size is the length of every read answer (DefaultNullSize if 0).
	Size int
	// Volumes, when not empty, are the "host:port" addresses assigns and
	// lookups send clients to; empty means the address the request was
	// sent to.
	Volumes []string

	key      atomic.Uint64
	once     sync.Once
	body     []byte
	bodyLen  []string
	jsonType []string
}

func (s *NullServer) init() {
	s.once.Do(func() {
		n := s.Size
		if n <= 0 {
			n = DefaultNullSize
		}
		s.body = make([]byte, n)
		for i := range s.body {
			s.body[i] = byte(i * 7)
		}
		s.bodyLen = []string{strconv.Itoa(n)}
		s.jsonType = []string{"application/json"}
	})
}

// ServeHTTP answers r as described on NullServer.
func (s *NullServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init()
	switch r.URL.Path {
	case "/dir/assign":
		s.assign(w, r)
		return
	case "/dir/lookup":
		s.lookup(w, r)
		return
	case "/submit":
		s.drain(w, r, true)
		return
	}
	if _, err := needle.ParseURLPath(r.URL.Path); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut:
		s.drain(w, r, false)
	case http.MethodGet, http.MethodHead:
		h := w.Header()
		h["Content-Length"] = s.bodyLen
		h["Content-Type"] = []string{"application/octet-stream"}
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(s.body)
		}
	case http.MethodDelete:
		s.reply(w, http.StatusAccepted, append(append([]byte(`{"size":`), s.bodyLen[0]...), '}'))
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func (s *NullServer) reply(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = s.jsonType
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *NullServer) assign(w http.ResponseWriter, r *http.Request) {
	count := uint64(1)
	if c := r.URL.Query().Get("count"); c != "" {
		n, err := strconv.ParseUint(c, 10, 32)
		if err != nil || n == 0 {
			s.reply(w, http.StatusBadRequest, []byte(`{"error":"bad count"}`))
			return
		}
		count = n
	}
	key := s.key.Add(count) - count + 1
	vid := uint64(1)
	if len(s.Volumes) > 0 {
		vid += key % uint64(len(s.Volumes))
	}
	host := s.volumeFor(vid, r)
	b := make([]byte, 0, 96+2*len(host))
	b = append(b, `{"fid":"`...)
	b = strconv.AppendUint(b, vid, 10)
	b = append(b, ',')
	b = append(b, needle.FormatKeyCookie(needle.Key(key), needle.Cookie(key*2654435761))...)
	b = append(b, `","url":"`...)
	b = append(b, host...)
	b = append(b, `","publicUrl":"`...)
	b = append(b, host...)
	b = append(b, `","count":`...)
	b = strconv.AppendUint(b, count, 10)
	b = append(b, '}')
	s.reply(w, http.StatusOK, b)
}

func (s *NullServer) lookup(w http.ResponseWriter, r *http.Request) {
	vid := r.URL.Query().Get("volumeId")
	if i := strings.IndexByte(vid, ','); i >= 0 {
		vid = vid[:i]
	}
	if _, err := needle.ParseVolumeID(vid); err != nil {
		s.reply(w, http.StatusNotFound, []byte(`{"error":"volumeId not found."}`))
		return
	}
	n, _ := strconv.ParseUint(vid, 10, 32)
	host := s.volumeFor(n, r)
	b := make([]byte, 0, 80+2*len(host)+len(vid))
	b = append(b, `{"volumeId":"`...)
	b = append(b, vid...)
	b = append(b, `","locations":[{"url":"`...)
	b = append(b, host...)
	b = append(b, `","publicUrl":"`...)
	b = append(b, host...)
	b = append(b, `"}]}`...)
	s.reply(w, http.StatusOK, b)
}

func (s *NullServer) drain(w http.ResponseWriter, r *http.Request, submit bool) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		s.reply(w, http.StatusBadRequest, []byte(`{"error":"reading the body"}`))
		return
	}
	b := make([]byte, 0, 96)
	if submit {
		key := s.key.Add(1)
		fid := "1," + needle.FormatKeyCookie(needle.Key(key), needle.Cookie(key*2654435761))
		host := jsonSafe(r.Host)
		b = append(b, `{"fid":"`...)
		b = append(b, fid...)
		b = append(b, `","fileName":"","fileUrl":"`...)
		b = append(b, host...)
		b = append(b, '/')
		b = append(b, fid...)
		b = append(b, `","size":`...)
	} else {
		b = append(b, `{"name":"","size":`...)
	}
	b = strconv.AppendInt(b, n, 10)
	b = append(b, '}')
	s.reply(w, http.StatusCreated, b)
}

// volumeFor returns the address that assigns and lookups name for volume
// vid: the request's Host, or with Volumes, Volumes[(vid-1) mod len].
func (s *NullServer) volumeFor(vid uint64, r *http.Request) string {
	if len(s.Volumes) == 0 {
		return jsonSafe(r.Host)
	}
	return jsonSafe(s.Volumes[(vid+uint64(len(s.Volumes))-1)%uint64(len(s.Volumes))])
}

// jsonSafe drops the characters of a Host header that would need escaping
// in a JSON string.
func jsonSafe(host string) string {
	for i := 0; i < len(host); i++ {
		if c := host[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			return strings.Map(func(r rune) rune {
				if r < 0x20 || r == '"' || r == '\\' || r >= 0x7f {
					return -1
				}
				return r
			}, host)
		}
	}
	return host
}
