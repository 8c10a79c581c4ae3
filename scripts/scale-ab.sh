#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Compares the CPU per message at one channel and at K channels read from
# a receiver set (chan-bench -c 1, then -c K --recv set) of two builds,
# each with its own daemon and library, run in turn for ROUNDS rounds:
# this shared machine moves single runs by up to 2x, so only rounds run
# side by side compare. Prints each run, then per build the medians and
# each round's K-channel figure over its one-channel figure.
#
#	scripts/scale-ab.sh BUILD_A BUILD_B [ROUNDS] [K] [COUNT]
#
# A build is a CMake build directory with bench/chan-bench and
# daemon/chand (for the tree before a change: git worktree add, then
# cmake and make there). Defaults: 9 rounds, K=10000, 10000000 messages.
set -euo pipefail

if [ $# -lt 2 ]; then
	sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
a=$(realpath "$1")
b=$(realpath "$2")
rounds=${3:-9}
k=${4:-10000}
count=${5:-10000000}
for d in "$a" "$b"; do
	for f in bench/chan-bench daemon/chand; do
		[ -x "$d/$f" ] || { echo "scale-ab: no $d/$f" >&2; exit 2; }
	done
done

# One chan-bench run: "LABEL ROUND K PROD CONS SRV MSGS_PER_S".
run() {
	local d=$1 label=$2 r=$3 kk=$4 extra=()

	[ "$kk" -gt 1 ] && extra=(--recv set)
	"$d/bench/chan-bench" --chand "$d/daemon/chand" -t chand -P 1 -s 16 \
	    -c "$kk" "${extra[@]}" --no-latency --no-throughput -n "$count" \
	    2> >(grep -v ': ok$' >&2) |
	    awk -v l="$label" -v r="$r" -v k="$kk" '
		# "chand K=1,C=1 SIZE MSGS PER MSGS/S PROD CONS SRV ... CHECK";
		# a set run names its receiving after K, one field more.
		/^chand K=/ {
			o = $3 == "set"
			if ($NF != "ok")
				print "scale-ab: check failed: " $0 > "/dev/stderr"
			print l, r, k, $(7 + o), $(8 + o), $(9 + o), $(6 + o)
		}'
}

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
	for pair in "A $a" "B $b"; do
		set -- $pair
		run "$2" "$1" "$r" 1 | tee -a "$out"
		run "$2" "$1" "$r" "$k" | tee -a "$out"
	done
done

awk -v k="$k" '
function median(arr, n,    i, j, t) {
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && arr[j-1] > arr[j]; j--) {
			t = arr[j]; arr[j] = arr[j-1]; arr[j-1] = t
		}
	return n % 2 ? arr[(n+1)/2] : (arr[n/2] + arr[n/2+1]) / 2
}
# Fields: label round K producer consumer daemon msgs/s.
{
	key = $1 SUBSEP $3
	i = ++n[key]
	prod[key, i] = $4; cons[key, i] = $5; srv[key, i] = $6; rate[key, i] = $7
	if ($3 == 1) {
		cons1[$1, $2] = $5; srv1[$1, $2] = $6
	} else if (cons1[$1, $2] > 0 && srv1[$1, $2] > 0) {
		j = ++nr[$1]
		rc[$1, j] = $5 / cons1[$1, $2]; rs[$1, j] = $6 / srv1[$1, $2]
	}
}
END {
	split("A B", labels, " ")
	for (li = 1; li <= 2; li++) {
		l = labels[li]
		for (kk = 0; kk < 2; kk++) {
			kv = kk ? k : 1
			key = l SUBSEP kv
			m = n[key]
			for (i = 1; i <= m; i++) {
				p[i] = prod[key, i]; c[i] = cons[key, i]
				s[i] = srv[key, i]; t[i] = rate[key, i]
			}
			printf("%s K=%-6s median of %d: producer %d, consumer %d, " \
			    "daemon %d ns a message; %.2f M messages/s\n", l, kv,
			    m, median(p, m), median(c, m), median(s, m),
			    median(t, m) / 1e6)
		}
		m = nr[l]
		for (i = 1; i <= m; i++) { c[i] = rc[l, i]; s[i] = rs[l, i] }
		printf("%s K=%d over K=1, median of %d rounds: consumer %.2fx, " \
		    "daemon %.2fx\n", l, k, m, median(c, m), median(s, m))
	}
}' "$out"
