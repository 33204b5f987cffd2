#!/usr/bin/env bash
# benchmark/run.sh: weed against the ceiling of its own benchmark client.
#
# Builds bin/weed, then RUNS times (in turn, so that drift on the machine
# hits all alike):
#   1. the ceiling: `weed nullserver` (a do-nothing weed, one process) and
#      `weed benchmark` against it;
#   2. the null cluster: three nullservers, a master (-volumes=...) and two
#      volume servers: what the split into three processes costs by itself;
#   3. weed: one master and two volume servers on 127.0.0.1 in a fresh temp
#      dir, and the same `weed benchmark` against them.
# Prints every report, then the medians (writes/s, reads/s, p50, p99, failed)
# and weed's fraction of the ceiling and of the null cluster. Every process
# it starts is stopped on exit, Ctrl-C included.
#
# Knobs (environment): RUNS=3 N=100000 C=16 SIZE=1024 REPLICATION=000
# FSYNC=false (the volume servers' -fsync) PORT=29333 (master; volume servers
# on 28081, 28082) KEEP=0 (1 keeps the temp dir) WEED_SERVER_ARGS (extra
# global flags for the master and volume servers) SERVER_ENV (environment
# assignments for every server, null ones included, such as GOMAXPROCS=1)
# NULL=1 (0 skips the ceiling and the null cluster) SERVER_BIN (another
# weed binary for the master and volume servers, to compare two builds; the
# client and the null servers stay bin/weed) BASE_BIN (a second build run as
# a fourth row, "base", in the same turns) CLIENT=weed (weedfs: every row
# measured with benchmark/weedfsclient, a client that spends per request what
# weed-fs 0.70's benchmark did, instead of `weed benchmark`).
# Usage: benchmark/run.sh   or   make bench-cluster
set -euo pipefail

RUNS=${RUNS:-3}
N=${N:-100000}
FSYNC=${FSYNC:-false}
NULL=${NULL:-1}

cd "$(dirname "$0")/.."
. benchmark/cluster.sh
build_binaries

# bench OUT: runs the benchmark client against the master on PORT.
bench() {
	"${CLIENT_CMD[@]}" -server="127.0.0.1:$PORT" -c="$C" -n="$N" -size="$SIZE" \
		-replication="$REPLICATION" -list="$TMP/list.txt" 2>/dev/null | tee "$1"
}

run_null() {
	start_null
	bench "$TMP/null.$1.txt"
	stop_all
}

run_nullcluster() {
	start_null_cluster
	bench "$TMP/nullc.$1.txt"
	stop_all
}

# run_weed RUN [KIND]: the cluster of SERVER_BIN (or bin/weed), its report
# saved as KIND (default weed).
run_weed() {
	local d=$TMP/cluster.${2:-weed}.$1
	start_cluster "$d" -fsync="$FSYNC"
	bench "$TMP/${2:-weed}.$1.txt"
	stop_all
	if [ "$KEEP" != 1 ]; then
		rm -rf "$d"
	fi
}

# field FILE PHASE WHAT: one figure of one phase of a report
# (PHASE: Writing or Reading; WHAT: rps, failed, p50, p99).
field() {
	awk -v phase="$2" -v what="$3" '
		/^------------ / { cur = ($0 ~ phase) }
		!cur { next }
		what == "rps" && /^Requests per second:/ { print $4 }
		what == "failed" && /^Failed requests:/ { print $3 }
		what == "p50" && /^ +50%/ { print $2 }
		what == "p99" && /^ +99%/ { print $2 }
	' "$1"
}

# median KIND PHASE WHAT: the median of one figure over the runs.
median() {
	local f
	for f in "$TMP/$1".*.txt; do
		field "$f" "$2" "$3"
	done | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "client ${CLIENT_CMD[*]##*/}: $RUNS runs, -n=$N -c=$C -size=$SIZE -replication=$REPLICATION, volume -fsync=$FSYNC"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(uname -r), $(go version | cut -d' ' -f3)"
for i in $(seq "$RUNS"); do
	if [ "$NULL" = 1 ]; then
		echo
		echo "=== run $i: ceiling (weed nullserver)"
		run_null "$i"
		echo
		echo "=== run $i: null cluster (three nullservers: a master and two volume servers)"
		run_nullcluster "$i"
	fi
	if [ -n "${BASE_BIN:-}" ]; then
		echo
		echo "=== run $i: base (1 master, 2 volume servers of $BASE_BIN)"
		SERVER_BIN=$BASE_BIN run_weed "$i" base
	fi
	echo
	echo "=== run $i: weed (1 master, 2 volume servers)"
	run_weed "$i"
done

echo
echo "=== medians of $RUNS runs"
printf '%-8s %-7s %12s %9s %9s %8s\n' "" phase "req/s" "p50 ms" "p99 ms" failed
kinds="weed"
if [ "$NULL" = 1 ]; then
	kinds="null nullc weed"
fi
if [ -n "${BASE_BIN:-}" ]; then
	kinds="$kinds base"
fi
for kind in $kinds; do
	for phase in Writing Reading; do
		printf '%-8s %-7s %12s %9s %9s %8s\n' "$kind" "$phase" "$(median "$kind" "$phase" rps)" \
			"$(median "$kind" "$phase" p50)" "$(median "$kind" "$phase" p99)" "$(median "$kind" "$phase" failed)"
	done
done
if [ "$NULL" = 1 ]; then
	for phase in Writing Reading; do
		awk -v p="$phase" -v w="$(median weed "$phase" rps)" -v n="$(median null "$phase" rps)" \
			-v c="$(median nullc "$phase" rps)" \
			'BEGIN { printf "%s: weed/ceiling %.1f%%, weed/null cluster %.1f%%, null cluster/ceiling %.1f%%\n", p, 100 * w / n, 100 * w / c, 100 * c / n }'
		if [ -n "${BASE_BIN:-}" ]; then
			awk -v p="$phase" -v b="$(median base "$phase" rps)" -v n="$(median null "$phase" rps)" \
				'BEGIN { printf "%s: base/ceiling %.1f%%\n", p, 100 * b / n }'
		fi
	done
fi
