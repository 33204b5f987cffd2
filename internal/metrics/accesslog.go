package metrics

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/golang/glog"
)

// accessFlushInterval bounds how long an access log line waits in the
// buffer.
const accessFlushInterval = time.Second

// AccessLog writes one line per request in the Common Log Format, followed
// by the time taken in seconds:
//
//	127.0.0.1 - - [08/Dec/2026:03:40:22 +0000] "GET /dir/assign HTTP/1.1" 200 85 0.000412
//
// (client address, time the request arrived, method, path with query,
// protocol, status, body bytes sent, duration). Lines are buffered and
// flushed every second and by Close. Safe for concurrent use.
type AccessLog struct {
	mu     sync.Mutex
	w      *bufio.Writer
	closer io.Closer // nil for stderr
	buf    []byte
	stop   chan struct{}
	done   chan struct{}
}

// OpenAccessLog opens the access log -accessLog names: "" is off (nil,
// nil), "-" or "stderr" is the standard error, anything else a file
// opened for appending (created 0644).
func OpenAccessLog(dest string) (*AccessLog, error) {
	switch dest {
	case "":
		return nil, nil
	case "-", "stderr":
		return NewAccessLog(os.Stderr, nil), nil
	}
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	return NewAccessLog(f, f), nil
}

// NewAccessLog returns an access log writing to w; Close closes c (when
// not nil) after the last flush.
func NewAccessLog(w io.Writer, c io.Closer) *AccessLog {
	l := &AccessLog{
		w:      bufio.NewWriterSize(w, 64<<10),
		closer: c,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go l.flushLoop()
	return l
}

func (l *AccessLog) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(accessFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.flush()
		}
	}
}

func (l *AccessLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.w.Flush(); err != nil {
		glog.Warningf("access log: %v", err)
	}
}

// Write logs one request that arrived at start and was answered with
// status and n body bytes after d.
func (l *AccessLog) Write(start time.Time, r *http.Request, status int, n int64, d time.Duration) {
	client := r.RemoteAddr
	if host, _, err := net.SplitHostPort(client); err == nil {
		client = host
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf[:0]
	b = append(b, client...)
	b = append(b, " - - ["...)
	b = start.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = appendEscaped(b, r.URL.RequestURI())
	b = append(b, ' ')
	b = append(b, r.Proto...)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, n, 10)
	b = append(b, ' ')
	b = strconv.AppendFloat(b, d.Seconds(), 'f', 6, 64)
	b = append(b, '\n')
	l.buf = b
	_, _ = l.w.Write(b)
}

// appendEscaped appends s with quotes, backslashes and control bytes
// escaped, so that a path cannot forge a line.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c == 0x7f:
			b = append(b, fmt.Sprintf("\\x%02x", c)...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// Close flushes the log and closes its file. The log must not be written
// to afterwards.
func (l *AccessLog) Close() error {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.w.Flush()
	if l.closer != nil {
		if cerr := l.closer.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	return nil
}
