package needle_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/weedfs/weed/needle"
)

type manifestEntry struct {
	Fid     string `json:"fid"`
	Name    string `json:"name"`
	Size    int    `json:"size"`
	Sha256  string `json:"sha256"`
	Deleted bool   `json:"deleted"`
}

type fixtureRecord struct {
	offset int64
	n      needle.Needle
}

// walkDat parses every record of a .dat from offset 8, checking each CRC,
// and returns the last record of each key.
func walkDat(t *testing.T, path string) (version uint8, last map[needle.Key]fixtureRecord, masked, raw int) {
	t.Helper()
	dat, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(dat) < needle.SuperBlockSize {
		t.Fatalf("%s: %d bytes, no superblock", path, len(dat))
	}
	version = dat[0]
	last = map[needle.Key]fixtureRecord{}
	off := int64(needle.SuperBlockSize)
	for off < int64(len(dat)) {
		h, err := needle.ParseHeader(dat[off:])
		if err != nil {
			t.Fatalf("%s@%d: %v", path, off, err)
		}
		l := needle.RecordLen(h.Size, version)
		if off+l > int64(len(dat)) {
			t.Fatalf("%s@%d: record of %d bytes runs past the end (%d)", path, off, l, len(dat))
		}
		var n needle.Needle
		if err := n.ParseRecord(dat[off:off+l], version); err != nil {
			t.Fatalf("%s@%d: %v", path, off, err)
		}
		if !n.IsTombstone() {
			if n.Checksum == needle.MaskCRC(needle.RawCRC(n.Data)) {
				masked++
			} else {
				raw++
			}
		}
		last[n.Key] = fixtureRecord{off, n}
		off += l
	}
	if off != int64(len(dat)) {
		t.Fatalf("%s: walk ended at %d, file is %d bytes", path, off, len(dat))
	}
	return version, last, masked, raw
}

func TestFixtures(t *testing.T) {
	for _, tc := range []struct {
		dir     string
		version uint8
		masked  bool // the writer stored masked CRCs (else raw)
	}{
		{"seaweedfs-0.72-v2", needle.Version2, true},
		{"seaweedfs-4.44-v3", needle.Version3, false},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			dir := filepath.Join("..", "testdata", tc.dir)
			mj, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			var manifest []manifestEntry
			if err := json.Unmarshal(mj, &manifest); err != nil {
				t.Fatal(err)
			}
			type volume struct {
				last  map[needle.Key]fixtureRecord
				index *needle.CompactMap
			}
			vols := map[needle.VolumeID]*volume{}
			gzipped := 0
			for _, e := range manifest {
				fid, err := needle.ParseFileID(e.Fid)
				if err != nil {
					t.Fatalf("manifest fid %q: %v", e.Fid, err)
				}
				vol := vols[fid.Volume]
				if vol == nil {
					base := filepath.Join(dir, fid.Volume.String())
					version, last, masked, raw := walkDat(t, base+".dat")
					if version != tc.version {
						t.Fatalf("%s.dat: superblock version %d, want %d", base, version, tc.version)
					}
					if tc.masked && raw > 0 || !tc.masked && masked > 0 {
						t.Errorf("%s.dat: %d masked and %d raw checksums", base, masked, raw)
					}
					idx, err := os.Open(base + ".idx")
					if err != nil {
						t.Fatal(err)
					}
					m := needle.NewCompactMap()
					var st needle.IdxStats
					if err := needle.LoadIdx(idx, m, &st); err != nil {
						t.Fatalf("%s.idx: %v", base, err)
					}
					idx.Close()
					if st.PartialTail || int64(m.Len()) != st.FileCount-st.DeleteCount {
						t.Errorf("%s.idx: stats %+v, live %d", base, st, m.Len())
					}
					vol = &volume{last, m}
					vols[fid.Volume] = vol
				}
				rec, ok := vol.last[fid.Key]
				if !ok {
					t.Errorf("%s: no record for key %x", e.Fid, uint64(fid.Key))
					continue
				}
				v, indexed := vol.index.Get(fid.Key)
				if e.Deleted {
					if !rec.n.IsTombstone() {
						t.Errorf("%s: deleted, but the last record is live", e.Fid)
					}
					if indexed {
						t.Errorf("%s: deleted, but .idx has %+v", e.Fid, v)
					}
					continue
				}
				n := rec.n
				if n.IsTombstone() || n.Cookie != fid.Cookie {
					t.Errorf("%s: last record tombstone=%v cookie %08x", e.Fid, n.IsTombstone(), uint32(n.Cookie))
					continue
				}
				if !indexed || needle.OffsetBytes(v.Offset) != rec.offset || v.Size != n.Size {
					t.Errorf("%s: .idx has %+v (indexed %v), record at %d size %d", e.Fid, v, indexed, rec.offset, n.Size)
				}
				if string(n.Name) != e.Name {
					t.Errorf("%s: name %q, want %q", e.Fid, n.Name, e.Name)
				}
				data := n.Data
				if n.IsGzipped() {
					gzipped++
					zr, err := gzip.NewReader(bytes.NewReader(n.Data))
					if err != nil {
						t.Errorf("%s: gzip flag set but data is not gzip: %v", e.Fid, err)
						continue
					}
					if data, err = io.ReadAll(zr); err != nil {
						t.Errorf("%s: gunzip: %v", e.Fid, err)
						continue
					}
				}
				sum := sha256.Sum256(data)
				if len(data) != e.Size || hex.EncodeToString(sum[:]) != e.Sha256 {
					t.Errorf("%s: %d bytes sha256 %x, want %d bytes %s", e.Fid, len(data), sum, e.Size, e.Sha256)
				}
				if len(n.Etag()) != 8 {
					t.Errorf("%s: etag %q", e.Fid, n.Etag())
				}
			}
			if tc.version == needle.Version2 && gzipped == 0 {
				t.Errorf("no gzipped needle found: the fixture should hold some")
			}
			t.Logf("%d manifest entries, %d gzipped", len(manifest), gzipped)
		})
	}
}
