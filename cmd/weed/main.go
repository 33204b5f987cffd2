// Command weed is the single binary of the weed blob store: masters, volume
// servers, the filer and the tools users run against them. Global glog
// flags come before the subcommand: `weed -v=3 master -port=9333`.
//
// This package only parses flags and wires constructors together; the
// behaviour lives in the master, volume, filer, client and benchmark
// packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/gcfloor"
)

// command is one `weed <name>` subcommand.
type command struct {
	name  string
	args  string // what follows the flags in the usage line
	short string
	long  string
	flags *flag.FlagSet
	run   func(ctx context.Context, args []string) error
	// server marks the long-running servers, which get the garbage
	// collector's heap floor (internal/gcfloor).
	server bool
	// hidden keeps the command out of `weed help` (benchmarking aids); it
	// still runs and `weed help <name>` still shows its flags.
	hidden bool
}

var commands = map[string]*command{}

func register(c *command) *command {
	c.flags = flag.NewFlagSet(c.name, flag.ExitOnError)
	c.flags.Usage = func() { c.usage(os.Stderr) }
	commands[c.name] = c
	return c
}

func (c *command) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: weed %s [flags] %s\n\n", c.name, c.args)
	if c.long != "" {
		fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(c.long))
	} else {
		fmt.Fprintf(w, "%s\n\n", c.short)
	}
	fmt.Fprintln(w, "Flags:")
	c.flags.SetOutput(w)
	c.flags.PrintDefaults()
}

func usage() {
	w := os.Stderr
	fmt.Fprintln(w, "weed: a Haystack-style distributed blob store, compatible with weed-fs 0.70")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: weed [glog flags] <command> [flags] [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, n := range names {
		fmt.Fprintf(tw, "  %s\t%s\n", n, commands[n].short)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Use "weed help <command>" for a command's flags.`)
	fmt.Fprintln(w, "glog flags: -v=N -logtostderr -alsologtostderr -log_dir=DIR")
	fmt.Fprintln(w, "profiling flags (off by default): -cpuprofile=FILE -memprofile=FILE -pprof=HOST:PORT")
}

func main() {
	flag.Usage = usage
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		usage()
		os.Exit(2)
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				c.usage(os.Stdout)
				return
			}
		}
		usage()
		return
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "weed: unknown command %q\n\n", args[0])
		usage()
		os.Exit(2)
	}
	_ = c.flags.Parse(args[1:]) // ExitOnError: a bad flag prints usage and exits 2
	if f := c.flags.Lookup("debug"); f != nil && f.Value.String() == "true" {
		// weed-fs 0.70's -debug: verbose logging, on the terminal.
		_ = flag.Set("v", "4")
		_ = flag.Set("alsologtostderr", "true")
	}
	stopProfiling, err := startProfiling()
	if err != nil {
		fmt.Fprintf(os.Stderr, "weed: %v\n", err)
		os.Exit(2)
	}
	if c.server {
		gcfloor.Start(gcfloor.DefaultFloor)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err = c.run(ctx, c.flags.Args())
	stop()
	stopProfiling()
	glog.Flush()
	if err != nil {
		msg := destutter(err.Error())
		var ue usageError
		if errors.As(err, &ue) {
			if ue.refused {
				fmt.Fprintf(os.Stderr, "weed %s: %s\n", c.name, msg)
				os.Exit(2)
			}
			fmt.Fprintf(os.Stderr, "weed %s: %s\n\n", c.name, msg)
			c.usage(os.Stderr)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "weed %s: %s\n", c.name, msg)
		os.Exit(1)
	}
}

// usageError is a bad flag value or argument: weed prints the command's
// usage and exits 2, like a flag the parser rejected. A refused one (a
// flag weed accepts but cannot honour) prints its one line without the
// usage.
type usageError struct {
	msg     string
	refused bool
}

func (e usageError) Error() string { return e.msg }

func badUsage(format string, a ...any) error { return usageError{msg: fmt.Sprintf(format, a...)} }

// refuse is a usage error for a flag that parses but cannot be honoured
// here: one line, exit 2.
func refuse(format string, a ...any) error {
	return usageError{msg: fmt.Sprintf(format, a...), refused: true}
}

// destutter drops the "weed: " prefixes the packages put on their errors,
// which nest ("weed: download x: weed: lookup: ..."): the command's own
// "weed <command>: " prefix says it once.
func destutter(msg string) string {
	return strings.ReplaceAll(strings.TrimPrefix(msg, "weed: "), ": weed: ", ": ")
}
