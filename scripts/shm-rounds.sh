#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs chan-bench's pipelined shared-memory batches ("chand shm many")
# beside the relay and the direct socket for ROUNDS rounds of one
# invocation each, and prints every round's ratios and their medians:
# this shared machine moves single runs by up to 2x, so only figures from
# the same round compare.
#
#	scripts/shm-rounds.sh [BUILD] [ROUNDS] [SIZE] [COUNT] [PRODUCERS]
#
# Defaults: ./build, 9 rounds, 16-byte messages, 20000000 of them, one
# producer. Targets ring and packed-inline (no daemon) run too, as the
# ceiling of a ring on this machine.
set -euo pipefail

build=$(realpath "${1:-build}")
rounds=${2:-9}
size=${3:-16}
count=${4:-20000000}
prods=${5:-1}
bench=$build/bench/chan-bench
[ -x "$bench" ] || { echo "shm-rounds: no $bench" >&2; exit 2; }
targets=chand,relay,direct
[ "$prods" = 1 ] && targets=$targets,ring,packed-inline

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq 1 "$rounds"); do
	"$bench" --chand "$build/daemon/chand" -t "$targets" --shm \
	    --batch 512 -P "$prods" -s "$size" -n "$count" --no-latency \
	    2> >(grep -v ': ok$' >&2) |
	    awk -v r="$r" '
		/^chand shm many / { many = $7; mp = $10; mc = $11; ms = $12 }
		/^relay /          { relay = $5 }
		/^direct /         { direct = $5 }
		/^ring /           { ring = $5 }
		/^packed-inline /  { packed = $5 }
		END {
			printf "round %d: shm many %.1f M/s (ns prod %s cons %s srv %s)  relay %.1f M  direct %.1f M", r, many / 1e6, mp, mc, ms, relay / 1e6, direct / 1e6
			if (ring > 0)
				printf "  ring %.1f M  packed-inline %.1f M", ring / 1e6, packed / 1e6
			printf "  xrelay %.2f  xdirect %.2f\n", many / relay, many / direct
		}' | tee -a "$out"
done
# Median and range of one ratio column (xrelay or xdirect).
median() {
	grep -o "$1 [0-9.]*" "$out" | awk '{ print $2 }' | sort -n |
	    awk -v l="$1" '{ v[NR] = $1 } END {
		printf "%s median %.2f (%.2f-%.2f) of %d rounds\n", l,
		    v[int((NR + 1) / 2)], v[1], v[NR], NR }'
}
median xrelay
median xdirect
