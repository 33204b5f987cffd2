package volume

import (
	"bytes"
	"testing"

	"github.com/weedfs/weed/needle"
)

// TestWriteLarge: a file above the record buffer size is written in parts
// and reads back, and survives a reopen (Check passes).
func TestWriteLarge(t *testing.T) {
	dir := t.TempDir()
	v := createVol(t, dir, Options{})
	data := make([]byte, maxPooledRecord+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for k := needle.Key(1); k <= 3; k++ {
		n := needle.Needle{Cookie: 9, Key: k, Data: data[:len(data)-int(k)], Name: []byte("big.bin"), LastModified: 1700000000}
		if size, err := v.Write(&n); err != nil || int(size) != len(n.Data) {
			t.Fatalf("write %d: size %d, %v", k, size, err)
		}
	}
	mustWrite(t, v, &needle.Needle{Cookie: 9, Key: 4, Data: []byte("small after large")})
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Check(dir); err != nil {
		t.Fatal(err)
	}
	v = openVol(t, dir, Options{})
	for k := needle.Key(1); k <= 3; k++ {
		n, _, err := v.Read(k, 9, nil)
		if err != nil || !bytes.Equal(n.Data, data[:len(data)-int(k)]) || string(n.Name) != "big.bin" {
			t.Fatalf("read %d after reopen: %d bytes, name %q, %v", k, len(n.Data), n.Name, err)
		}
	}
	if n, _, err := v.Read(4, 9, nil); err != nil || string(n.Data) != "small after large" {
		t.Fatalf("read 4: %q %v", n.Data, err)
	}
}
