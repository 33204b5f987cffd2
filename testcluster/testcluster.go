// Package testcluster runs real weed processes (masters, volume servers,
// filers) on 127.0.0.1 for end-to-end tests, the way users run them: it
// builds the weed binary once, starts each daemon with free ports and its own
// data directory, waits until it answers HTTP, and can stop, kill -9 and
// restart it. Logs of every process are kept in the cluster's directory and
// printed when a test fails.
//
//	c := testcluster.New(t)
//	m := c.StartMaster(testcluster.MasterOptions{DefaultReplication: "001"})
//	v1 := c.StartVolume(testcluster.VolumeOptions{Masters: m.Addr()})
//	v1.Kill()
//	v1.Start()
package testcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weedfs/weed/wire"
)

// StartTimeout bounds how long a daemon may take to answer HTTP after start.
const StartTimeout = 30 * time.Second

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary returns the weed binary the cluster runs: $WEED_BINARY when set
// (make test sets it), otherwise ./cmd/weed built once per test process.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("WEED_BINARY"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("WEED_BINARY=%s: %v", p, err)
		}
		return p
	}
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "weed-testbin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "weed")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/weed")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/weed: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the weed module")
	}
	return filepath.Dir(mod), nil
}

var (
	portMu    sync.Mutex
	usedPorts = map[int]bool{}
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// that this test process has not handed out before.
func FreePort(t testing.TB) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !usedPorts[port] {
			usedPorts[port] = true
			return port
		}
	}
	t.Fatal("no free port found")
	return 0
}

// Cluster is a set of weed processes belonging to one test.
type Cluster struct {
	t   testing.TB
	bin string
	// Dir holds every process's data directory and log file.
	Dir string

	mu    sync.Mutex
	procs []*Process
	seq   int
}

// New returns an empty cluster whose processes are all killed when the test
// ends; if the test failed, the tail of every process's log is printed.
func New(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{t: t, bin: Binary(t), Dir: t.TempDir()}
	t.Cleanup(func() {
		c.mu.Lock()
		procs := append([]*Process(nil), c.procs...)
		c.mu.Unlock()
		for _, p := range procs {
			p.Kill()
		}
		if t.Failed() {
			for _, p := range procs {
				t.Logf("==== log of %s (%s) ====\n%s", p.Name, strings.Join(p.Args, " "), tail(p.Log(), 60))
			}
		}
	})
	return c
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// Process is one weed daemon of a cluster.
type Process struct {
	c *Cluster
	// Name is a short label such as "master1" or "volume2".
	Name string
	// Port is the daemon's HTTP port.
	Port int
	// Dir is the daemon's data directory (-dir or -mdir).
	Dir string
	// Args are the weed arguments, glog flags first.
	Args []string
	// Wrap, when set, is a command the binary runs under, such as
	// {"prlimit", "--nofile=256:256", "--"}: Wrap[0] is started with the
	// rest of Wrap, the binary and Args as its arguments.
	Wrap      []string
	readyPath string
	logPath   string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Addr returns "127.0.0.1:port".
func (p *Process) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.Port) }

// URL returns "http://127.0.0.1:port" + path.
func (p *Process) URL(path string) string { return "http://" + p.Addr() + path }

// Log returns everything the process has logged so far, across restarts.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// Running reports whether the process is started and has not exited.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Start starts (or restarts) the process with its arguments and waits until
// it answers HTTP.
func (p *Process) Start() {
	p.c.t.Helper()
	p.StartNoWait()
	p.WaitReady()
}

// StartNoWait starts the process without waiting for it to answer.
func (p *Process) StartNoWait() {
	t := p.c.t
	t.Helper()
	if p.Running() {
		t.Fatalf("%s already running", p.Name)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	fmt.Fprintf(logf, "==== start %s %s ====\n", time.Now().Format(time.RFC3339Nano), strings.Join(p.Args, " "))
	cmd := exec.Command(p.c.bin, p.Args...)
	if len(p.Wrap) > 0 {
		cmd = exec.Command(p.Wrap[0], append(append(p.Wrap[1:len(p.Wrap):len(p.Wrap)], p.c.bin), p.Args...)...)
	}
	cmd.Dir = p.c.Dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", p.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
}

// WaitReady waits until the process answers its readiness URL with 200.
func (p *Process) WaitReady() {
	t := p.c.t
	t.Helper()
	deadline := time.Now().Add(StartTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		if !p.Running() {
			t.Fatalf("%s exited during start:\n%s", p.Name, tail(p.Log(), 40))
		}
		resp, err := client.Get(p.URL(p.readyPath))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %s within %v:\n%s", p.Name, p.readyPath, StartTimeout, tail(p.Log(), 40))
}

// Kill sends SIGKILL (kill -9) and waits for the process to exit.
func (p *Process) Kill() { p.signal(syscall.SIGKILL, 5*time.Second) }

// Stop sends SIGTERM and waits up to 15 s for a clean exit, then kills.
func (p *Process) Stop() {
	if !p.signal(syscall.SIGTERM, 15*time.Second) {
		p.c.t.Errorf("%s did not exit within 15s of SIGTERM; killed", p.Name)
		p.Kill()
	}
}

// Pause stops the process with SIGSTOP (it keeps its sockets but answers
// nothing) and returns once the kernel reports it stopped (kill returns
// before every thread of a busy process has stopped: a request may still be
// served meanwhile); Resume continues it.
func (p *Process) Pause() {
	p.sendOnly(syscall.SIGSTOP)
	p.waitStopped(5 * time.Second)
}

// waitStopped polls /proc until the process is in the stopped state, at
// most timeout (it returns at once where /proc is missing).
func (p *Process) waitStopped(timeout time.Duration) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	stat := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/stat"
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(stat)
		if err != nil {
			return
		}
		// The state is the field after the command name in parentheses.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return
		}
		if time.Now().After(deadline) {
			p.c.t.Logf("%s: not stopped %v after SIGSTOP", p.Name, timeout)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Resume continues a paused process.
func (p *Process) Resume() { p.sendOnly(syscall.SIGCONT) }

func (p *Process) sendOnly(sig syscall.Signal) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(sig)
	}
}

// signal sends sig and waits up to wait for the exit; it reports whether the
// process is gone.
func (p *Process) signal(sig syscall.Signal, wait time.Duration) bool {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return true
	}
	select {
	case <-exited:
		return true
	default:
	}
	if sig == syscall.SIGKILL {
		_ = cmd.Process.Signal(syscall.SIGCONT)
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		return true
	case <-time.After(wait):
		return false
	}
}

// PID returns the process id of the last start, 0 before any.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// ExitCode returns the exit code of the last run, or -1 while it runs.
func (p *Process) ExitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// newProcess prepares a process of kind answering readyPath once up, on
// *port (a free port, stored there, when it is 0), in dir (a fresh
// directory when empty). Its arguments are the glog flags so far.
func (c *Cluster) newProcess(kind string, port *int, dir, readyPath string) *Process {
	if *port == 0 {
		*port = FreePort(c.t)
	}
	c.mu.Lock()
	c.seq++
	name := fmt.Sprintf("%s%d", kind, c.seq)
	c.mu.Unlock()
	if dir == "" {
		dir = filepath.Join(c.Dir, name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Fatalf("mkdir %s: %v", dir, err)
	}
	p := &Process{
		c: c, Name: name, Port: *port, Dir: dir,
		readyPath: readyPath,
		logPath:   filepath.Join(c.Dir, name+".log"),
	}
	p.Args = []string{"-logtostderr", "-v=" + verbosity()}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p
}

// appendFlags appends "-name=value" to args for every name, value pair of
// flags whose value is not empty.
func appendFlags(args []string, flags ...string) []string {
	for i := 0; i+1 < len(flags); i += 2 {
		if flags[i+1] != "" {
			args = append(args, "-"+flags[i]+"="+flags[i+1])
		}
	}
	return args
}

// positive formats n, or returns "" when n is not above zero (a flag left
// to its default).
func positive(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func verbosity() string {
	if v := os.Getenv("WEED_TEST_V"); v != "" {
		return v
	}
	return "1"
}

// MasterOptions configures StartMaster. Zero values take test-friendly
// defaults: a free port, -pulseSeconds=1.
type MasterOptions struct {
	Port               int
	Peers              []string // the -peers list (HTTP addresses); nil for a one-node group
	DefaultReplication string
	PulseSeconds       int
	VolumeSizeLimitMB  int
	Dir                string // -mdir; default a fresh directory
	Extra              []string
}

// StartMaster starts `weed master` and waits until it answers /cluster/status.
func (c *Cluster) StartMaster(o MasterOptions) *Process {
	c.t.Helper()
	p := c.NewMaster(o)
	p.Start()
	return p
}

// NewMaster prepares a master without starting it.
func (c *Cluster) NewMaster(o MasterOptions) *Process {
	c.t.Helper()
	if o.PulseSeconds == 0 {
		o.PulseSeconds = 1
	}
	p := c.newProcess("master", &o.Port, o.Dir, "/cluster/status")
	args := []string{"master", "-ip=127.0.0.1", "-port=" + strconv.Itoa(o.Port), "-mdir=" + p.Dir,
		"-pulseSeconds=" + strconv.Itoa(o.PulseSeconds)}
	args = appendFlags(args,
		"peers", strings.Join(o.Peers, ","),
		"defaultReplication", o.DefaultReplication,
		"volumeSizeLimitMB", positive(o.VolumeSizeLimitMB))
	p.Args = append(p.Args, append(args, o.Extra...)...)
	return p
}

// StartMasters starts n masters forming one Raft group (each given the same
// -peers list) and waits until they agree on a leader.
func (c *Cluster) StartMasters(n int, o MasterOptions) []*Process {
	c.t.Helper()
	ports := make([]int, n)
	peers := make([]string, n)
	for i := range ports {
		ports[i] = FreePort(c.t)
		peers[i] = "127.0.0.1:" + strconv.Itoa(ports[i])
	}
	ms := make([]*Process, n)
	for i := range ms {
		oi := o
		oi.Port, oi.Peers, oi.Dir = ports[i], peers, ""
		ms[i] = c.NewMaster(oi)
		ms[i].StartNoWait()
	}
	for _, m := range ms {
		m.WaitReady()
	}
	c.WaitForLeader(ms, StartTimeout)
	return ms
}

// ClusterStatus is the master's /cluster/status reply.
type ClusterStatus struct {
	IsLeader bool
	Leader   string
	Peers    []string
}

// Status fetches a master's /cluster/status.
func (p *Process) Status() (ClusterStatus, error) {
	var st ClusterStatus
	err := p.GetJSON("/cluster/status", &st)
	return st, err
}

// GetJSON GETs path from the process and decodes a 200 JSON reply into v.
func (p *Process) GetJSON(path string, v any) error {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(p.URL(path))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", p.URL(path), resp.Status, body)
	}
	return json.NewDecoder(bytes.NewReader(body)).Decode(v)
}

// WaitForLeader waits until every running master of ms reports the same
// leader, which is itself one of the running masters, and returns it.
func (c *Cluster) WaitForLeader(ms []*Process, timeout time.Duration) *Process {
	c.t.Helper()
	var leader *Process
	ok := Eventually(timeout, func() bool {
		leader = nil
		agreed := ""
		for _, m := range ms {
			if !m.Running() {
				continue
			}
			st, err := m.Status()
			if err != nil || st.Leader == "" {
				return false
			}
			if agreed != "" && st.Leader != agreed {
				return false
			}
			agreed = st.Leader
			if st.IsLeader {
				leader = m
			}
		}
		return leader != nil && leader.Addr() == agreed
	})
	if !ok {
		c.t.Fatalf("masters did not agree on a leader within %v", timeout)
	}
	return leader
}

// VolumeOptions configures StartVolume. Zero values take test-friendly
// defaults: a free port, -max=7, -pulseSeconds=1.
type VolumeOptions struct {
	Port         int
	Masters      string // -mserver, comma separated
	DataCenter   string
	Rack         string
	Max          int
	PulseSeconds int
	Dir          string // -dir; default a fresh directory
	Extra        []string
}

// StartVolume starts `weed volume` and waits until it answers /status.
func (c *Cluster) StartVolume(o VolumeOptions) *Process {
	c.t.Helper()
	p := c.NewVolume(o)
	p.Start()
	return p
}

// NewVolume prepares a volume server without starting it.
func (c *Cluster) NewVolume(o VolumeOptions) *Process {
	c.t.Helper()
	if o.PulseSeconds == 0 {
		o.PulseSeconds = 1
	}
	if o.Max == 0 {
		o.Max = 7
	}
	p := c.newProcess("volume", &o.Port, o.Dir, "/status")
	args := []string{"volume", "-ip=127.0.0.1", "-port=" + strconv.Itoa(o.Port), "-dir=" + p.Dir,
		"-max=" + strconv.Itoa(o.Max), "-mserver=" + o.Masters, "-pulseSeconds=" + strconv.Itoa(o.PulseSeconds)}
	args = appendFlags(args, "dataCenter", o.DataCenter, "rack", o.Rack)
	p.Args = append(p.Args, append(args, o.Extra...)...)
	return p
}

// FilerOptions configures StartFiler.
type FilerOptions struct {
	Port        int
	Master      string
	Dir         string
	Replication string // -defaultReplicaPlacement
	RedisServer string // -redis.server; empty for the bolt store
	MaxMB       int
	Extra       []string
}

// StartFiler starts `weed filer` and waits until it answers.
func (c *Cluster) StartFiler(o FilerOptions) *Process {
	c.t.Helper()
	p := c.NewFiler(o)
	p.Start()
	return p
}

// NewFiler prepares a filer without starting it.
func (c *Cluster) NewFiler(o FilerOptions) *Process {
	c.t.Helper()
	p := c.newProcess("filer", &o.Port, o.Dir, "/?pretty=y")
	args := []string{"filer", "-ip=127.0.0.1", "-port=" + strconv.Itoa(o.Port), "-dir=" + p.Dir, "-master=" + o.Master}
	args = appendFlags(args,
		"defaultReplicaPlacement", o.Replication,
		"redis.server", o.RedisServer,
		"maxMB", positive(o.MaxMB))
	p.Args = append(p.Args, append(args, o.Extra...)...)
	return p
}

// Run runs a one-shot weed command (upload, download, benchmark, fix,
// export, backup, filer.copy...) in dir and returns its combined output.
func (c *Cluster) Run(ctx context.Context, dir string, args ...string) (string, error) {
	if dir == "" {
		dir = c.Dir
	}
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Eventually polls cond every 50 ms until it returns true or timeout passes,
// and reports whether it did.
func Eventually(timeout time.Duration, cond func() bool) bool {
	return Poll(timeout, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	}) == nil
}

// errNotYet is the state Eventually's conditions report while false.
var errNotYet = errors.New("not yet")

// Poll calls cond every 50 ms until it returns nil or timeout passes. It
// returns nil, or cond's last error (the last state the test saw) wrapped
// with the time waited, for the test's failure message:
//
//	if err := testcluster.Poll(testcluster.Settle, func() error { ... }); err != nil {
//		t.Fatalf("replicas never agreed: %v", err)
//	}
func Poll(timeout time.Duration, cond func() error) error {
	start := time.Now()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Since(start) > timeout {
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// DirStatus is the part of a master's /dir/status reply tests look at.
type DirStatus struct {
	Topology struct {
		DataCenters []struct {
			Id    string
			Racks []struct {
				Id        string
				DataNodes []struct {
					Url       string
					PublicUrl string
					Volumes   int
					Free      int
					Max       int
				}
			}
		}
		Free    int
		Max     int
		Layouts []struct {
			Collection  string `json:"collection"`
			Replication string `json:"replication"`
			TTL         string `json:"ttl"`
			Writables   []int  `json:"writables"`
		} `json:"layouts"`
	}
	Version string
}

// NodeCount returns the number of data nodes in the status.
func (s DirStatus) NodeCount() int {
	n := 0
	for _, dc := range s.Topology.DataCenters {
		for _, r := range dc.Racks {
			n += len(r.DataNodes)
		}
	}
	return n
}

// VolStatus is a master's /vol/status reply: every volume replica, by data
// center, rack and data node.
type VolStatus struct {
	Version string
	Volumes struct {
		DataCenters map[string]map[string]map[string][]wire.VolumeInfo
		Free, Max   int
	}
}

// DirLookup is a master's /dir/lookup reply; Error is set on a failure.
type DirLookup struct {
	VolumeID  string `json:"volumeId"`
	Locations []struct {
		URL       string `json:"url"`
		PublicURL string `json:"publicUrl"`
	} `json:"locations"`
	Error string `json:"error"`
	// Reply is the whole exchange (Lookup sets it).
	Reply Reply `json:"-"`
}

// NodeURLs returns the Url of every data node in the status, sorted.
func (s DirStatus) NodeURLs() []string {
	var urls []string
	for _, dc := range s.Topology.DataCenters {
		for _, r := range dc.Racks {
			for _, n := range r.DataNodes {
				urls = append(urls, n.Url)
			}
		}
	}
	slices.Sort(urls)
	return urls
}

// WaitForNodeCount waits until the /dir/status of the master at master
// lists n data nodes, and returns nil, or an error with the last count seen
// (-1: no answer) once timeout passes.
func WaitForNodeCount(master string, n int, timeout time.Duration) error {
	return Poll(timeout, func() error {
		st, err := ReadDirStatus(master)
		if err != nil {
			return fmt.Errorf("%s lists -1 data nodes, want %d: %w", master, n, err)
		}
		if got := st.NodeCount(); got != n {
			return fmt.Errorf("%s lists %d data nodes, want %d", master, got, n)
		}
		return nil
	})
}

// WaitForNodesOf waits until master's /dir/status lists exactly the data
// nodes of vols, by address, and fails the test when it does not within
// Settle.
func (c *Cluster) WaitForNodesOf(master *Process, vols ...*Process) {
	c.t.Helper()
	want := make([]string, len(vols))
	for i, v := range vols {
		want[i] = v.Addr()
	}
	slices.Sort(want)
	err := Poll(Settle, func() error {
		st, err := ReadDirStatus(master.Addr())
		if err != nil {
			return err
		}
		if got := st.NodeURLs(); !slices.Equal(got, want) {
			return fmt.Errorf("master lists data nodes %q, want %q", got, want)
		}
		return nil
	})
	if err != nil {
		c.t.Fatalf("%s: %v", master.Name, err)
	}
}

// WaitForNodes waits until master's /dir/status lists n data nodes.
func (c *Cluster) WaitForNodes(master *Process, n int) {
	c.t.Helper()
	if err := WaitForNodeCount(master.Addr(), n, StartTimeout); err != nil {
		c.t.Fatalf("master %s: %v", master.Name, err)
	}
}

// ServerOptions configures StartServer. Zero values take test-friendly
// defaults: free ports, -pulseSeconds=1, a fresh -dir.
type ServerOptions struct {
	MasterPort         int
	VolumePort         int
	FilerPort          int  // used with Filer only
	Filer              bool // -filer: also run a filer
	DefaultReplication string
	PulseSeconds       int
	Dir                string // -dir: volumes, master/ and filer/
	Extra              []string
}

// Server is a `weed server` process: a master, a volume server and
// optionally a filer in one process. Its Process's Port is the master's.
type Server struct {
	*Process
	// VolumePort and FilerPort are the volume server's and the filer's
	// ports (FilerPort is 0 without a filer).
	VolumePort, FilerPort int
}

// VolumeURL returns "http://127.0.0.1:volumePort" + path.
func (s *Server) VolumeURL(path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(s.VolumePort) + path
}

// FilerURL returns "http://127.0.0.1:filerPort" + path.
func (s *Server) FilerURL(path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(s.FilerPort) + path
}

// Start starts (or restarts) the process and waits until the master, the
// volume server and the filer all answer HTTP.
func (s *Server) Start() {
	s.c.t.Helper()
	s.StartNoWait()
	s.WaitReady()
	urls := []string{s.VolumeURL("/status")}
	if s.FilerPort != 0 {
		urls = append(urls, s.FilerURL("/?pretty=y"))
	}
	client := &http.Client{Timeout: 2 * time.Second}
	for _, u := range urls {
		ok := Eventually(StartTimeout, func() bool {
			resp, err := client.Get(u)
			if err != nil {
				return !s.Running()
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
		if !ok || !s.Running() {
			s.c.t.Fatalf("%s: %s did not answer within %v:\n%s", s.Name, u, StartTimeout, tail(s.Log(), 40))
		}
	}
}

// StartServer starts `weed server` on 127.0.0.1 and waits until each of its
// parts answers HTTP.
func (c *Cluster) StartServer(o ServerOptions) *Server {
	c.t.Helper()
	s := c.NewServer(o)
	s.Start()
	return s
}

// NewServer prepares a `weed server` process without starting it.
func (c *Cluster) NewServer(o ServerOptions) *Server {
	c.t.Helper()
	if o.VolumePort == 0 {
		o.VolumePort = FreePort(c.t)
	}
	if o.Filer && o.FilerPort == 0 {
		o.FilerPort = FreePort(c.t)
	}
	if !o.Filer {
		o.FilerPort = 0
	}
	if o.PulseSeconds == 0 {
		o.PulseSeconds = 1
	}
	p := c.newProcess("server", &o.MasterPort, o.Dir, "/cluster/status")
	args := []string{"server", "-ip=127.0.0.1", "-dir=" + p.Dir, "-pulseSeconds=" + strconv.Itoa(o.PulseSeconds),
		"-master.port=" + strconv.Itoa(o.MasterPort), "-volume.port=" + strconv.Itoa(o.VolumePort)}
	if o.Filer {
		args = append(args, "-filer", "-filer.port="+strconv.Itoa(o.FilerPort))
	}
	args = appendFlags(args, "master.defaultReplication", o.DefaultReplication)
	p.Args = append(p.Args, append(args, o.Extra...)...)
	return &Server{Process: p, VolumePort: o.VolumePort, FilerPort: o.FilerPort}
}
