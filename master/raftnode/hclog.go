package raftnode

import (
	"strings"

	"github.com/golang/glog"
	"github.com/hashicorp/go-hclog"
)

// glogWriter receives hclog's formatted lines and logs them through glog:
// errors and warnings always, info at -v=1, debug at -v=2, trace at -v=3.
type glogWriter struct{}

func (glogWriter) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	switch {
	case strings.HasPrefix(line, "[ERROR]"):
		glog.Error(line)
	case strings.HasPrefix(line, "[WARN]"):
		glog.Warning(line)
	case strings.HasPrefix(line, "[INFO]"):
		if glog.V(1) {
			glog.Info(line)
		}
	case strings.HasPrefix(line, "[DEBUG]"):
		if glog.V(2) {
			glog.Info(line)
		}
	default:
		if glog.V(3) {
			glog.Info(line)
		}
	}
	return len(p), nil
}

// newGlogHclog returns an hclog.Logger for raft that writes through glog,
// at the most verbose level glog's -v currently lets through.
func newGlogHclog(name string) hclog.Logger {
	level := hclog.Warn
	switch {
	case bool(glog.V(3)):
		level = hclog.Trace
	case bool(glog.V(2)):
		level = hclog.Debug
	case bool(glog.V(1)):
		level = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:        name,
		Level:       level,
		Output:      glogWriter{},
		DisableTime: true,
	})
}
