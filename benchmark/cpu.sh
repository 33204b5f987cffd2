#!/usr/bin/env bash
# benchmark/cpu.sh: where the two cores go. For the ceiling (one
# nullserver), the null cluster (three nullservers) and weed (one master,
# two volume servers), runs the write phase and then the read phase of
# `weed benchmark` as two invocations and counts the CPU time (user +
# system, from /proc/PID/stat and the shell's `times`) that the client and
# each server used during each phase, per request. Throughput on a shared
# 2-core VM moves by 10-15% from run to run; CPU per request moves much
# less, and it adds up: the machine can serve at most
# cores / (client + servers) requests per second.
#
# Prints one line per configuration, phase and run, then the medians.
# Columns: req/s, then microseconds of CPU per request for the client, the
# master, the two volume servers, and their sum.
#
# Knobs (environment): RUNS=3 N=100000 C=16 SIZE=1024 REPLICATION=000
# PORT=29333 (master; volume servers on 28081, 28082) KEEP=0
# WEED_SERVER_ARGS CLIENT=weed (weedfs: benchmark/weedfsclient) NULL=1 (0
# skips the ceiling and the null cluster) BASE_BIN (another build's weed,
# run as a "base" cluster in the same turns, before weed: a before/after
# of a change). Usage: benchmark/cpu.sh   or   make bench-cpu
set -euo pipefail

RUNS=${RUNS:-3}
N=${N:-100000}
NULL=${NULL:-1}

cd "$(dirname "$0")/.."
. benchmark/cluster.sh
build_binaries

HZ=$(getconf CLK_TCK)

# ticks PID: the CPU clock ticks (user + system) process PID has used.
ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# children_seconds: sets CHILD_S to the user + system seconds of the
# shell's finished children (the second line of `times`, such as
# "0m1.234s 0m0.567s"). Not to be called in a subshell, whose children
# are not the shell's.
children_seconds() {
	times >"$TMP/times"
	CHILD_S=$(awk 'NR == 2 {
		s = 0
		for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); s += p[1] * 60 + p[2] }
		print s
	}' "$TMP/times")
}

# phase KIND PHASE RUN MASTER_PID VOLUME1_PID VOLUME2_PID ARGS...: one
# benchmark invocation; appends "KIND PHASE RUN rps client master v1 v2
# total" to $TMP/rows (microseconds per request; a pid of 0 is a server
# the configuration does not have).
phase() {
	local kind=$1 ph=$2 run=$3 pm=$4 p1=$5 p2=$6
	shift 6
	local bm=0 b1=0 b2=0
	[ "$pm" = 0 ] || bm=$(ticks "$pm")
	[ "$p1" = 0 ] || b1=$(ticks "$p1")
	[ "$p2" = 0 ] || b2=$(ticks "$p2")
	children_seconds
	local c0=$CHILD_S
	"${CLIENT_CMD[@]}" -server="127.0.0.1:$PORT" -c="$C" -n="$N" -size="$SIZE" \
		-replication="$REPLICATION" -list="$TMP/list.txt" "$@" >"$TMP/out.txt" 2>/dev/null
	children_seconds
	local c1=$CHILD_S
	local em=$bm e1=$b1 e2=$b2
	[ "$pm" = 0 ] || em=$(ticks "$pm")
	[ "$p1" = 0 ] || e1=$(ticks "$p1")
	[ "$p2" = 0 ] || e2=$(ticks "$p2")
	local rps completed
	rps=$(awk '/^Requests per second:/ { print $4 }' "$TMP/out.txt")
	completed=$(awk '/^Complete requests:/ { print $3 }' "$TMP/out.txt")
	awk -v k="$kind" -v p="$ph" -v r="$run" -v rps="$rps" -v n="$completed" -v hz="$HZ" \
		-v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')" \
		-v m=$((em - bm)) -v v1=$((e1 - b1)) -v v2=$((e2 - b2)) 'BEGIN {
		us = 1e6 / n; t = 1e6 / hz / n
		printf "%-6s %-5s %3s %10.0f %8.1f %8.1f %8.1f %8.1f %8.1f\n", k, p, r, rps,
			c * us, m * t, v1 * t, v2 * t, c * us + (m + v1 + v2) * t
	}' | tee -a "$TMP/rows"
}

# both KIND RUN MASTER_PID VOLUME1_PID VOLUME2_PID: the write phase, then
# the read phase of the files it wrote.
both() {
	phase "$1" write "$2" "$3" "$4" "$5" -read=false
	phase "$1" read "$2" "$3" "$4" "$5" -write=false
}

: >"$TMP/rows"
echo "client ${CLIENT_CMD[*]##*/}, CPU per request: $RUNS runs, -n=$N -c=$C -size=$SIZE -replication=$REPLICATION"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(uname -r), $(go version | cut -d' ' -f3)"
printf '%-6s %-5s %3s %10s %8s %8s %8s %8s %8s\n' "" phase run "req/s" client master vol1 vol2 total
for i in $(seq "$RUNS"); do
	if [ "$NULL" = 1 ]; then
		start_null
		# One process is master and volume server at once: its time is
		# counted once, as the master's.
		both ceil "$i" "${PIDS[0]}" 0 0
		stop_all

		start_null_cluster
		both nullc "$i" "${PIDS[2]}" "${PIDS[0]}" "${PIDS[1]}"
		stop_all
	fi

	if [ -n "${BASE_BIN:-}" ]; then
		SERVER_BIN=$BASE_BIN start_cluster "$TMP/base.$i"
		both base "$i" "${PIDS[0]}" "${PIDS[1]}" "${PIDS[2]}"
		stop_all
		[ "$KEEP" = 1 ] || rm -rf "$TMP/base.$i"
	fi

	start_cluster "$TMP/cluster.$i"
	both weed "$i" "${PIDS[0]}" "${PIDS[1]}" "${PIDS[2]}"
	stop_all
	if [ "$KEEP" != 1 ]; then
		rm -rf "$TMP/cluster.$i"
	fi
done

echo
echo "=== medians of $RUNS runs (microseconds of CPU per request)"
printf '%-6s %-5s %10s %8s %8s %8s %8s %8s\n' "" phase "req/s" client master vol1 vol2 total
for kind in ceil nullc base weed; do
	for ph in write read; do
		awk -v k="$kind" -v p="$ph" '
			function median(col,    i, j, n, v, t) {
				n = 0
				for (i = 1; i <= rows; i++) v[++n] = x[i, col]
				for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
				return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			}
			$1 == k && $2 == p { rows++; for (c = 4; c <= 9; c++) x[rows, c] = $c }
			END {
				if (!rows) exit
				printf "%-6s %-5s %10.0f %8.1f %8.1f %8.1f %8.1f %8.1f\n", k, p,
					median(4), median(5), median(6), median(7), median(8), median(9)
			}' "$TMP/rows"
	done
done
