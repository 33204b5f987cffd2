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
	c.run = func(ctx context.Context, args []string) error {
		if len(args) == 0 {
			return badUsage("name the fids to download")
		}
		cl, err := client.New(*server)
		if err != nil {
			return err
		}
		var firstErr error
		for _, fid := range args {
			path, err := cl.Download(ctx, fid, *dir)
			if err != nil {
				err = fmt.Errorf("%s: %w", fid, err)
				if firstErr == nil {
					firstErr = err
				}
				fmt.Println(err)
				continue
			}
			fmt.Printf("%s -> %s\n", fid, path)
		}
		return firstErr
	}
}
