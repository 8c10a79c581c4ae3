#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets with clang (ASan + UBSan + coverage) and
# runs each for SECONDS (default 60), starting from the seed corpus in
# fuzz/corpus/<target>. Fails if any target finds a crash, a sanitizer
# report, a failed check, a leak or a timeout. Reproducers (crash-*,
# leak-*, timeout-*) are left in the work directory it prints.
#
#	scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Environment: CHAND_FUZZ_DIR: build directory (default ./build-fuzz);
# CHAND_FUZZ_WORK: where the growing corpora and reproducers go (default
# a new temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(proto conn shmring)
root=$(pwd)
dir=$(realpath -m "${CHAND_FUZZ_DIR:-build-fuzz}")
work=${CHAND_FUZZ_WORK:-$(mktemp -d /tmp/chand-fuzz-XXXXXX)}

# libFuzzer's runtime is only a recommendation of clang on bookworm.
CHAND_DEPS_EXTRA="clang libclang-rt-14-dev ${CHAND_DEPS_EXTRA:-}" \
	bash scripts/deps.sh
CC=clang cmake -S . -B "$dir" -DCHAND_FUZZ=ON -DCHAND_BUILD_TESTS=OFF \
	-DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$dir" -j"$(nproc)" >/dev/null

status=0
for t in "${targets[@]}"; do
	mkdir -p "$work/$t"
	echo "== fuzz_$t: ${secs}s, corpus $work/$t"
	# -timeout: one input taking 10 s is a hang; -rss_limit_mb bounds
	# growth. libFuzzer exits non-zero on any finding.
	if ! (cd "$work" && ASAN_OPTIONS=detect_leaks=1 \
	    "$dir/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 "$t" \
	    "$root/fuzz/corpus/$t" >"$t.log" 2>&1); then
		echo "fuzz_$t: FAILED; reproducer and log in $work" >&2
		tail -n 40 "$work/$t.log" >&2
		status=1
		continue
	fi
	grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)" \
		"$work/$t.log" || true
	grep -m1 -E "^#[0-9]+ +DONE +cov:" "$work/$t.log" || true
done
if [ $status -eq 0 ]; then
	echo "== fuzzing: no findings"
	[ -z "${CHAND_FUZZ_WORK:-}" ] && rm -rf "$work"
fi
exit $status
