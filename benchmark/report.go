package benchmark

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"time"
)

// percentiles are the rows of the "Percentage of the requests served
// within a certain time" table.
var percentiles = []int{50, 66, 75, 80, 90, 95, 98, 99, 100}

// report is the outcome of one phase.
type report struct {
	title       string
	concurrency int
	elapsed     time.Duration
	completed   int64
	failed      int64
	transferred int64
	// latencies of every counted request, completed or failed.
	latencies []time.Duration
}

// latencyStats are the "Connection Times (ms)" figures.
type latencyStats struct {
	min, avg, max, std float64
	pct                []float64 // parallel to percentiles
}

// stats sorts the latencies and computes the table figures in
// milliseconds. With no latency every figure is 0.
func (r *report) stats() latencyStats {
	s := latencyStats{pct: make([]float64, len(percentiles))}
	n := len(r.latencies)
	if n == 0 {
		return s
	}
	slices.Sort(r.latencies)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	var sum float64
	for _, d := range r.latencies {
		sum += ms(d)
	}
	s.avg = sum / float64(n)
	var sq float64
	for _, d := range r.latencies {
		dev := ms(d) - s.avg
		sq += dev * dev
	}
	s.std = math.Sqrt(sq / float64(n))
	s.min, s.max = ms(r.latencies[0]), ms(r.latencies[n-1])
	for i, p := range percentiles {
		// Nearest rank: the smallest latency with at least p% of the
		// requests at or below it.
		rank := int(math.Ceil(float64(p) / 100 * float64(n)))
		if rank < 1 {
			rank = 1
		}
		s.pct[i] = ms(r.latencies[rank-1])
	}
	return s
}

// write prints the report in the shape of weed-fs's benchmark.
func (r *report) write(out io.Writer) error {
	secs := r.elapsed.Seconds()
	rate := func(v float64) float64 {
		if secs <= 0 {
			return 0
		}
		return v / secs
	}
	s := r.stats()
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "\n------------ %s ----------\n", r.title)
	fmt.Fprintf(w, "Concurrency Level:      %d\n", r.concurrency)
	fmt.Fprintf(w, "Time taken for tests:   %.3f seconds\n", secs)
	fmt.Fprintf(w, "Complete requests:      %d\n", r.completed)
	fmt.Fprintf(w, "Failed requests:        %d\n", r.failed)
	fmt.Fprintf(w, "Total transferred:      %d bytes\n", r.transferred)
	fmt.Fprintf(w, "Requests per second:    %.2f [#/sec]\n", rate(float64(r.completed)))
	fmt.Fprintf(w, "Transfer rate:          %.2f [Kbytes/sec]\n", rate(float64(r.transferred)/1024))
	fmt.Fprintf(w, "\nConnection Times (ms)\n")
	fmt.Fprintf(w, "              min      avg        max      std\n")
	fmt.Fprintf(w, "Total:        %.1f      %.1f       %.1f      %.1f\n", s.min, s.avg, s.max, s.std)
	fmt.Fprintf(w, "\nPercentage of the requests served within a certain time (ms)\n")
	for i, p := range percentiles {
		fmt.Fprintf(w, "  %3d%%    %5.1f ms\n", p, s.pct[i])
	}
	return w.Flush()
}

// PhaseReport is the outcome of one phase measured by some other client
// (benchmark/weedfsclient), for WriteReport.
type PhaseReport struct {
	Title                          string
	Concurrency                    int
	Elapsed                        time.Duration
	Completed, Failed, Transferred int64
	// Latencies of every counted request; WriteReport sorts them in place.
	Latencies []time.Duration
}

// WriteReport prints p in the shape of Run's reports, so that the scripts
// that read those (benchmark/run.sh) read it too.
func WriteReport(out io.Writer, p PhaseReport) error {
	r := report{
		title:       p.Title,
		concurrency: p.Concurrency,
		elapsed:     p.Elapsed,
		completed:   p.Completed,
		failed:      p.Failed,
		transferred: p.Transferred,
		latencies:   p.Latencies,
	}
	return r.write(out)
}
