// Package monitor holds end-to-end tests of what an operator watches: a
// real Prometheus server scraping real weed processes, /readyz following
// the masters, and the master's console in headless Chromium.
package monitor

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weedfs/weed/internal/metrics/metricstest"
	"github.com/weedfs/weed/testcluster"
)

// bound is how long a wait may take before a test fails; generous, the
// machine is shared.
const bound = 60 * time.Second

// prometheus is a Prometheus server run by a test.
type prometheus struct {
	addr string
	cmd  *exec.Cmd
	log  string
}

// startPrometheus writes a config scraping each target every second under
// job "weed" and starts `prometheus` on a free port; it is killed when the
// test ends.
func startPrometheus(t *testing.T, targets ...string) *prometheus {
	t.Helper()
	bin := metricstest.Tool(t, "prometheus")
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = strconv.Quote(tg)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: weed
    static_configs:
      - targets: [%s]
`, strings.Join(quoted, ", "))
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &prometheus{addr: "127.0.0.1:" + strconv.Itoa(testcluster.FreePort(t)), log: filepath.Join(dir, "prometheus.log")}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "--config.file="+confPath, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+p.addr)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("==== prometheus log ====\n%s", tailString(string(b), 40))
		}
	})
	return p
}

func tailString(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// api GETs a Prometheus HTTP API path and decodes its data.
func (p *prometheus) api(path string, data any) error {
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, b)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

// targetsUp reports nil once every active target is up.
func (p *prometheus) targetsUp(want int) error {
	var d struct {
		ActiveTargets []struct {
			ScrapeURL string `json:"scrapeUrl"`
			Health    string `json:"health"`
			LastError string `json:"lastError"`
		} `json:"activeTargets"`
	}
	if err := p.api("/api/v1/targets", &d); err != nil {
		return err
	}
	if len(d.ActiveTargets) != want {
		return fmt.Errorf("%d active targets, want %d", len(d.ActiveTargets), want)
	}
	for _, tg := range d.ActiveTargets {
		if tg.Health != "up" {
			return fmt.Errorf("target %s is %s: %s", tg.ScrapeURL, tg.Health, tg.LastError)
		}
	}
	return nil
}

// query runs an instant PromQL query whose result is one number.
func (p *prometheus) query(q string) (float64, error) {
	var d struct {
		Result []struct {
			Value [2]any `json:"value"`
		} `json:"result"`
	}
	if err := p.api("/api/v1/query?query="+url.QueryEscape(q), &d); err != nil {
		return 0, err
	}
	if len(d.Result) != 1 {
		return 0, fmt.Errorf("%s: %d series", q, len(d.Result))
	}
	s, _ := d.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

// checkMetrics scrapes addr's /metrics and lints it with promtool.
func checkMetrics(t *testing.T, addr string) []byte {
	t.Helper()
	r := testcluster.Get(t, "http://"+addr+"/metrics")
	if r.Status != http.StatusOK {
		t.Fatalf("%s/metrics: %s", addr, r)
	}
	metricstest.CheckMetrics(t, r.Body)
	return r.Body
}

// readyz returns the status and reason of addr's /readyz.
func readyz(addr string) (int, string) {
	r, err := testcluster.Send(testcluster.NoFollow, http.MethodGet, "http://"+addr+"/readyz", nil, nil)
	if err != nil {
		return 0, err.Error()
	}
	var st struct {
		Ready  bool   `json:"ready"`
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(r.Body, &st)
	return r.Status, st.Reason
}

// waitReadyz waits until addr's /readyz answers status.
func waitReadyz(t *testing.T, what, addr string, status int) {
	t.Helper()
	err := testcluster.Poll(bound, func() error {
		if got, reason := readyz(addr); got != status {
			return fmt.Errorf("%s /readyz: %d %s, want %d", what, got, reason, status)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func decodeJSON(b []byte, v any) error { return json.Unmarshal(b, v) }
