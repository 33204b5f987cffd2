package volume

// RecordState is what one replica holds for one key: nothing, a live
// needle, or a tombstone, with its append time.
type RecordState struct {
	Present    bool
	Tombstone  bool
	AppendAtNs uint64
}

// Newer reports whether a beats b under the newest-wins rule: the record
// with the greater append time wins; at equal times a tombstone beats a
// live needle; anything beats nothing.
func Newer(a, b RecordState) bool {
	switch {
	case !a.Present:
		return false
	case !b.Present:
		return true
	case a.AppendAtNs != b.AppendAtNs:
		return a.AppendAtNs > b.AppendAtNs
	}
	return a.Tombstone && !b.Tombstone
}
