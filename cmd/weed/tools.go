package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/template"
	"time"

	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/volume"
)

// volumeArgs are the -dir -volumeId -collection flags the offline volume
// tools share.
type volumeArgs struct {
	dir        *string
	volumeID   *int
	collection *string
}

func (a *volumeArgs) define(c *command) {
	a.dir = c.flags.String("dir", ".", "directory holding the volume's .dat and .idx")
	a.volumeID = c.flags.Int("volumeId", -1, "volume id")
	a.collection = c.flags.String("collection", "", "collection of the volume (its files are collection_N.dat)")
}

func (a *volumeArgs) id() (needle.VolumeID, error) {
	if *a.volumeID < 1 || *a.volumeID > 1<<32-1 {
		return 0, badUsage("-volumeId must name a volume (1 or more)")
	}
	return needle.VolumeID(*a.volumeID), nil
}

func init() {
	var a volumeArgs
	c := register(&command{
		name:  "fix",
		short: "rebuild a volume's .idx from its .dat (the volume server must not have it open)",
	})
	a.define(c)
	c.run = func(ctx context.Context, args []string) error {
		id, err := a.id()
		if err != nil {
			return err
		}
		if err := volume.Fix(*a.dir, *a.collection, id); err != nil {
			return err
		}
		fmt.Printf("rebuilt %s.idx\n", volume.FileBase(*a.dir, *a.collection, id))
		return nil
	}
}

func init() {
	var a volumeArgs
	c := register(&command{
		name:  "export",
		short: "write a volume's live files into a tar archive",
	})
	a.define(c)
	out := c.flags.String("o", "", `output tar file (default, or "-": standard output)`)
	newer := c.flags.String("newer", "", "only files modified after this time, RFC 3339 (2006-01-02T15:04:05Z07:00) or 2006-01-02")
	nameFormat := c.flags.String("fileNameFormat", "", "Go template of the tar entry names over {{.Name}} (file name), {{.Id}} (key), {{.Mime}}, {{.Key}} (fid), e.g. weed-fs 0.70's default {{.Mime}}/{{.Id}}:{{.Name}}; empty: the file name, or the fid for a file without one")
	c.run = func(ctx context.Context, args []string) error {
		id, err := a.id()
		if err != nil {
			return err
		}
		var since time.Time
		if *newer != "" {
			if since, err = time.Parse(time.RFC3339, *newer); err != nil {
				if since, err = time.Parse("2006-01-02", *newer); err != nil {
					return badUsage("-newer=%q is not a time like 2006-01-02T15:04:05Z or 2006-01-02", *newer)
				}
			}
		}
		var names *template.Template
		if *nameFormat != "" {
			if names, err = template.New("fileNameFormat").Parse(*nameFormat); err != nil {
				return badUsage("-fileNameFormat: %v", err)
			}
		}
		var w io.Writer = os.Stdout
		if *out != "" && *out != "-" { // "-": standard output, as in weed-fs 0.70
			f, err := os.Create(*out)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		return volume.ExportNamed(w, *a.dir, *a.collection, id, since, names)
	}
}
