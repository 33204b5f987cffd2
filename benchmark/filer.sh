#!/usr/bin/env bash
# benchmark/filer.sh: one large file through a filer, weed against SeaweedFS.
#
# Builds bin/weed, writes one file of SIZE_MB MiB of random bytes, then RUNS
# times, taking turns (weed, SeaweedFS, weed, SeaweedFS, ...) so that drift on
# the machine hits both alike: starts one master, one volume server and one
# filer of that system on 127.0.0.1 in a fresh temp dir, PUTs the file with
# `curl -T`, GETs it back with `curl -o /dev/null`, reads the filer's peak
# RSS (VmHWM), and stops everything. The first run of each system also
# checks that the bytes read back are the bytes written (untimed).
# Prints every run, then the medians: MB/s up and down (MiB per second: the
# file's size over curl's time_total), the CPU seconds the three servers
# spent on each (user + system, from /proc: a figure less disturbed than
# the speed by other work on the machine) and the filer's peak RSS in MiB,
# and weed's ratios to SeaweedFS.
#
# Knobs (environment): SEAWEEDFS_BIN=$HOME/seaweedfs-4.44/weed (a SeaweedFS
# `weed` binary, built from its repository; "none" measures weed alone)
# RUNS=3 SIZE_MB=512 MAXMB=4 (the chunk size of both filers, their -maxMB)
# KEEP=0 (1 keeps the temp dir and the logs) WEED_FILER_ARGS (extra flags
# for weed's filer) BASE_BIN (another weed build, measured as a third
# system "base" in the same turns: before and after a change).
# Ports (PORT_BASE=21000): weed PORT_BASE+333 (master), +80 (volume), +888
# (filer); SeaweedFS PORT_BASE+1333, +1080, +1888, with their gRPC ports
# 10000 above. The script stops if one of them answers before it starts
# its servers (another benchmark using them), or if a server dies.
# Usage: benchmark/filer.sh   or   make bench-filer
set -euo pipefail

SEAWEEDFS_BIN=${SEAWEEDFS_BIN:-$HOME/seaweedfs-4.44/weed}
RUNS=${RUNS:-3}
SIZE_MB=${SIZE_MB:-512}
MAXMB=${MAXMB:-4}
KEEP=${KEEP:-0}
WEED_FILER_ARGS=${WEED_FILER_ARGS:-}
BASE_BIN=${BASE_BIN:-}
PORT_BASE=${PORT_BASE:-21000}
WM=$((PORT_BASE + 333)) WV=$((PORT_BASE + 80)) WF=$((PORT_BASE + 888))
SM=$((PORT_BASE + 1333)) SV=$((PORT_BASE + 1080)) SF=$((PORT_BASE + 1888))

cd "$(dirname "$0")/.."
if [ "$SEAWEEDFS_BIN" != none ] && [ ! -x "$SEAWEEDFS_BIN" ]; then
	echo "SEAWEEDFS_BIN=$SEAWEEDFS_BIN is not an executable (SEAWEEDFS_BIN=none measures weed alone)" >&2
	exit 2
fi
go build -o bin/weed ./cmd/weed
WEED=$PWD/bin/weed

# TMP, PIDS, stop_all, the exit trap that stops everything and removes TMP,
# start, wait_until and answers.
. benchmark/cluster.sh
LOGS=() # the log name of each process in PIDS

# launch LOG BIN ARGS...: cluster.sh's start of BIN (output in TMP/LOG.log),
# with LOG kept for all_alive.
launch() {
	local log=$1 bin=$2
	shift 2
	START_BIN=$bin start "$log" "$@"
	LOGS+=("$log")
}

# ports_free PORT...: fails when something listens on one of the ports.
ports_free() {
	local port
	for port in "$@"; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "port $port is in use (another benchmark?); set PORT_BASE" >&2
			exit 1
		fi
	done
}

# all_alive: fails, showing its log, when a process started has exited.
all_alive() {
	local i
	for i in "${!PIDS[@]}"; do
		if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
			echo "a server exited (${LOGS[$i]}):" >&2
			tail -n 20 "$TMP/${LOGS[$i]}.log" >&2
			exit 1
		fi
	done
}

# assigns MASTER: the master hands out a fid (a volume server is registered
# and has room).
assigns() { curl -fsS "http://$1/dir/assign" 2>/dev/null | grep -q '"fid"'; }

# start_weed DIR [BIN]: master, volume server and filer of bin/weed (or BIN).
start_weed() {
	local d=$1 WEED=${2:-$WEED}
	mkdir -p "$d/m" "$d/v" "$d/f"
	ports_free "$WM" "$WV" "$WF"
	launch weed.master "$WEED" master -port="$WM" -mdir="$d/m" -pulseSeconds=1 -ip=127.0.0.1
	wait_until 200 "weed's master" answers "http://127.0.0.1:$WM/cluster/status"
	launch weed.volume "$WEED" volume -port="$WV" -dir="$d/v" -mserver="127.0.0.1:$WM" -max=30 -pulseSeconds=1 -ip=127.0.0.1
	# shellcheck disable=SC2086
	launch weed.filer "$WEED" filer -port="$WF" -master="127.0.0.1:$WM" -dir="$d/f" -maxMB="$MAXMB" -ip=127.0.0.1 $WEED_FILER_ARGS
	wait_until 300 "weed's volume server" assigns "127.0.0.1:$WM"
	wait_until 200 "weed's filer" answers "http://127.0.0.1:$WF/"
	all_alive
	FILER_PID=${PIDS[2]}
	FILER=127.0.0.1:$WF
}

# start_base DIR: master, volume server and filer of BASE_BIN.
start_base() { start_weed "$1" "$BASE_BIN"; }

# start_seaweedfs DIR: master, volume server and filer of SEAWEEDFS_BIN.
start_seaweedfs() {
	local d=$1
	mkdir -p "$d/m" "$d/v" "$d/f"
	ports_free "$SM" "$SV" "$SF" $((SM + 10000)) $((SV + 10000)) $((SF + 10000))
	launch sw.master "$SEAWEEDFS_BIN" master -ip=127.0.0.1 -port="$SM" -port.grpc=$((SM + 10000)) -mdir="$d/m" -telemetry=false
	wait_until 300 "SeaweedFS's master" answers "http://127.0.0.1:$SM/cluster/status"
	launch sw.volume "$SEAWEEDFS_BIN" volume -ip=127.0.0.1 -port="$SV" -port.grpc=$((SV + 10000)) -dir="$d/v" -master="127.0.0.1:$SM" -max=30
	launch sw.filer "$SEAWEEDFS_BIN" filer -ip=127.0.0.1 -port="$SF" -port.grpc=$((SF + 10000)) -master="127.0.0.1:$SM" \
		-defaultStoreDir="$d/f" -maxMB="$MAXMB"
	wait_until 600 "SeaweedFS's volume server" assigns "127.0.0.1:$SM"
	wait_until 600 "SeaweedFS's filer" answers "http://127.0.0.1:$SF/"
	all_alive
	FILER_PID=${PIDS[2]}
	FILER=127.0.0.1:$SF
}

# cpu_ticks: the user + system clock ticks of every process started.
cpu_ticks() {
	local pid t=0
	all_alive
	for pid in "${PIDS[@]}"; do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
	done
	echo "$t"
}

# cpu_seconds TICKS: TICKS in seconds, two decimals.
cpu_seconds() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'; }

# mbps SECONDS: SIZE_MB over SECONDS, one decimal.
mbps() { awk -v s="$1" -v m="$SIZE_MB" 'BEGIN { printf "%.1f", m / s }'; }

# run_one SYSTEM RUN: one turn of SYSTEM (weed or seaweedfs); appends
# "SYSTEM up down rssMiB upCPU downCPU" to TMP/results.
run_one() {
	local sys=$1 run=$2 d=$TMP/$1.$2 out up down hwm t0 t1 t2
	"start_$sys" "$d"
	local url="http://$FILER/bench/big.bin"
	t0=$(cpu_ticks)
	out=$(curl -sS -f -o /dev/null -w '%{http_code} %{time_total}' -T "$TMP/big.bin" \
		-H 'Content-Type: application/octet-stream' "$url")
	up=${out#* }
	t1=$(cpu_ticks)
	[ "${out%% *}" = 201 ] || [ "${out%% *}" = 200 ] || {
		echo "$sys: PUT answered ${out%% *}" >&2
		exit 1
	}
	out=$(curl -sS -f -o /dev/null -w '%{size_download} %{time_total}' "$url")
	down=${out#* }
	t2=$(cpu_ticks)
	if [ "${out%% *}" != "$((SIZE_MB << 20))" ]; then
		echo "$sys: GET returned ${out%% *} bytes, want $((SIZE_MB << 20))" >&2
		exit 1
	fi
	if [ "$run" = 1 ] && ! curl -sS -f "$url" | cmp -s - "$TMP/big.bin"; then
		echo "$sys: the bytes read back differ from the bytes written" >&2
		exit 1
	fi
	hwm=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$FILER_PID/status")
	all_alive
	local cup cdown
	cup=$(cpu_seconds $((t1 - t0)))
	cdown=$(cpu_seconds $((t2 - t1)))
	printf '%-9s run %d: PUT %7s MB/s (%ss, CPU %ss)  GET %7s MB/s (%ss, CPU %ss)  filer peak RSS %s MiB\n' \
		"$sys" "$run" "$(mbps "$up")" "$up" "$cup" "$(mbps "$down")" "$down" "$cdown" "$hwm"
	echo "$sys $(mbps "$up") $(mbps "$down") $hwm $cup $cdown" >>"$TMP/results"
	stop_all
	LOGS=()
	rm -rf "$d"
}

echo "writing $SIZE_MB MiB of random bytes"
head -c "$((SIZE_MB << 20))" /dev/urandom >"$TMP/big.bin"
systems=(weed)
[ -n "$BASE_BIN" ] && systems+=(base)
[ "$SEAWEEDFS_BIN" != none ] && systems+=(seaweedfs)
echo "weed: $WEED (filer -maxMB=$MAXMB)"
[ -n "$BASE_BIN" ] && echo "base: $BASE_BIN (filer -maxMB=$MAXMB)"
[ "$SEAWEEDFS_BIN" != none ] && echo "SeaweedFS: $SEAWEEDFS_BIN ($("$SEAWEEDFS_BIN" version 2>/dev/null | head -1); filer -maxMB=$MAXMB)"
for run in $(seq "$RUNS"); do
	for sys in "${systems[@]}"; do
		run_one "$sys" "$run"
	done
done

# median SYSTEM COLUMN: the median of a column of TMP/results.
median() {
	awk -v s="$1" -v c="$2" '$1 == s { print $c }' "$TMP/results" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo
echo "medians of $RUNS runs, one $SIZE_MB MiB file, -maxMB=$MAXMB:"
printf '%-9s %10s %10s %12s %12s %14s\n' system "PUT MB/s" "GET MB/s" "PUT CPU s" "GET CPU s" "filer RSS MiB"
for sys in "${systems[@]}"; do
	printf '%-9s %10s %10s %12s %12s %14s\n' "$sys" "$(median "$sys" 2)" "$(median "$sys" 3)" \
		"$(median "$sys" 5)" "$(median "$sys" 6)" "$(median "$sys" 4)"
done
if [ "$SEAWEEDFS_BIN" != none ]; then
	awk -v wu="$(median weed 2)" -v wd="$(median weed 3)" -v su="$(median seaweedfs 2)" -v sd="$(median seaweedfs 3)" \
		-v wcu="$(median weed 5)" -v wcd="$(median weed 6)" -v scu="$(median seaweedfs 5)" -v scd="$(median seaweedfs 6)" \
		'BEGIN { printf "weed / SeaweedFS: speed PUT %.2fx  GET %.2fx;  CPU PUT %.2fx  GET %.2fx\n", wu / su, wd / sd, wcu / scu, wcd / scd }'
fi
