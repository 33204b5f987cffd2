package main

import (
	"context"
	"fmt"
	"os"

	"github.com/weedfs/weed/replication"
	"github.com/weedfs/weed/volume"
)

func init() {
	var a volumeArgs
	c := register(&command{
		name:  "backup",
		short: "make or refresh a local copy of a volume, fetching only what changed",
		long: `Make or refresh a local copy of one volume in -dir. The first run copies the
volume's .dat from a replica the master names; later runs fetch only what
changed since (new needles and deletes), and follow compactions of the source.
The copy is a valid volume: a volume server started on -dir serves it.`,
	})
	server := c.flags.String("server", "localhost:9333", "master to look the volume up with (comma list for several)")
	c.flags.StringVar(server, "master", "localhost:9333", "the same as -server")
	a.define(c)
	compact := c.flags.Float64("garbageThreshold", 0.3, "compact the local copy when its garbage ratio is above this (0 never)")
	c.run = func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return badUsage("unexpected arguments %q", args)
		}
		id, err := a.id()
		if err != nil {
			return err
		}
		res, err := replication.Backup(ctx, replication.BackupOptions{
			Masters:          *server,
			Dir:              *a.dir,
			Collection:       *a.collection,
			VolumeID:         id,
			GarbageThreshold: *compact,
			Progress:         backupProgress(),
		})
		if stderrIsTerminal() {
			fmt.Fprint(os.Stderr, "\r\033[K")
		}
		if err != nil {
			return err
		}
		how := fmt.Sprintf("fetched %d records, deleted %d needles", res.Pulled, res.Deleted)
		if res.Full {
			how = fmt.Sprintf("copied %d bytes", res.Bytes)
		}
		if res.Compacted {
			how += ", compacted"
		}
		fmt.Printf("volume %d backed up from %s into %s: %s; %d live files\n",
			id, res.Source, volume.FileBase(*a.dir, *a.collection, id), how, res.FileCount)
		return nil
	}
}

// backupProgress returns the progress line of a first copy, on a terminal
// only (as weed upload's), else nil.
func backupProgress() func(int64) {
	if !stderrIsTerminal() {
		return nil
	}
	return func(copied int64) {
		fmt.Fprintf(os.Stderr, "\r\033[Kcopied %s", humanBytes(copied))
	}
}
