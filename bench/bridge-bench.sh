#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bridge-bench.sh [BUILD_DIR] [chan-bridge-bench options]
#
# Throughput and one-way latency of one producer and one consumer, 1 KiB
# messages by default, through three paths in the same run, on this
# machine: a local chand channel; chand on "host" A, chan-bridge, NATS
# JetStream, chan-bridge, chand on "host" B; and a plain NATS C client
# publishing to and consuming from a stream set up the same way. Starts a
# private nats-server (loopback, its own store) and two daemons, and
# stops them by pid. Each message is checked: any loss, duplicate or
# reordering fails the run. No timing is asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build}
shift || true
NATS=$(command -v nats-server) || { echo "nats-server is not installed" >&2; exit 1; }
BENCH=$build/bridge/chan-bridge-bench
[ -x "$BENCH" ] || { echo "$BENCH not built (libnats-dev missing?)" >&2; exit 1; }

dir=$(mktemp -d /tmp/bridge-bench.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

wait_for() {
	local i
	for ((i = 0; i < 400; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	echo "bridge-bench: timed out waiting for: $*" >&2
	exit 1
}

"$NATS" -a 127.0.0.1 -p -1 -js -sd "$dir/js" > "$dir/nats.log" 2>&1 &
pids+=($!)
wait_for grep -q "Server is ready" "$dir/nats.log"
port=$(sed -n 's/.*Listening for client connections on 127.0.0.1:\([0-9]*\).*/\1/p' "$dir/nats.log")
url=nats://127.0.0.1:$port

for h in A B; do
	"$build/daemon/chand" --socket "$dir/$h.sock" --log-level warning &
	pids+=($!)
	wait_for "$build/client/chanctl" --socket "$dir/$h.sock" status >/dev/null 2>&1
done
"$build/bridge/chan-bridge" --url "$url" --socket "$dir/A.sock" --host A \
    --export bench --ready-fd 3 3> "$dir/ready-A" &
pids+=($!)
"$build/bridge/chan-bridge" --url "$url" --socket "$dir/B.sock" --host B \
    --import bench --ready-fd 3 3> "$dir/ready-B" &
pids+=($!)
wait_for grep -q READY "$dir/ready-A"
wait_for grep -q READY "$dir/ready-B"

local_line=$("$BENCH" "$@" chand "$dir/A.sock" local)
js_line=$("$BENCH" "$@" jetstream "$url" BENCH_PLAIN)
bridge_line=$("$BENCH" "$@" bridge "$dir/A.sock" "$dir/B.sock" bench)

read -r _ js_rate _ _ _ <<<"$js_line"
echo "one producer, one consumer, $(nproc) cores, load average $(cut -d" " -f1-3 /proc/loadavg)"
echo "throughput: as fast as possible;"
echo "latency: one-way, paced, each send confirmed before the next"
printf "%-28s %10s %8s %8s %8s %10s\n" path msgs/s MB/s p50_us p99_us vs_js
for l in "$local_line" "$js_line" "$bridge_line"; do
	read -r mode rate mbs p50 p99 <<<"$l"
	case $mode in
	chand) name="local chand" ;;
	jetstream) name="plain JetStream (C client)" ;;
	bridge) name="chand-bridge-JS-bridge-chand" ;;
	esac
	printf "%-28s %10s %8s %8s %8s %9.0f%%\n" "$name" "$rate" "$mbs" \
	    "${p50:--}" "${p99:--}" "$(awk -v a="$rate" -v b="$js_rate" 'BEGIN { print 100 * a / b }')"
done
