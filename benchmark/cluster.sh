# shellcheck shell=bash
# benchmark/cluster.sh: the knobs and the process handling shared by
# benchmark/run.sh, benchmark/cpu.sh and benchmark/profile.sh (sourced, not
# run, from the repository's root). Sets the shared knobs' defaults (below),
# TMP, and a trap that stops every process started with start() and removes
# TMP on exit. Its functions expect WEED (the weed binary; build_binaries
# sets it), and read SERVER_ENV and SERVER_BIN when set.

# Knobs (environment): C=16 SIZE=1024 REPLICATION=000 PORT=29333 (master;
# volume servers on VPORT1=28081, VPORT2=28082) KEEP=0 (1 keeps the temp
# dir) WEED_SERVER_ARGS (extra global flags for the master and volume
# servers) CLIENT=weed (weedfs: benchmark/weedfsclient, a client that spends
# per request what weed-fs 0.70's benchmark did, instead of `weed benchmark`).
C=${C:-16}
SIZE=${SIZE:-1024}
REPLICATION=${REPLICATION:-000}
PORT=${PORT:-29333}
VPORT1=${VPORT1:-28081}
VPORT2=${VPORT2:-28082}
KEEP=${KEEP:-0}
CLIENT=${CLIENT:-weed}
WEED_SERVER_ARGS=${WEED_SERVER_ARGS:-}
# The null servers answer reads with the mean size the benchmark writes
# (SIZE plus 0 to 63 random bytes).
NULLSIZE=$((SIZE + 32))

TMP=$(mktemp -d "${TMPDIR:-/tmp}/weed-bench.XXXXXX")
PIDS=()

# stop_all stops every process this script started, by pid.
stop_all() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	PIDS=()
}

cleanup() {
	stop_all
	if [ "$KEEP" = 1 ]; then
		echo "kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# build_binaries: builds bin/weed and sets WEED to it, and sets CLIENT_CMD,
# the benchmark client CLIENT names (building it if it is not bin/weed).
# shellcheck disable=SC2034 # CLIENT_CMD is for the scripts that source this
build_binaries() {
	go build -o bin/weed ./cmd/weed
	WEED=$PWD/bin/weed
	case $CLIENT in
	weed) CLIENT_CMD=("$WEED" benchmark) ;;
	weedfs)
		go build -o bin/weedfsclient ./benchmark/weedfsclient
		CLIENT_CMD=("$PWD/bin/weedfsclient")
		;;
	*)
		echo "CLIENT=$CLIENT: weed or weedfs" >&2
		exit 2
		;;
	esac
}

# start LOGNAME ARGS...: runs bin/weed ARGS in the background, with the
# environment assignments in SERVER_ENV (such as GOMAXPROCS=1) if any. With
# START_BIN set, that binary runs instead of bin/weed.
start() {
	local log=$1
	shift
	# shellcheck disable=SC2086
	env ${SERVER_ENV:-} "${START_BIN:-$WEED}" "$@" >"$TMP/$log.log" 2>&1 &
	PIDS+=($!)
}

# wait_until TRIES WHAT COMMAND...: runs COMMAND every 0.1 s until it
# succeeds, at most TRIES times; on timeout says it was waiting for WHAT
# and fails.
wait_until() {
	local tries=$1 what=$2
	shift 2
	for _ in $(seq "$tries"); do
		if "$@"; then
			return 0
		fi
		sleep 0.1
	done
	echo "timed out waiting for $what" >&2
	return 1
}

answers() { curl -fsS -o /dev/null "$1" 2>/dev/null; }

lists_nodes() {
	local got
	got=$(curl -fsS "http://127.0.0.1:$PORT/dir/status" 2>/dev/null | grep -o '"Url"' | wc -l || true)
	[ "${got:-0}" -ge "$1" ]
}

leads() { curl -fsS "http://127.0.0.1:$PORT/cluster/status" 2>/dev/null | grep -q '"IsLeader":true'; }

# wait_http URL: waits up to 20 s for URL to answer.
wait_http() { wait_until 200 "$1" answers "$1"; }

# wait_nodes COUNT: waits until the master lists COUNT data nodes.
wait_nodes() { wait_until 200 "$1 volume servers" lists_nodes "$1"; }

# wait_settled: waits until the master on PORT leads, then for 3 pulses of
# 1 s. A new leader grows no volume during its first 2.5 pulses (it waits
# for heartbeats first); this keeps that one-time wait, a property of a
# master that has just been elected, out of the write figures. The first
# assign still grows the volumes.
wait_settled() {
	wait_until 300 "the master to lead" leads && sleep 3
}

# start_cluster DIR [VOLUME FLAGS...]: one master (pulse 1 s) and two volume
# servers on 127.0.0.1, data under DIR; returns once both servers are
# registered and the master has settled. Extra arguments go to both volume
# servers. PPROF=1 serves pprof on PORT+1000 (master), VPORT1+1000 and
# VPORT2+1000. The servers are SERVER_BIN when set (another build, to
# compare), else bin/weed.
start_cluster() {
	local d=$1
	shift
	local START_BIN=${SERVER_BIN:-}
	mkdir -p "$d/m" "$d/v1" "$d/v2"
	local pm="" p1="" p2=""
	if [ "${PPROF:-0}" = 1 ]; then
		pm="-pprof=127.0.0.1:$((PORT + 1000))"
		p1="-pprof=127.0.0.1:$((VPORT1 + 1000))"
		p2="-pprof=127.0.0.1:$((VPORT2 + 1000))"
	fi
	# shellcheck disable=SC2086
	start "${d#"$TMP"/}/master" $WEED_SERVER_ARGS $pm master -port="$PORT" -mdir="$d/m" -pulseSeconds=1 -ip=127.0.0.1
	wait_http "http://127.0.0.1:$PORT/cluster/status"
	# shellcheck disable=SC2086
	start "${d#"$TMP"/}/volume1" $WEED_SERVER_ARGS $p1 volume -port="$VPORT1" -dir="$d/v1" -mserver="127.0.0.1:$PORT" \
		-max=30 -pulseSeconds=1 -ip=127.0.0.1 "$@"
	# shellcheck disable=SC2086
	start "${d#"$TMP"/}/volume2" $WEED_SERVER_ARGS $p2 volume -port="$VPORT2" -dir="$d/v2" -mserver="127.0.0.1:$PORT" \
		-max=30 -pulseSeconds=1 -ip=127.0.0.1 "$@"
	wait_settled
	wait_nodes 2
}

# start_null: the ceiling, one nullserver on PORT; returns once it answers.
start_null() {
	start null nullserver -port="$PORT" -size="$NULLSIZE"
	wait_http "http://127.0.0.1:$PORT/dir/lookup?volumeId=1"
}

# start_null_cluster: the null cluster, do-nothing volume servers on VPORT1
# and VPORT2 and a do-nothing master on PORT that sends clients to them
# (PIDS: volume 1, volume 2, master); returns once all three answer.
start_null_cluster() {
	start nullv1 nullserver -port="$VPORT1" -size="$NULLSIZE"
	start nullv2 nullserver -port="$VPORT2" -size="$NULLSIZE"
	start nullm nullserver -port="$PORT" -size="$NULLSIZE" -volumes="127.0.0.1:$VPORT1,127.0.0.1:$VPORT2"
	wait_http "http://127.0.0.1:$VPORT1/dir/lookup?volumeId=1"
	wait_http "http://127.0.0.1:$VPORT2/dir/lookup?volumeId=1"
	wait_http "http://127.0.0.1:$PORT/dir/lookup?volumeId=1"
}
