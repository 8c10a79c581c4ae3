#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Compares the one-way latency of chand's rings with a blocking consumer
# (chan-bench's "chand shm" row) of two builds, each with its own daemon
# and library, run in turn for ROUNDS rounds, each beside the relay of
# its own invocation: this shared machine moves single runs by up to 2x,
# so only figures from the same round compare. Prints each run, then per
# build the median and range of p50 and of p50 over the relay's.
#
#	scripts/lat-ab.sh BUILD_A BUILD_B [ROUNDS] [SIZE]
#
# A build is a CMake build directory with bench/chan-bench and
# daemon/chand (for the tree before a change: git worktree add, then
# cmake and make there). Defaults: 8 rounds, 16-byte messages, at
# chan-bench's default rate (10,000 messages/s).
set -euo pipefail

if [ $# -lt 2 ]; then
	sed -n '3,15p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
a=$(realpath "$1")
b=$(realpath "$2")
rounds=${3:-8}
size=${4:-16}
for d in "$a" "$b"; do
	for f in bench/chan-bench daemon/chand; do
		[ -x "$d/$f" ] || { echo "lat-ab: no $d/$f" >&2; exit 2; }
	done
done

out=$(mktemp)
trap 'rm -f "$out"' EXIT
# One run of build $2, labelled $1: "A p50 P p99 Q relay R x X".
run() {
	"$2/bench/chan-bench" --chand "$2/daemon/chand" -t chand,relay \
	    --shm -P 1 -s "$size" --no-throughput 2> >(grep -v ': ok$' >&2) |
	    awk -v l="$1" '
		/^chand shm / { p = $6; q = $7 }
		/^relay /     { r = $5 }
		END { printf "%s p50 %.1f p99 %.1f relay %.1f x %.2f\n",
		    l, p, q, r, p / r }'
}
for r in $(seq 1 "$rounds"); do
	run A "$a" | tee -a "$out"
	run B "$b" | tee -a "$out"
done
# Median and range of field f (p50 or x) of build l's runs.
median() {
	awk -v l="$1" -v f="$2" '$1 == l {
		for (i = 2; i < NF; i++) if ($i == f) print $(i + 1) }' "$out" |
	    sort -n | awk -v l="$1" -v f="$2" '{ v[NR] = $1 } END {
		printf "%s %s median %.2f (%.2f-%.2f) of %d rounds\n", l, f,
		    (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2),
		    v[1], v[NR], NR }'
}
for l in A B; do
	median "$l" p50
	median "$l" x
done
