package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/weedfs/weed/internal/version"
)

func init() {
	register(&command{
		name:  "version",
		short: "print the weed version",
		run: func(ctx context.Context, args []string) error {
			fmt.Printf("weed version %s %s %s\n", version.Version, runtime.GOOS, runtime.GOARCH)
			return nil
		},
	})
}
