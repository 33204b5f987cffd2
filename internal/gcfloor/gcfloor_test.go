package gcfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		floor, live uint64
		want        int
	}{
		{64 * mb, 0, 1600},       // before the first collection: 4 MB * 16 = 64 MB
		{64 * mb, 1 * mb, 1600},  // 6300, clamped: the runtime's goal is then 64 MB
		{64 * mb, 4 * mb, 1500},  // the heap may grow to 64 MB
		{2 * mb, 0, basePercent}, // a floor under the runtime's own minimum
		{2 * mb, 1 * mb, basePercent},
		{64 * mb, 16 * mb, 300},         // 16 MB live, 48 MB more
		{64 * mb, 32 * mb, basePercent}, // half the floor: plain GOGC=100
		{64 * mb, 33 * mb, basePercent},
		{64 * mb, 500 * mb, basePercent},
		{64 * mb, 21 * mb, 204}, // integer ratio: 6400/21 = 304
	} {
		if got := Percent(tc.floor, tc.live); got != tc.want {
			t.Errorf("Percent(%d MB, %d bytes) = %d, want %d", tc.floor/mb, tc.live, got, tc.want)
		}
	}
}

func TestStartLeavesTheEnvironmentsChoice(t *testing.T) {
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, "100")
			before := debug.SetGCPercent(123)
			defer debug.SetGCPercent(before)
			stop := Start(DefaultFloor)
			defer stop()
			runtime.GC()
			if got := debug.SetGCPercent(123); got != 123 {
				t.Errorf("with %s set, GOGC became %d", env, got)
			}
		})
	}
}

// gogc returns the collector's current GOGC (by setting it to itself).
func gogc() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// waitPercent runs collections until the tuner's cleanup has set want, for
// at most 5 s.
func waitPercent(t *testing.T, tu *tuner, want func(int) bool) int {
	t.Helper()
	var got int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if got = tu.current(); want(got) {
			return got
		}
	}
	t.Fatalf("GOGC stayed %d", got)
	return got
}

func TestTunerFollowsTheLiveHeap(t *testing.T) {
	const floor = 64 << 20
	tu := start(floor)
	defer func() {
		tu.stop()
		if p := gogc(); p != basePercent {
			t.Errorf("after stop, GOGC = %d, want %d", p, basePercent)
		}
	}()

	// A small live heap (this test binary's): GOGC is raised.
	got := waitPercent(t, tu, func(p int) bool { return p > basePercent })
	if p := gogc(); p != got {
		t.Errorf("the runtime's GOGC is %d, the tuner says %d", p, got)
	}

	// A live heap past half the floor: back to 100 after a collection.
	big := make([][]byte, 40)
	for i := range big {
		big[i] = make([]byte, 1<<20)
		big[i][0] = byte(i)
	}
	waitPercent(t, tu, func(p int) bool { return p == basePercent })
	runtime.KeepAlive(big)

	// And up again once it is garbage.
	big = nil
	waitPercent(t, tu, func(p int) bool { return p > basePercent })
}
