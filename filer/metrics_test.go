package filer_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weedfs/weed/client/clienttest"
	"github.com/weedfs/weed/filer"
	"github.com/weedfs/weed/internal/metrics/metricstest"
)

func TestFilerMetrics(t *testing.T) {
	cluster := startCluster(t, clienttest.Options{})
	tf := startFiler(t, cluster.MasterAddr(), filer.FilerOptions{DefaultReplication: "000"})
	mustStatus(t, "PUT", tf.put("/a/b.txt", []byte(hello)), http.StatusCreated)
	mustStatus(t, "GET", tf.get("/a/b.txt", nil), http.StatusOK)
	mustStatus(t, "GET", tf.get("/a/missing", nil), http.StatusNotFound)
	mustStatus(t, "healthz", tf.get("/healthz", nil), http.StatusOK)
	r := tf.get("/metrics", nil)
	mustStatus(t, "metrics", r, http.StatusOK)
	for _, want := range []string{
		`weed_requests_total{code="201",op="filer_write",server="filer"} 1`,
		`weed_requests_total{code="200",op="filer_read",server="filer"} 1`,
		`weed_requests_total{code="404",op="filer_read",server="filer"} 1`,
		`weed_requests_total{code="200",op="healthz",server="filer"} 1`,
		`weed_filer_store_operations_total{op="replace",result="ok"} 1`,
		`weed_filer_store_duration_seconds_count{op="find"}`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	metricstest.CheckMetrics(t, r.body)
}

func TestFilerReadiness(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cluster/status" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"IsLeader":true}`))
	}))
	defer up.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	_ = ln.Close()
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	tests := []struct {
		name       string
		masters    string
		wantCode   int
		wantReason string
	}{
		{"master answers", host(up), http.StatusOK, ""},
		{"second master answers", gone + "," + host(up), http.StatusOK, ""},
		{"master gone", gone, http.StatusServiceUnavailable, "no master reachable"},
		{"master failing", host(failing), http.StatusServiceUnavailable, "no master reachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := startFiler(t, tt.masters, filer.FilerOptions{})
			r := tf.get("/readyz", nil)
			var st struct {
				Ready  bool   `json:"ready"`
				Reason string `json:"reason"`
			}
			if r.status != tt.wantCode || json.Unmarshal(r.body, &st) != nil || st.Ready != (tt.wantCode == 200) || !strings.HasPrefix(st.Reason, tt.wantReason) {
				t.Fatalf("/readyz: %s, want %d %q", r, tt.wantCode, tt.wantReason)
			}
		})
	}
}
