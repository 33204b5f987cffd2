// Package metricstest checks a /metrics exposition with Prometheus's own
// linter, promtool (Debian's prometheus package, installed by make deps).
package metricstest

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// RequireToolsEnv, set to 1 (make test sets it), makes a test that needs
// an external tool (promtool, prometheus, chromium) fail when the tool is
// missing; without it the test is skipped.
const RequireToolsEnv = "WEED_REQUIRE_TOOLS"

// Tool returns the path of the named executable, skipping t when it is
// missing, or failing it when RequireToolsEnv is 1.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv(RequireToolsEnv) == "1" {
		t.Fatalf("%s not found (run make deps): %v", name, err)
	}
	t.Skipf("%s not found (make deps installs it; %s=1 makes this a failure)", name, RequireToolsEnv)
	return ""
}

// CheckMetrics runs `promtool check metrics` on text, the body of a
// /metrics answer, and fails t with promtool's complaints.
func CheckMetrics(t testing.TB, text []byte) {
	t.Helper()
	promtool := Tool(t, "promtool")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
