// Package volume is weed's storage engine: Haystack volumes (one
// append-only .dat of needle records, one .idx of 16-byte entries and a
// needle map per volume) and the Store of a volume server's directories.
// It knows nothing of HTTP, masters or other replicas: the volume server
// (volume/volumeserver) serves it and the replica protocol (replication)
// drives it through the API below. docs/volume-api.md is an overview; the
// doc comments are the contract.
//
// The API, by concern:
//
//   - Volume: Create, Open (load and recovery: the .dat is the truth; a lost
//     .idx tail is rebuilt from it and a torn or corrupt tail truncated,
//     damage inside the file stepped over), Write and Read (one pread of
//     the record), Delete, Info, ReadOnly/SetReadOnly, Sync, Close, Destroy.
//     Safe for concurrent use: writes serialize on a short per-volume lock,
//     reads run in parallel.
//   - Vacuum, driven by the master: Compact, CommitCompact, CleanupCompact;
//     reads and writes go on throughout.
//   - The record-level sync API replicas compare and exchange records with
//     (sync.go): RecordsSince, ReadRecord, LiveRecord, Digest, KeyStates,
//     ApplyRecords (newest wins: RecordState, Newer), DeleteNewest,
//     DeleteReplica, WriteReplica and DeleteRolledBack (a rolled-back
//     replicated write stays gone, rollback.go), OpenDat, SplitRecords,
//     JoinRecords, TombstoneRecord.
//   - Scrub (every record's CRC, paced by a Pacer), and the tools Check (the
//     invariant checker tests run at cleanup), Fix and Export.
//   - Store: NewStore (loads N.dat and c_N.dat of every -dir, checks the
//     open-files budget), Volume, Volumes, AddVolume, ImportVolume (a copy
//     from a .dat), DeleteVolume, DeleteCollection, Status, MaxFileKey,
//     SetVolumeSizeLimit, CheckSpace and OnSpaceChange (a directory low on
//     space turns its volumes read-only: space.go), Close.
//
// Sentinel errors are in volume.go (ErrReadOnly, ErrVolumeNotFound, ...);
// reads and deletes also return needle.ErrNotFound, needle.ErrDeleted,
// needle.ErrCookieMismatch and needle.ErrCRC. Failure points (failpoint.go)
// are compiled in for crash and ordering tests.
package volume
