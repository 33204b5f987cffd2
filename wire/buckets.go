package wire

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseBuckets parses a comma list of digest bucket numbers, each below n
// (the ?buckets= of SyncKeysPath).
func ParseBuckets(s string, n int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f == "" {
			continue
		}
		b, err := strconv.Atoi(f)
		if err != nil || b < 0 || b >= n {
			return nil, fmt.Errorf("bad bucket %q (0 to %d)", f, n-1)
		}
		out = append(out, b)
	}
	return out, nil
}

// FormatBuckets is the inverse of ParseBuckets.
func FormatBuckets(buckets []int) string {
	parts := make([]string, len(buckets))
	for i, b := range buckets {
		parts[i] = strconv.Itoa(b)
	}
	return strings.Join(parts, ",")
}
