package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	rpprof "runtime/pprof"

	"github.com/golang/glog"
)

// Profiling flags, global like glog's (`weed -cpuprofile=m.prof master ...`).
// All are off by default.
var (
	cpuProfile = flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memProfile = flag.String("memprofile", "", "write an allocation profile to this file when the command ends")
	pprofAddr  = flag.String("pprof", "", "serve net/http/pprof on this address (host:port), on a listener of its own")
)

// startProfiling starts what the profiling flags ask for and returns the
// function that stops it and writes the profiles, to run when the command
// ends.
func startProfiling() (stop func(), err error) {
	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if *memProfile != "" {
		// Sample every allocation's size closely enough for alloc_space.
		runtime.MemProfileRate = 64 << 10
		path := *memProfile
		stops = append(stops, func() {
			if err := writeHeapProfile(path); err != nil {
				glog.Errorf("%v", err)
			}
		})
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			stopAll()
			return nil, fmt.Errorf("-cpuprofile: %w", err)
		}
		if err := rpprof.StartCPUProfile(f); err != nil {
			f.Close()
			stopAll()
			return nil, fmt.Errorf("-cpuprofile: %w", err)
		}
		stops = append(stops, func() {
			rpprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				glog.Errorf("-cpuprofile: %v", err)
			}
		})
	}
	if *pprofAddr != "" {
		ln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			stopAll()
			return nil, fmt.Errorf("-pprof: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		srv := &http.Server{Handler: mux}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				glog.Errorf("-pprof: %v", err)
			}
		}()
		glog.Infof("pprof on http://%s/debug/pprof/", ln.Addr())
		stops = append(stops, func() { _ = srv.Close() })
	}
	return stopAll, nil
}

// writeHeapProfile writes the allocation profile (alloc_space and
// inuse_space samples) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("-memprofile: %w", err)
	}
	runtime.GC() // up-to-date in-use figures
	if err := rpprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("-memprofile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("-memprofile: %w", err)
	}
	return nil
}
