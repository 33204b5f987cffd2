package needle_test

import (
	"bufio"
	"io"
	"math/rand/v2"

	"github.com/weedfs/weed/needle"
)

// writeTestIdx writes n .idx entries shaped like a busy volume's: keys
// from the master's sequence, 5% of them arriving just after their
// successor, 2% overwrites and 1% deletes of recent keys. Offsets grow
// as the .dat would.
func writeTestIdx(w io.Writer, n int) {
	bw := bufio.NewWriterSize(w, 1<<20)
	r := rand.New(rand.NewPCG(10, 20))
	var buf [needle.IdxEntrySize]byte
	next := needle.Key(1)
	off := uint32(1)
	emit := func(k needle.Key, size uint32) {
		needle.IdxEntry{Key: k, Offset: off, Size: size}.Put(buf[:])
		bw.Write(buf[:])
		if size == needle.TombstoneSize {
			size = 0
		}
		off += uint32(needle.RecordLen(size, needle.Version3) / needle.PaddingSize)
	}
	recent := func() needle.Key { return next - 1 - needle.Key(r.IntN(min(int(next-1), 100_000))) }
	for i := 0; i < n; i++ {
		size := 100 + r.Uint32N(2000)
		switch p := r.IntN(100); {
		case p < 2 && next > 1:
			emit(recent(), size)
		case p < 3 && next > 1:
			emit(recent(), needle.TombstoneSize)
		case p < 8 && i+1 < n:
			emit(next+1, size)
			emit(next, size)
			next += 2
			i++
		default:
			emit(next, size)
			next++
		}
	}
	bw.Flush()
}
