package volume

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestCheckFileBudget(t *testing.T) {
	tests := []struct {
		name    string
		volumes int
		kind    MapKind
		inUse   int
		limit   uint64
		need    uint64
		wantErr bool
	}{
		{"no volumes", 0, MapMemory, 10, 1024, 10 + FileReserve, false},
		{"default max fits 1024", 7, MapMemory, 10, 1024, 10 + 14 + FileReserve, false},
		{"exactly at the limit", 100, MapMemory, 0, 200 + FileReserve, 200 + FileReserve, false},
		{"one over the limit", 100, MapMemory, 1, 200 + FileReserve, 201 + FileReserve, true},
		{"1000 volumes under 1024", 1000, MapMemory, 12, 1024, 12 + 2000 + FileReserve, true},
		{"1000 volumes under 256", 1000, MapMemory, 12, 256, 12 + 2000 + FileReserve, true},
		{"1000 volumes under 4096", 1000, MapMemory, 12, 4096, 12 + 2000 + FileReserve, false},
		{"bolt keeps a third file", 1000, MapBolt, 12, 3000, 12 + 3000 + FileReserve, true},
		{"empty kind is memory", 10, "", 0, 1024, 20 + FileReserve, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fileBudget(tt.volumes, tt.kind, tt.inUse); got != tt.need {
				t.Errorf("fileBudget = %d, want %d", got, tt.need)
			}
			err := checkFileBudget(tt.volumes, tt.kind, tt.inUse, tt.limit)
			if (err != nil) != tt.wantErr {
				t.Fatalf("checkFileBudget = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, ErrOpenFilesLimit) {
				t.Errorf("error %v is not ErrOpenFilesLimit", err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("message is not one line: %q", msg)
			}
			for _, want := range []string{"the limit is " + strconv.FormatUint(tt.limit, 10), "need " + strconv.FormatUint(tt.need, 10), "ulimit -n " + strconv.FormatUint(tt.need, 10)} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
		})
	}
}
