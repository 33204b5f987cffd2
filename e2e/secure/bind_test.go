package secure

import (
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/weedfs/weed/testcluster"
)

// otherLoopback is an address of this machine other than 127.0.0.1: on
// Linux all of 127.0.0.0/8 reaches the loopback interface, so a listener on
// every interface answers there and one bound to 127.0.0.1 does not.
const otherLoopback = "127.0.0.2"

// answers reports whether a TCP connection to host:port is accepted.
func answers(host string, port int) bool {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), 2*time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// TestBindIP: -ip.bind=127.0.0.1 makes weed master, volume, filer and every
// part of weed server listen on 127.0.0.1 only (they still work there),
// while without it they listen on every interface.
func TestBindIP(t *testing.T) {
	t.Parallel()
	c := testcluster.New(t)
	bound := []string{"-ip.bind=127.0.0.1"}

	open := c.StartMaster(testcluster.MasterOptions{})
	if !answers(otherLoopback, open.Port) {
		t.Skipf("a master on every interface does not answer on %s: no second loopback address here", otherLoopback)
	}
	m := c.StartMaster(testcluster.MasterOptions{Extra: bound})
	v := c.StartVolume(testcluster.VolumeOptions{Masters: m.Addr(), Extra: bound})
	// The filer's -ip also binds; -ip= leaves only -ip.bind to do it.
	f := c.StartFiler(testcluster.FilerOptions{Master: m.Addr(), Extra: []string{"-ip=", "-ip.bind=127.0.0.1"}})
	openFiler := c.StartFiler(testcluster.FilerOptions{Master: m.Addr(), Extra: []string{"-ip="}})
	c.WaitForNodes(m, 1)
	t.Cleanup(func() { stopAndCheck(t, v) })
	s := c.StartServer(testcluster.ServerOptions{Filer: true, Extra: bound})

	for _, p := range []struct {
		name string
		port int
	}{
		{"master", m.Port}, {"volume server", v.Port}, {"filer", f.Port},
		{"weed server's master", s.Port}, {"weed server's volume server", s.VolumePort}, {"weed server's filer", s.FilerPort},
	} {
		if !answers("127.0.0.1", p.port) {
			t.Errorf("%s with -ip.bind=127.0.0.1 does not answer on 127.0.0.1:%d", p.name, p.port)
		}
		if answers(otherLoopback, p.port) {
			t.Errorf("%s with -ip.bind=127.0.0.1 answers on %s:%d", p.name, otherLoopback, p.port)
		}
	}
	if !answers(otherLoopback, openFiler.Port) {
		t.Errorf("a filer without -ip and -ip.bind does not answer on %s", otherLoopback)
	}

	// The bound cluster works: a write through weed server's master (its
	// volume server found it on 127.0.0.1) and one through the filer.
	sub := testcluster.PostFile(t, s.URL("/submit"), "bound.txt", []byte("bound"), nil)
	if sub.Status != http.StatusCreated {
		t.Fatalf("submit to weed server -ip.bind=127.0.0.1: %v", sub)
	}
	if r := testcluster.PostFile(t, f.URL("/b/"), "bound.txt", []byte("bound"), nil); r.Status != http.StatusCreated {
		t.Fatalf("filer write: %v", r)
	}
	if r := testcluster.Get(t, f.URL("/b/bound.txt")); r.Status != http.StatusOK || string(r.Body) != "bound" {
		t.Fatalf("filer read: %v", r)
	}
}
