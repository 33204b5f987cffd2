package volume

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/weedfs/weed/needle"
)

// Export writes the live, unexpired files of a volume to w as a tar
// archive, in .dat order, without changing the volume's files (records in
// the .dat past the .idx are included, as a load would index them). Each
// entry is named by the needle's file name (its last path element) or, when
// it has none, by its fid; its mtime is LastModified (or the append time);
// its content is un-gzipped if the needle was stored gzipped. With a
// non-zero newer only needles modified (LastModified, or AppendAtNs when
// unset) after it are written. A needle that cannot be read is left out and
// reported in the returned error (errors.Join) after the rest is written.
func Export(w io.Writer, dir, collection string, id needle.VolumeID, newer time.Time) error {
	return ExportNamed(w, dir, collection, id, newer, nil)
}

// ExportName is what a -fileNameFormat template (weed-fs 0.70's) sees of a
// needle: {{.Name}} its file name, {{.Id}} its key, {{.Mime}} its MIME
// type, {{.Key}} its fid.
type ExportName struct {
	Name string
	Id   uint64 // the name weed-fs 0.70 templates use
	Mime string
	Key  string
}

// ExportNamed is Export with the tar entry names given by names, executed
// with an ExportName (nil: Export's names). A template that fails for a
// needle leaves it out and is reported like an unreadable needle.
func ExportNamed(w io.Writer, dir, collection string, id needle.VolumeID, newer time.Time, names *template.Template) error {
	if err := CheckCollection(collection); err != nil {
		return err
	}
	base := FileBase(dir, collection, id)
	dat, err := os.Open(base + ".dat")
	if err != nil {
		return fmt.Errorf("export volume %d: %w", id, err)
	}
	defer dat.Close()
	fi, err := dat.Stat()
	if err != nil {
		return fmt.Errorf("export volume %d: %w", id, err)
	}
	datSize := fi.Size()
	sb, err := readSuperBlock(dat, datSize)
	if err != nil {
		return fmt.Errorf("export volume %d: %w", id, err)
	}
	m, err := readIndex(base, dat, datSize, sb)
	if err != nil {
		return fmt.Errorf("export volume %d: %w", id, err)
	}
	type live struct {
		k  needle.Key
		nv needle.Value
	}
	var all []live
	m.Range(func(k needle.Key, nv needle.Value) error {
		all = append(all, live{k, nv})
		return nil
	})
	m.Close()
	slices.SortFunc(all, func(a, b live) int { return cmp.Compare(a.nv.Offset, b.nv.Offset) })

	tw := tar.NewWriter(w)
	now := time.Now()
	var (
		problems []error
		rec      []byte
	)
	for _, l := range all {
		off := needle.OffsetBytes(l.nv.Offset)
		need := needle.RecordLenUnpadded(l.nv.Size, sb.version)
		if off+need > datSize {
			problems = append(problems, fmt.Errorf("needle %x at %d: %w: past the end of the .dat", uint64(l.k), off, needle.ErrCorrupt))
			continue
		}
		if int64(cap(rec)) < need {
			rec = make([]byte, need)
		}
		rec = rec[:need]
		if _, err := dat.ReadAt(rec, off); err != nil {
			problems = append(problems, fmt.Errorf("needle %x at %d: %w", uint64(l.k), off, err))
			continue
		}
		var n needle.Needle
		if err := n.ParseRecord(rec, sb.version); err != nil {
			problems = append(problems, fmt.Errorf("needle %x at %d: %w", uint64(l.k), off, err))
			continue
		}
		if n.Key != l.k || n.IsTombstone() || expired(&n, sb.ttl, now) {
			continue
		}
		mtime := needleTime(&n)
		if !newer.IsZero() && !mtime.After(newer) {
			continue
		}
		content := n.Data
		if n.IsGzipped() {
			zr, err := gzip.NewReader(bytes.NewReader(n.Data))
			if err == nil {
				content, err = io.ReadAll(zr)
			}
			if err != nil {
				problems = append(problems, fmt.Errorf("needle %x: gunzip: %w", uint64(l.k), err))
				continue
			}
		}
		name := exportName(&n, id)
		if names != nil {
			var b strings.Builder
			fid := needle.FileID{Volume: id, Key: n.Key, Cookie: n.Cookie}.String()
			if err := names.Execute(&b, ExportName{Name: string(n.Name), Id: uint64(n.Key), Mime: string(n.Mime), Key: fid}); err != nil {
				problems = append(problems, fmt.Errorf("needle %x: file name: %w", uint64(l.k), err))
				continue
			}
			name = b.String()
		}
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     name,
			Mode:     0o644,
			Size:     int64(len(content)),
			ModTime:  mtime,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("export volume %d: %w", id, err)
		}
		if _, err := tw.Write(content); err != nil {
			return fmt.Errorf("export volume %d: %w", id, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("export volume %d: %w", id, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("export volume %d: %w", id, errors.Join(problems...))
	}
	return nil
}

// needleTime is a needle's modification time: LastModified, else the
// append time, else the zero time.
func needleTime(n *needle.Needle) time.Time {
	switch {
	case n.LastModified != 0:
		return time.Unix(int64(n.LastModified), 0)
	case n.AppendAtNs != 0:
		return time.Unix(0, int64(n.AppendAtNs))
	}
	return time.Time{}
}

// exportName is the tar entry name of a needle: the last element of its
// file name, or its fid when that is empty or a dot name.
func exportName(n *needle.Needle, id needle.VolumeID) string {
	name := path.Base(strings.ReplaceAll(string(n.Name), "\\", "/"))
	if len(n.Name) == 0 || name == "." || name == ".." || name == "/" {
		return needle.FileID{Volume: id, Key: n.Key, Cookie: n.Cookie}.String()
	}
	return name
}

// readIndex builds, without writing anything, the map a load would build:
// the .idx replayed (whole entries only, bad trailing entries dropped) and
// the valid records of the .dat past it applied.
func readIndex(base string, dat *os.File, datSize int64, sb superBlock) (*needle.CompactMap, error) {
	m := needle.NewCompactMap()
	idx, err := os.Open(base + ".idx")
	if errors.Is(err, os.ErrNotExist) {
		idx = nil
	} else if err != nil {
		return nil, err
	}
	scanFrom := sb.dataStart()
	if idx != nil {
		defer idx.Close()
		fi, err := idx.Stat()
		if err != nil {
			return nil, err
		}
		size := fi.Size() - fi.Size()%needle.IdxEntrySize
		keep, from, err := verifyIdxTail(idx, size, dat, datSize, sb)
		if err != nil {
			return nil, err
		}
		var st needle.IdxStats
		if err := needle.LoadIdx(io.NewSectionReader(idx, 0, keep), m, &st); err != nil {
			return nil, err
		}
		scanFrom = from
	}
	_, _, err = scanRecords(dat, scanFrom, datSize, sb.version, func(off int64, n *needle.Needle, _ []byte) error {
		_, _, err := needle.Apply(m, entryFor(off, n))
		return err
	}, nil)
	if err != nil {
		return nil, err
	}
	return m, nil
}
