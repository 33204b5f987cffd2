package httpx

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

func TestFormatHTTPDate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	times := []time.Time{
		{}, time.Unix(0, 0), time.Unix(-1, 999), time.Date(2000, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 4, 5, 6, 7, 8, time.FixedZone("x", -7*3600)),
	}
	for i := 0; i < 10000; i++ {
		times = append(times, time.Unix(rng.Int64N(1<<36)-1<<35, rng.Int64N(1e9)))
	}
	for _, tm := range times {
		want := tm.UTC().Format(http.TimeFormat)
		if got := string(AppendHTTPDate(nil, tm)); got != want {
			t.Fatalf("AppendHTTPDate(%v) = %q, want %q", tm, got, want)
		}
		// Twice: the second one comes from the cache.
		for j := 0; j < 2; j++ {
			if got := FormatHTTPDate(tm); got != want {
				t.Fatalf("FormatHTTPDate(%v) = %q, want %q", tm, got, want)
			}
		}
	}
}

func BenchmarkFormatHTTPDate(b *testing.B) {
	tm := time.Date(2024, 3, 4, 5, 6, 7, 8, time.UTC)
	b.Run("time.Format", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = tm.UTC().Format(http.TimeFormat)
		}
	})
	b.Run("AppendHTTPDate", func(b *testing.B) {
		b.ReportAllocs()
		var buf [64]byte
		for b.Loop() {
			_ = AppendHTTPDate(buf[:0], tm)
		}
	})
	b.Run("FormatHTTPDate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = FormatHTTPDate(tm)
		}
	})
}
