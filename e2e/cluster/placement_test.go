package cluster

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/weedfs/weed/testcluster"
)

// TestEveryReplicationString grows one volume of every replication string
// on a topology that allows them all, and checks through /vol/status that
// its copies sit where xyz says: x copies in other data centers, y in other
// racks of the main data center, z on other nodes of the main rack, all on
// distinct nodes. A file submitted to each then reads from every copy.
//
//	dc1: rack1 {a, b, c}, rack2 {d}, rack3 {e}
//	dc2: rack1 {f}
//	dc3: rack1 {g}
func TestEveryReplicationString(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	m := c.master(testcluster.MasterOptions{DefaultReplication: "000"})
	layout := []struct{ dc, rack string }{
		{"dc1", "rack1"}, {"dc1", "rack1"}, {"dc1", "rack1"}, {"dc1", "rack2"}, {"dc1", "rack3"},
		{"dc2", "rack1"}, {"dc3", "rack1"},
	}
	vols := make([]*testcluster.Process, len(layout))
	byAddr := map[string]*testcluster.Process{}
	for i, l := range layout {
		vols[i] = c.volume(testcluster.VolumeOptions{Masters: m.Addr(), DataCenter: l.dc, Rack: l.rack, Max: 10})
		byAddr[vols[i].Addr()] = vols[i]
	}
	c.WaitForNodesOf(m, vols...)

	for _, xyz := range []string{"000", "001", "002", "010", "011", "020", "100", "101", "110", "200"} {
		x, y, z := int(xyz[0]-'0'), int(xyz[1]-'0'), int(xyz[2]-'0')
		col := "r" + xyz
		// $ curl "http://localhost:9333/vol/grow?replication=xyz&count=1&collection=rxyz"
		r := testcluster.Get(t, m.URL("/vol/grow?count=1&replication="+xyz+"&collection="+col))
		if r.Status != http.StatusOK || r.Text() != `{"count":1}` {
			t.Fatalf("grow %s: %s, want 200 {\"count\":1}", xyz, r)
		}
		var copies []string
		testcluster.Eventually(testcluster.Settle, func() bool {
			p := volumePlacement(t, m, col)
			if len(p) != 1 {
				return false
			}
			for _, locs := range p {
				copies = locs
			}
			return len(copies) == x+y+z+1
		})
		if err := checkPlacement(copies, x, y, z); err != nil {
			t.Errorf("replication %s: copies on %q: %v", xyz, copies, err)
			continue
		}

		s := submit(t, m, "collection="+col+"&replication="+xyz, "r"+xyz+".txt", []byte("placed "+xyz+"\n"))
		for _, loc := range copies {
			v := byAddr[loc[strings.LastIndex(loc, "/")+1:]]
			if r := testcluster.Get(t, v.URL("/"+s.Fid)); r.Status != http.StatusOK || r.Text() != "placed "+xyz {
				t.Errorf("replication %s: GET %s from %s: %s", xyz, s.Fid, v.Name, r)
			}
		}
	}
}

// checkPlacement checks copies ("dc/rack/node" each) against xyz.
func checkPlacement(copies []string, x, y, z int) error {
	if len(copies) != x+y+z+1 {
		return fmt.Errorf("%d copies, want %d", len(copies), x+y+z+1)
	}
	nodes := map[string]bool{}
	perDC := map[string][]string{}
	for _, c := range copies {
		parts := strings.Split(c, "/")
		if nodes[parts[2]] {
			return fmt.Errorf("two copies on node %s", parts[2])
		}
		nodes[parts[2]] = true
		perDC[parts[0]] = append(perDC[parts[0]], parts[1])
	}
	if len(perDC) != x+1 {
		return fmt.Errorf("copies in %d data centers, want %d", len(perDC), x+1)
	}
	// The main data center holds 1+y+z copies; every other holds one.
	var main []string
	for dc, racks := range perDC {
		switch {
		case len(racks) == 1+y+z && main == nil:
			main = racks
		case len(racks) != 1:
			return fmt.Errorf("%d copies in %s", len(racks), dc)
		}
	}
	if main == nil {
		return fmt.Errorf("no data center holds %d copies", 1+y+z)
	}
	perRack := map[string]int{}
	for _, r := range main {
		perRack[r]++
	}
	if len(perRack) != y+1 {
		return fmt.Errorf("main data center uses %d racks, want %d", len(perRack), y+1)
	}
	mainRack := false
	for rack, n := range perRack {
		switch {
		case n == 1+z && !mainRack:
			mainRack = true
		case n != 1:
			return fmt.Errorf("%d copies in rack %s", n, rack)
		}
	}
	if !mainRack {
		return fmt.Errorf("no rack holds %d copies", 1+z)
	}
	return nil
}

// TestCheckPlacement makes sure the placement checker above refuses what
// it must, so that TestEveryReplicationString cannot pass vacuously.
func TestCheckPlacement(t *testing.T) {
	for _, tc := range []struct {
		xyz    string
		copies []string
		ok     bool
	}{
		{"000", []string{"dc1/r1/a"}, true},
		{"001", []string{"dc1/r1/a", "dc1/r1/b"}, true},
		{"001", []string{"dc1/r1/a", "dc1/r2/b"}, false},
		{"001", []string{"dc1/r1/a", "dc1/r1/a"}, false},
		{"010", []string{"dc1/r1/a", "dc1/r2/d"}, true},
		{"010", []string{"dc1/r1/a", "dc2/r1/f"}, false},
		{"011", []string{"dc1/r1/a", "dc1/r1/b", "dc1/r2/d"}, true},
		{"011", []string{"dc1/r1/a", "dc1/r2/d", "dc1/r3/e"}, false},
		{"100", []string{"dc1/r1/a", "dc2/r1/f"}, true},
		{"100", []string{"dc1/r1/a", "dc1/r1/b"}, false},
		{"110", []string{"dc1/r1/a", "dc1/r2/d", "dc2/r1/f"}, true},
		{"110", []string{"dc1/r1/a", "dc1/r1/b", "dc2/r1/f"}, false},
		{"200", []string{"dc1/r1/a", "dc2/r1/f", "dc3/r1/g"}, true},
		{"200", []string{"dc1/r1/a", "dc2/r1/f"}, false},
		{"020", []string{"dc1/r1/a", "dc1/r2/d", "dc1/r3/e"}, true},
		{"002", []string{"dc1/r1/a", "dc1/r1/b", "dc1/r1/c"}, true},
		{"101", []string{"dc1/r1/a", "dc1/r1/b", "dc2/r1/f"}, true},
		{"101", []string{"dc1/r1/a", "dc2/r1/f", "dc2/r1/g"}, true},
		{"101", []string{"dc1/r1/a", "dc2/r1/f", "dc3/r1/g"}, false},
	} {
		x, y, z := int(tc.xyz[0]-'0'), int(tc.xyz[1]-'0'), int(tc.xyz[2]-'0')
		if err := checkPlacement(tc.copies, x, y, z); (err == nil) != tc.ok {
			t.Errorf("checkPlacement(%q, %s) = %v, want ok=%v", tc.copies, tc.xyz, err, tc.ok)
		}
	}
}
