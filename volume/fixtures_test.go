package volume

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume/volumetest"
)

type fixtureFile struct {
	Fid     string `json:"fid"`
	Name    string `json:"name"`
	Size    int    `json:"size"`
	Sha256  string `json:"sha256"`
	Deleted bool   `json:"deleted"`
}

func readManifest(t *testing.T, dir string) []fixtureFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m []fixtureFile
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m) == 0 {
		t.Fatal("empty manifest")
	}
	return m
}

// checkFixture serves every manifest entry from the store.
func checkFixture(t *testing.T, s *Store, manifest []fixtureFile) {
	t.Helper()
	for _, e := range manifest {
		fid, err := needle.ParseFileID(e.Fid)
		if err != nil {
			t.Fatal(err)
		}
		v := s.Volume(fid.Volume)
		if v == nil {
			t.Fatalf("%s: volume not loaded", e.Fid)
		}
		n, _, err := v.Read(fid.Key, fid.Cookie, nil)
		if e.Deleted {
			if !errors.Is(err, needle.ErrNotFound) && !errors.Is(err, needle.ErrDeleted) {
				t.Errorf("%s (deleted): err %v, want not found", e.Fid, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", e.Fid, err)
			continue
		}
		if string(n.Name) != e.Name {
			t.Errorf("%s: name %q, want %q", e.Fid, n.Name, e.Name)
		}
		data := n.Data
		if n.IsGzipped() {
			zr, err := gzip.NewReader(bytes.NewReader(n.Data))
			if err == nil {
				data, err = io.ReadAll(zr)
			}
			if err != nil {
				t.Errorf("%s: gunzip: %v", e.Fid, err)
				continue
			}
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != e.Sha256 || len(data) != e.Size {
			t.Errorf("%s: %d bytes, sha256 %x; want %d bytes, %s", e.Fid, len(data), sum, e.Size, e.Sha256)
		}
		if _, _, err := v.Read(fid.Key, fid.Cookie^0x01000000, nil); !errors.Is(err, needle.ErrCookieMismatch) {
			t.Errorf("%s with a wrong cookie: %v, want ErrCookieMismatch", e.Fid, err)
		}
	}
}

// TestFixtures loads the volumes SeaweedFS 0.72 (version 2) and 4.44
// (version 3) wrote and serves every file of their manifests; then writes
// into a version 2 fixture volume and serves everything again.
func TestFixtures(t *testing.T) {
	for _, name := range []string{"seaweedfs-0.72-v2", "seaweedfs-4.44-v3"} {
		t.Run(name, func(t *testing.T) {
			forEachMap(t, func(t *testing.T, opts Options) {
				src := filepath.Join("..", "testdata", name)
				dir := t.TempDir()
				copyFiles(t, src, dir, nil)
				manifest := readManifest(t, src)
				s, err := NewStore([]string{dir}, []int{10}, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { s.Close() }()
				if len(s.Volumes()) != 7 {
					t.Fatalf("%d volumes loaded, want 7", len(s.Volumes()))
				}
				checkFixture(t, s, manifest)

				// New needles into volume 2, in the volume's own version.
				v := s.Volume(2)
				version := v.Version()
				for k := needle.Key(1000); k < 1020; k++ {
					mustWrite(t, v, volumetest.Needle(k, 0, volumetest.SizeOf(k)))
				}
				if _, err := v.Delete(1005, volumetest.CookieOf(1005), 0); err != nil {
					t.Fatal(err)
				}
				check := func(s *Store) {
					t.Helper()
					checkFixture(t, s, manifest)
					v := s.Volume(2)
					for k := needle.Key(1000); k < 1020; k++ {
						if k == 1005 {
							expectGone(t, v, k)
						} else {
							expectNeedle(t, v, k, volumetest.Payload(k, 0, volumetest.SizeOf(k)))
						}
					}
				}
				check(s)
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				mustCheck(t, dir)
				if s, err = NewStore([]string{dir}, []int{10}, opts); err != nil {
					t.Fatal(err)
				}
				check(s)
				if got := s.Volume(2).Version(); got != version {
					t.Errorf("volume 2 is version %d after writes, was %d", got, version)
				}
				// A compaction keeps serving everything.
				for _, v := range s.Volumes() {
					if err := v.Compact(); err != nil {
						t.Fatal(err)
					}
					if err := v.CommitCompact(); err != nil {
						t.Fatal(err)
					}
				}
				check(s)
				s.Close()
				mustCheck(t, dir)
			})
		})
	}
}
