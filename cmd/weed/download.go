package main

import (
	"context"
	"fmt"

	"github.com/weedfs/weed/client"
)

func init() {
	c := register(&command{
		name:  "download",
		args:  "fid1 [fid2 ...]",
		short: "download files by fid into a directory, named after their stored names",
	})
	server := c.flags.String("server", "localhost:9333", "master address (or a comma list)")
	dir := c.flags.String("dir", ".", "directory to save the files in")
	c.flags.StringVar(server, "master", "localhost:9333", "the same as -server")
	c.flags.Bool("debug", false, "verbose logging on standard error (glog -v=4)")
	c.run = func(ctx context.Context, args []string) error {
		if len(args) == 0 {
			return badUsage("name the fids to download")
		}
		cl, err := client.New(*server)
		if err != nil {
			return err
		}
		failed := 0
		for _, fid := range args {
			path, err := cl.Download(ctx, fid, *dir)
			if err != nil {
				failed++
				fmt.Println(destutter(fmt.Sprintf("%s: %v", fid, err)))
				continue
			}
			fmt.Printf("%s -> %s\n", fid, path)
		}
		if failed > 0 {
			return fmt.Errorf("%d of %d files not downloaded", failed, len(args))
		}
		return nil
	}
}
