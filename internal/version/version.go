// Package version names the weed release, printed by `weed version`, in
// daemons' ready lines and in every status reply's "Version" field.
package version

// Version is the weed release. The second part says which weed-fs release
// the HTTP API and disk formats stay compatible with.
const Version = "1.0.0 (weed-fs 0.70 compatible)"
