#!/usr/bin/env bash
# benchmark/profile.sh: CPU and allocation profiles of the master, a volume
# server and the benchmark client under the write and the read phase of
# `weed benchmark` (one master, two volume servers on 127.0.0.1, as in
# benchmark/run.sh).
#
# The servers run with -pprof on a debug port of their own; during each
# phase the script takes a PROFILE_SECONDS-long CPU profile of the master and of the
# first volume server, and the allocations they made during the phase (the
# difference of two /debug/pprof/allocs snapshots). The client runs each
# phase with -cpuprofile and -memprofile.
#
# Output in OUT (default ./profiles): {master,volume1,client}.{write,read}.cpu
# and .alloc, and a top-15 text summary of each in summary.txt. Read them
# with `go tool pprof -top bin/weed profiles/volume1.read.cpu` (allocations:
# -sample_index=alloc_space or alloc_objects).
#
# Knobs (environment): OUT=profiles N=200000 C=16 SIZE=1024 PROFILE_SECONDS=5
# REPLICATION=000 PORT=29333 KEEP=0 CLIENT=weed (weedfs: the servers under
# benchmark/weedfsclient, which is not profiled).
set -euo pipefail

OUT=${OUT:-profiles}
N=${N:-200000}
PROFILE_SECONDS=${PROFILE_SECONDS:-5}

cd "$(dirname "$0")/.."
. benchmark/cluster.sh
build_binaries
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)


# port_of NAME: the debug port of a server.
port_of() {
	case $1 in
	volume1) echo $((VPORT1 + 1000)) ;;
	volume2) echo $((VPORT2 + 1000)) ;;
	*) echo $((PORT + 1000)) ;;
	esac
}

# snapshot NAME PHASE TAG: saves the allocs profile of a server.
snapshot() {
	curl -fsS -o "$TMP/$1.$2.$3.allocs" "http://127.0.0.1:$(port_of "$1")/debug/pprof/allocs"
}

# cpu NAME PHASE: takes a CPU profile of a server in the background.
cpu() {
	curl -fsS -o "$OUT/$1.$2.cpu" "http://127.0.0.1:$(port_of "$1")/debug/pprof/profile?seconds=$PROFILE_SECONDS" &
	CURLS+=($!)
}

# phase NAME FLAGS...: runs one phase of the client while profiling.
phase() {
	local name=$1
	shift
	CURLS=()
	for s in master volume1 volume2; do
		snapshot "$s" "$name" before
	done
	local client_cmd=("${CLIENT_CMD[@]}")
	if [ "$CLIENT" = weed ]; then
		client_cmd=("$WEED" -cpuprofile="$OUT/client.$name.cpu" -memprofile="$OUT/client.$name.alloc" benchmark)
	fi
	"${client_cmd[@]}" -server="127.0.0.1:$PORT" -c="$C" -n="$N" -size="$SIZE" \
		-replication="$REPLICATION" -list="$TMP/list.txt" "$@" >"$OUT/client.$name.txt" 2>/dev/null &
	local client=$!
	PIDS+=("$client")
	sleep 1
	local stat0
	stat0=$(head -1 /proc/stat)
	cpu master "$name"
	cpu volume1 "$name"
	wait "${CURLS[@]}"
	# Share of the machine's CPU time busy during the profiles.
	echo "$stat0" "$(head -1 /proc/stat)" | awk '{ for (i = 2; i <= 11; i++) { a += $i; b += $(i + 11) }
		idle = ($(16) + $(17)) - ($5 + $6); printf "machine busy during the %s profile: %.0f%%\n", n, 100 * (1 - idle / (b - a)) }' n="$name" |
		tee "$OUT/busy.$name.txt"
	wait "$client"
	for s in master volume1 volume2; do
		snapshot "$s" "$name" after
	done
	for s in master volume1 volume2; do
		go tool pprof -proto -base "$TMP/$s.$name.before.allocs" "$TMP/$s.$name.after.allocs" \
			>"$OUT/$s.$name.alloc" 2>/dev/null
	done
}

PPROF=1 start_cluster "$TMP/cluster"
echo "profiling the write phase (-n=$N)"
phase write -read=false
echo "profiling the read phase (-n=$N)"
phase read -write=false
stop_all

# total COLUMN FILES...: the sum of one column of the samples of alloc
# profiles (1: objects allocated, 2: bytes allocated).
total() {
	local col=$1
	shift
	local f
	for f in "$@"; do
		go tool pprof -raw "$f" 2>/dev/null
	done | awk -v c="$col" '
		/^Samples:/ { on = 1; next }
		/^Locations/ { on = 0 }
		on && $1 ~ /^-?[0-9]+$/ { t += $c }
		END { print t + 0 }'
}

{
	echo "Allocations per request during each phase (-n=$N; the volume servers' summed):"
	for name in write read; do
		for s in master volumes; do
			files="$OUT/$s.$name.alloc"
			if [ "$s" = volumes ]; then
				files="$OUT/volume1.$name.alloc $OUT/volume2.$name.alloc"
			fi
			# shellcheck disable=SC2086
			awk -v s="$s" -v p="$name" -v n="$N" -v b="$(total 2 $files)" -v o="$(total 1 $files)" \
				'BEGIN { printf "  %-8s %-5s %8.0f B/request %6.1f allocs/request\n", s, p, b / n, o / n }'
		done
	done
	echo
	for name in write read; do
		cat "$OUT/busy.$name.txt"
		for s in master volume1 client; do
			[ -f "$OUT/$s.$name.cpu" ] || continue
			echo "=== $s, $name phase: CPU"
			go tool pprof -top -nodecount=15 "$WEED" "$OUT/$s.$name.cpu" 2>/dev/null | sed -n '1,25p'
			echo
			echo "=== $s, $name phase: allocated space"
			go tool pprof -top -nodecount=15 -sample_index=alloc_space "$WEED" "$OUT/$s.$name.alloc" 2>/dev/null | sed -n '1,25p'
			echo
		done
	done
} >"$OUT/summary.txt"
echo "profiles in $OUT; summary in $OUT/summary.txt"
