package master

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"time"

	"github.com/golang/glog"

	"github.com/weedfs/weed/internal/httpx"
	"github.com/weedfs/weed/internal/version"
	"github.com/weedfs/weed/needle"
	"github.com/weedfs/weed/topology"
	"github.com/weedfs/weed/wire"
)

// Console paths: the page at / and consolePath, its JSON at
// consoleJSONPath, its stylesheet and script under consolePath+"static/".
const (
	consolePath     = "/ui/"
	consoleJSONPath = "/ui/cluster.json"
)

//go:embed console
var consoleFiles embed.FS

var consoleTemplate = template.Must(template.New("index.html").Funcs(template.FuncMap{
	"bytes": humanBytes,
	"sub":   func(a, b uint64) uint64 { return a - min(a, b) },
	"pct": func(part, whole uint64) int {
		if whole == 0 {
			return 0
		}
		return int(part * 100 / whole)
	},
}).ParseFS(consoleFiles, "console/index.html"))

// ConsoleView is what the console shows, and the JSON of /ui/cluster.json.
type ConsoleView struct {
	// Self is the master that built the view; Leader the leader
	// (empty while there is none); Term the Raft term (0 without Raft).
	Self     string `json:"self"`
	Leader   string `json:"leader"`
	IsLeader bool   `json:"isLeader"`
	Term     uint64 `json:"term"`
	// Members are the masters of the group, self included, sorted.
	Members []string `json:"members"`
	// ServedBy is the master that answered the page; Note says why the
	// view may be incomplete (a follower that could not reach the leader).
	ServedBy    string `json:"servedBy"`
	Note        string `json:"note,omitempty"`
	Version     string `json:"version"`
	Time        time.Time
	PulseMillis int64 `json:"pulseMillis"`
	// Free and Max are the cluster's volume slots.
	Free        int                 `json:"free"`
	Max         int                 `json:"max"`
	States      map[string]int      `json:"states"`
	DataCenters []ConsoleDataCenter `json:"dataCenters"`
	Collections []ConsoleCollection `json:"collections"`
	Repairs     []RepairStatus      `json:"repairs"`
}

// ConsoleDataCenter is one data center of the console.
type ConsoleDataCenter struct {
	ID    string        `json:"id"`
	Racks []ConsoleRack `json:"racks"`
}

// ConsoleRack is one rack of the console.
type ConsoleRack struct {
	ID    string        `json:"id"`
	Nodes []ConsoleNode `json:"nodes"`
}

// ConsoleNode is one volume server of the console.
type ConsoleNode struct {
	URL       string              `json:"url"`
	PublicURL string              `json:"publicUrl"`
	Max       int                 `json:"max"`
	Free      int                 `json:"free"`
	DiskFree  uint64              `json:"diskFree"`
	DiskTotal uint64              `json:"diskTotal"`
	Disks     []wire.DiskInfo     `json:"disks"`
	Volumes   []ConsoleVolumeCopy `json:"volumes"`
}

// ConsoleVolumeCopy is one replica drawn as a cell of its node.
type ConsoleVolumeCopy struct {
	ID          needle.VolumeID `json:"id"`
	Collection  string          `json:"collection"`
	Replication string          `json:"replication"`
	State       string          `json:"state"`
	Size        uint64          `json:"size"`
	Garbage     uint64          `json:"garbage"`
	Files       uint64          `json:"files"`
}

// ConsoleCollection sums one collection's volumes.
type ConsoleCollection struct {
	Name    string `json:"name"`
	Volumes int    `json:"volumes"`
	Size    uint64 `json:"size"`
	Files   uint64 `json:"files"`
}

// buildConsoleView builds the view from this master's own state.
func (s *Server) buildConsoleView() ConsoleView {
	v := ConsoleView{
		Self:        s.lead.Self(),
		Leader:      s.lead.Leader(),
		IsLeader:    s.lead.IsLeader(),
		Members:     append([]string{s.lead.Self()}, s.lead.Peers()...),
		Version:     version.Version,
		Time:        time.Now().UTC(),
		PulseMillis: s.pulse.Milliseconds(),
		States:      make(map[string]int, len(VolumeStates)),
		DataCenters: []ConsoleDataCenter{},
		Collections: []ConsoleCollection{},
		Repairs:     s.repair.inProgress(),
	}
	slices.Sort(v.Members)
	v.Members = slices.Compact(v.Members)
	if s.term != nil {
		v.Term = s.term.Term()
	}
	for _, st := range VolumeStates {
		v.States[st] = 0
	}
	snap := s.topo.Snapshot()
	vols := make(map[needle.VolumeID]topology.VolumeSnapshot, len(snap.Volumes))
	colls := make(map[string]*ConsoleCollection)
	for _, vs := range snap.Volumes {
		vols[vs.ID] = vs
		v.States[VolumeState(vs)]++
		c := colls[vs.Collection]
		if c == nil {
			c = &ConsoleCollection{Name: vs.Collection}
			colls[vs.Collection] = c
		}
		c.Volumes++
		c.Size += vs.Size
		c.Files += vs.Files
	}
	for _, c := range colls {
		v.Collections = append(v.Collections, *c)
	}
	slices.SortFunc(v.Collections, func(a, b ConsoleCollection) int { return cmp.Compare(a.Name, b.Name) })
	for _, n := range snap.Nodes {
		if len(v.DataCenters) == 0 || v.DataCenters[len(v.DataCenters)-1].ID != n.DataCenter {
			v.DataCenters = append(v.DataCenters, ConsoleDataCenter{ID: n.DataCenter})
		}
		dc := &v.DataCenters[len(v.DataCenters)-1]
		if len(dc.Racks) == 0 || dc.Racks[len(dc.Racks)-1].ID != n.Rack {
			dc.Racks = append(dc.Racks, ConsoleRack{ID: n.Rack})
		}
		rk := &dc.Racks[len(dc.Racks)-1]
		cn := ConsoleNode{URL: n.URL, PublicURL: n.PublicURL, Max: n.Max, Free: n.Free, Disks: n.Disks, Volumes: []ConsoleVolumeCopy{}}
		if cn.Disks == nil {
			cn.Disks = []wire.DiskInfo{}
		}
		for _, d := range n.Disks {
			cn.DiskFree += d.Free
			cn.DiskTotal += d.Total
		}
		for _, r := range n.Volumes {
			state := StateReadOnly
			if vs, ok := vols[r.ID]; ok {
				state = replicaState(vs, r)
			}
			cn.Volumes = append(cn.Volumes, ConsoleVolumeCopy{
				ID: r.ID, Collection: r.Collection, Replication: r.ReplicaPlacement.String(),
				State: state, Size: r.Size, Garbage: r.DeletedByteCount, Files: r.FileCount,
			})
		}
		rk.Nodes = append(rk.Nodes, cn)
		v.Free += n.Free
		v.Max += n.Max
	}
	return v
}

// consoleView is the view the console shows: the leader's (its topology
// is the one heartbeats build), fetched from it by a follower; a follower
// that cannot reach it shows its own, with a note.
func (s *Server) consoleView(ctx context.Context, r *http.Request) ConsoleView {
	leader := s.lead.Leader()
	if s.lead.IsLeader() || leader == "" || r.URL.Query().Get("local") == "1" {
		v := s.buildConsoleView()
		v.ServedBy = s.lead.Self()
		if leader == "" {
			v.Note = "no leader: this master's own view"
		}
		return v
	}
	v, err := s.fetchLeaderView(ctx, leader)
	if err != nil {
		glog.V(1).Infof("console: leader %s: %v", leader, err)
		v = s.buildConsoleView()
		v.Note = fmt.Sprintf("leader %s unreachable: this follower's own view", leader)
	}
	v.ServedBy = s.lead.Self()
	return v
}

func (s *Server) fetchLeaderView(ctx context.Context, leader string) (ConsoleView, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+leader+consoleJSONPath+"?local=1", nil)
	if err != nil {
		return ConsoleView{}, fmt.Errorf("console view: %w", err)
	}
	resp, err := (&http.Client{Transport: s.forward.proxy.Transport}).Do(req)
	if err != nil {
		return ConsoleView{}, fmt.Errorf("console view: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ConsoleView{}, fmt.Errorf("console view: leader answered %s", resp.Status)
	}
	var v ConsoleView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return ConsoleView{}, fmt.Errorf("console view: %w", err)
	}
	return v, nil
}

// handleConsole answers the page (GET / and /ui/, /ui/index.html): the
// tables are rendered here, readable without JavaScript; the script
// redraws them from consoleJSONPath every pulse.
func (s *Server) handleConsole(w http.ResponseWriter, r *http.Request) {
	v := s.consoleView(r.Context(), r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	if err := consoleTemplate.Execute(w, v); err != nil {
		glog.V(1).Infof("console: %v", err)
	}
}

// handleConsoleJSON answers consoleJSONPath.
func (s *Server) handleConsoleJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, r, http.StatusOK, s.consoleView(r.Context(), r))
}

// consoleStatic serves the embedded stylesheet and script.
func consoleStatic() http.Handler {
	sub, err := fs.Sub(consoleFiles, "console")
	if err != nil {
		panic(err)
	}
	return http.StripPrefix(consolePath+"static/", http.FileServerFS(sub))
}

// humanBytes prints n bytes in binary units.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
