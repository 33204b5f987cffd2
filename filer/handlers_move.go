package filer

import (
	"fmt"
	"net/http"
)

// handleMove serves POST /to?mv.from=/from, SeaweedFS's rename: the file
// or directory tree at /from moves to /to, or into /to/ under its own
// name when the target ends in "/". 204 once moved; 404 when /from is
// missing, 409 when /to is a directory or the tree cannot go there, 400
// for bad paths.
func (s *Server) handleMove(w http.ResponseWriter, r *http.Request) {
	to, into, err := CleanPath(r.URL.Path)
	if err != nil {
		writeFilerError(w, r, err)
		return
	}
	from, _, err := CleanPath(r.URL.Query().Get("mv.from"))
	if err != nil {
		writeFilerError(w, r, fmt.Errorf("mv.from: %w", err))
		return
	}
	if into && from != "/" {
		_, name := SplitPath(from)
		to = JoinPath(to, name)
	}
	if err := s.filer.Rename(r.Context(), from, to); err != nil {
		writeFilerError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
