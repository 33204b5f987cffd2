// Package client is the Go client of weed: assign file ids, upload, look up
// volume locations (cached, one master request per cold volume however many
// readers ask at once), read, delete, chunked uploads of large files, and
// helpers to upload files and directory trees or download fids into a
// directory.
//
// A Client talks to the masters given at construction (any of them answers;
// a follower forwards to the leader) and to the volume servers they name.
// Every method that does I/O takes a context.Context first, and a Client is
// safe for concurrent use by many goroutines.
//
// Errors returned by a weed server are *Error values carrying the HTTP status
// and the server's message verbatim; a missing needle or volume also matches
// ErrNotFound with errors.Is.
package client
