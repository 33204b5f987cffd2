// Package volumeserver is weed's volume server: the HTTP API of a
// volume.Store (reads, uploads, deletes, /status, the masters' /admin calls
// and the replicas' /admin/sync calls), heartbeats to the masters, and the
// wiring of the replica protocol (replication.Coordinator, given this
// server's master calls, masters.go, and its peers over HTTP). Handlers
// are thin: they decode a request, call the engine or the coordinator, and
// encode the answer. The paths, headers and JSON bodies are the wire
// package's.
package volumeserver
