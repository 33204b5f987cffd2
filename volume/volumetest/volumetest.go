// Package volumetest holds the fixtures the tests of the storage engine and
// of the replica protocol share: deterministic test needles, and damage done
// to a volume's files on disk. It imports only needle, so the engine's own
// tests can use it.
package volumetest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weedfs/weed/needle"
)

// CookieOf is the cookie the tests give key k.
func CookieOf(k needle.Key) needle.Cookie {
	return needle.Cookie(uint32(k)*2654435761 ^ 0x5bd1e995)
}

// Payload returns size deterministic bytes for key k (generation gen lets
// an overwrite differ from the original).
func Payload(k needle.Key, gen, size int) []byte {
	r := rand.New(rand.NewPCG(uint64(k), uint64(gen)))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Needle builds the test needle of key k: data from Payload, a name and a
// mime type.
func Needle(k needle.Key, gen, size int) *needle.Needle {
	return &needle.Needle{
		Key:          k,
		Cookie:       CookieOf(k),
		Data:         Payload(k, gen, size),
		Name:         []byte(fmt.Sprintf("file-%d.bin", k)),
		Mime:         []byte("application/octet-stream"),
		LastModified: uint64(time.Now().Unix()),
	}
}

// SizeOf is the data size the tests use for key k.
func SizeOf(k needle.Key) int { return int(k*37%3000) + 1 }

// DamageRecord flips 8 bytes of the record of key k that the .idx of
// volume 1 in dir names last (at byte at of the record); the volume must be
// closed.
func DamageRecord(t testing.TB, dir string, k needle.Key, at int64) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "1.idx"))
	if err != nil {
		t.Fatal(err)
	}
	var e needle.IdxEntry
	needle.WalkIdx(f, func(x needle.IdxEntry) error {
		if x.Key == k {
			e = x
		}
		return nil
	})
	f.Close()
	if e.Key != k {
		t.Fatalf("no .idx entry of key %x", uint64(k))
	}
	dat, err := os.OpenFile(filepath.Join(dir, "1.dat"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dat.Close()
	var b [8]byte
	pos := needle.OffsetBytes(e.Offset) + at
	if _, err := dat.ReadAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] ^= 0x5a
	}
	if _, err := dat.WriteAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
}
