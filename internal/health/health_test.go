package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestReadiness(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantCode   int
		wantReason string
	}{
		{"ready", nil, http.StatusOK, ""},
		{"not ready", errors.New("no leader"), http.StatusServiceUnavailable, "no leader"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := NewReadiness(func(context.Context) error { return tt.err }, 0, 0)
			w := httptest.NewRecorder()
			rd.ServeHTTP(w, httptest.NewRequest(http.MethodGet, ReadyPath, nil))
			if w.Code != tt.wantCode {
				t.Fatalf("code %d, want %d", w.Code, tt.wantCode)
			}
			var st Status
			if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
				t.Fatal(err)
			}
			if st.Ready != (tt.err == nil) || st.Reason != tt.wantReason {
				t.Fatalf("body %+v", st)
			}
		})
	}
}

func TestReadinessCaches(t *testing.T) {
	calls := 0
	now := time.Unix(1000, 0)
	rd := NewReadiness(func(context.Context) error { calls++; return nil }, time.Second, 0)
	rd.now = func() time.Time { return now }
	steps := []struct {
		advance   time.Duration
		wantCalls int
	}{
		{0, 1}, {500 * time.Millisecond, 1}, {499 * time.Millisecond, 1}, {time.Millisecond, 2}, {0, 2},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		_ = rd.Err(context.Background())
		if calls != s.wantCalls {
			t.Fatalf("step %d: %d checks, want %d", i, calls, s.wantCalls)
		}
	}
}

func TestReadinessBoundsCheck(t *testing.T) {
	rd := NewReadiness(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, 0, 20*time.Millisecond)
	start := time.Now()
	if err := rd.Err(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("check took %v", d)
	}
}

func TestLive(t *testing.T) {
	w := httptest.NewRecorder()
	Live(w, httptest.NewRequest(http.MethodGet, LivePath, nil))
	if w.Code != http.StatusOK || w.Body.String() != "{\"ready\":true}\n" {
		t.Fatalf("%d %q", w.Code, w.Body)
	}
}
