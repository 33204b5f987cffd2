package monitor

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/weedfs/weed/testcluster"
)

// TestPrometheusScrapes: a real Prometheus scrapes a master (on its
// -metricsPort listener) and a filer (on its HTTP port); once both targets
// are up, PromQL over weed_requests_total returns exactly the writes the
// test made. Every /metrics passes promtool check metrics.
func TestPrometheusScrapes(t *testing.T) {
	c := testcluster.New(t)
	metricsPort := testcluster.FreePort(t)
	m := c.StartMaster(testcluster.MasterOptions{Extra: []string{fmt.Sprintf("-metricsPort=%d", metricsPort)}})
	for _, dc := range []string{"dc1", "dc2"} {
		c.StartVolume(testcluster.VolumeOptions{Masters: m.Addr(), DataCenter: dc, Max: 5})
	}
	if err := testcluster.Poll(bound, func() error {
		s, err := testcluster.ReadDirStatus(m.Addr())
		if err != nil || s.NodeCount() != 2 {
			return fmt.Errorf("nodes: %d %v", s.NodeCount(), err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f := c.StartFiler(testcluster.FilerOptions{Master: m.Addr()})
	masterMetrics := fmt.Sprintf("127.0.0.1:%d", metricsPort)
	prom := startPrometheus(t, masterMetrics, f.Addr())

	const submits, filerWrites = 7, 4
	for i := range submits {
		if _, err := testcluster.Submit(m.Addr(), fmt.Sprintf("f%d.txt", i), []byte(strings.Repeat("x", 100+i)), ""); err != nil {
			t.Fatal(err)
		}
	}
	for i := range filerWrites {
		r, err := testcluster.Send(testcluster.NoFollow, http.MethodPut, f.URL(fmt.Sprintf("/docs/f%d.txt", i)), strings.NewReader("hello"), nil)
		if err != nil || r.Status != http.StatusCreated {
			t.Fatalf("PUT to the filer: %v %v", r, err)
		}
	}
	// The master's HTTP port and its -metricsPort serve the same registry.
	checkMetrics(t, m.Addr())
	checkMetrics(t, masterMetrics)
	checkMetrics(t, f.Addr())

	if err := testcluster.Poll(bound, func() error { return prom.targetsUp(2) }); err != nil {
		t.Fatal(err)
	}
	queries := []struct {
		promql string
		want   float64
	}{
		{`sum(weed_requests_total{job="weed",server="master",op="submit",code="201"})`, submits},
		{`sum(weed_requests_total{job="weed",server="filer",op="filer_write",code="201"})`, filerWrites},
		{`weed_master_data_nodes{job="weed"}`, 2},
		{`weed_master_is_leader{job="weed"}`, 1},
		{`count(up{job="weed"} == 1)`, 2},
	}
	for _, q := range queries {
		err := testcluster.Poll(bound, func() error {
			got, err := prom.query(q.promql)
			if err != nil {
				return err
			}
			if got != q.want {
				return fmt.Errorf("%s = %v, want %v", q.promql, got, q.want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
