package main

import (
	"testing"

	"github.com/weedfs/weed/volume"
)

func TestListenAddr(t *testing.T) {
	for _, tc := range []struct {
		bind string
		port int
		want string
	}{
		{"0.0.0.0", 9333, ":9333"},
		{"", 8080, ":8080"},
		{"127.0.0.1", 8080, "127.0.0.1:8080"},
		{"10.0.0.7", 8888, "10.0.0.7:8888"},
		{"::1", 9333, "[::1]:9333"},
	} {
		if got := listenAddr(tc.bind, tc.port); got != tc.want {
			t.Errorf("listenAddr(%q, %d) = %q, want %q", tc.bind, tc.port, got, tc.want)
		}
	}
}

func TestIndexKind(t *testing.T) {
	for _, tc := range []struct {
		name     string
		want     volume.MapKind
		wantNote bool
		wantErr  bool
	}{
		{"memory", volume.MapMemory, false, false},
		{"bolt", volume.MapBolt, false, false},
		{"btree", volume.MapMemory, true, false},
		{"leveldb", volume.MapBolt, true, false},
		{"leveldbMedium", volume.MapBolt, true, false},
		{"leveldbLarge", volume.MapBolt, true, false},
		{"boltdb", volume.MapBolt, true, false},
		{"cassandra", "", false, true},
		{"", "", false, true},
	} {
		kind, note, err := indexKind(tc.name)
		if kind != tc.want || (note != "") != tc.wantNote || (err != nil) != tc.wantErr {
			t.Errorf("indexKind(%q) = %q, %q, %v; want %q, a note %v, an error %v", tc.name, kind, note, err, tc.want, tc.wantNote, tc.wantErr)
		}
	}
}

func TestDestutter(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"weed: download 3,01: weed: lookup: weed: volume 3 not found", "download 3,01: lookup: volume 3 not found"},
		{"listen on port 8080: address in use", "listen on port 8080: address in use"},
	} {
		if got := destutter(tc.in); got != tc.want {
			t.Errorf("destutter(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
