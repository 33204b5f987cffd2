package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/weedfs/weed/client"
)

func init() {
	c := register(&command{
		name:  "upload",
		args:  "file1 [file2 ...]",
		short: "upload files (or a directory tree with -dir) and print their fids as JSON",
		long: `Upload files to weed. Files share one assign (fid, fid_1, fid_2...); files larger
than -maxMB are split into chunks plus a chunk manifest. With -dir, every file under
the directory whose name matches -include is uploaded. Prints a JSON array of
{"fileName","fileUrl","fid","size"}.`,
	})
	fs := c.flags
	masterAddr := fs.String("master", "localhost:9333", "master address (or a comma list)")
	dir := fs.String("dir", "", "upload every file under this directory (recursively)")
	include := fs.String("include", "", "with -dir, only files whose name matches this glob, e.g. *.jpg")
	replication := fs.String("replication", "", "replication (empty: the master's default)")
	collection := fs.String("collection", "", "collection")
	ttl := fs.String("ttl", "", "time to live, e.g. 3m, 4h, 5d, 6w, 7M, 8y")
	dataCenter := fs.String("dataCenter", "", "prefer volumes in this data center")
	maxMB := fs.Int("maxMB", 0, "split files larger than this many MB into chunks (0: never)")
	fs.StringVar(masterAddr, "server", "localhost:9333", "the same as -master (weed-fs 0.70's name)")
	secret := fs.String("secure.secret", "", "the cluster's -secure.secret: sign the writes whose assign carries no token with it (empty: use the master's tokens only)")
	fs.Bool("debug", false, "verbose logging on standard error (glog -v=4)")
	c.run = func(ctx context.Context, args []string) error {
		if *dir == "" && len(args) == 0 {
			return badUsage("name files to upload, or a directory with -dir")
		}
		if *maxMB < 0 {
			return badUsage("-maxMB must not be negative")
		}
		cl, err := client.New(*masterAddr, client.WithSecret(*secret))
		if err != nil {
			return err
		}
		opts := client.UploadOptions{
			Collection: *collection, Replication: *replication, TTL: *ttl, DataCenter: *dataCenter,
			MaxMB: *maxMB, Progress: progressLine(),
		}
		var files []client.UploadedFile
		if *dir != "" {
			files, err = cl.UploadDir(ctx, *dir, *include, opts)
			if err == nil && len(args) > 0 {
				var more []client.UploadedFile
				more, err = cl.UploadFiles(ctx, args, opts)
				files = append(files, more...)
			}
		} else {
			files, err = cl.UploadFiles(ctx, args, opts)
		}
		if stderrIsTerminal() {
			fmt.Fprint(os.Stderr, "\r\033[K")
		}
		if files == nil {
			files = []client.UploadedFile{}
		}
		out, _ := json.Marshal(files)
		fmt.Println(string(out))
		return err
	}
}

// progressLine returns a progress callback that rewrites one stderr line at
// most a few times a second, and only for uploads long enough to need it
// and only when stderr is a terminal; otherwise nil.
func progressLine() func(client.Progress) {
	if !stderrIsTerminal() {
		return nil
	}
	start := time.Now()
	var last time.Time
	return func(p client.Progress) {
		now := time.Now()
		if now.Sub(start) < time.Second || now.Sub(last) < 200*time.Millisecond {
			return
		}
		last = now
		fmt.Fprintf(os.Stderr, "\r\033[K%d/%d files, %s/%s", p.FilesDone, p.Files, humanBytes(p.Bytes), humanBytes(p.TotalBytes))
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// stderrIsTerminal reports whether standard error is a character device (a
// terminal), where a line rewritten with "\r" makes sense.
func stderrIsTerminal() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
