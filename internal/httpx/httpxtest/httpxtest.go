// Package httpxtest holds HTTP helpers for the tests and benchmarks of
// weed's servers.
package httpxtest

import "net/http"

// DiscardWriter is an http.ResponseWriter that keeps the status and the
// number of body bytes and drops the body, so that handler benchmarks
// measure the handler alone. It is not safe for concurrent use; give each
// goroutine its own.
type DiscardWriter struct {
	// Status is the first status written: the one passed to WriteHeader, or
	// 200 once the body starts without one; 0 before either.
	Status int
	// N counts the body bytes written.
	N int

	header http.Header
}

// NewDiscardWriter returns an empty DiscardWriter.
func NewDiscardWriter() *DiscardWriter {
	return &DiscardWriter{header: make(http.Header)}
}

// Header returns the reply's headers, kept until Reset.
func (w *DiscardWriter) Header() http.Header { return w.header }

// WriteHeader records code unless a status is already recorded.
func (w *DiscardWriter) WriteHeader(code int) {
	if w.Status == 0 {
		w.Status = code
	}
}

// Write counts b and drops it; it never fails.
func (w *DiscardWriter) Write(b []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	w.N += len(b)
	return len(b), nil
}

// Reset empties w for the next request, keeping its header map.
func (w *DiscardWriter) Reset() {
	clear(w.header)
	w.Status, w.N = 0, 0
}
