#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds chand twice, plainly and under AddressSanitizer +
# UndefinedBehaviorSanitizer, and runs the whole test suite on each.
set -euo pipefail
cd "$(dirname "$0")/.."

run_suite() {
	local dir=$1; shift
	echo "== $dir: build"
	bash scripts/build.sh "$dir" "$@"
	echo "== $dir: test"
	ctest --test-dir "$dir" --output-on-failure --timeout 600 -j2
	echo "== $dir: Check and pytest summaries"
	grep -h -E "^(Running suite|[0-9]+%: Checks:|SKIPPED \[|[0-9]+ (passed|failed).* in [0-9.]+s|fairness, round|chaos: )" \
		"$dir/Testing/Temporary/LastTest.log"
}

# A short benchmark: prints its figures and fails only if a message was
# lost, duplicated, reordered or damaged; no timing is asserted.
bench_smoke() {
	local dir=$1
	echo "== $dir: benchmark smoke"
	"$dir/bench/chan-bench" --smoke --channels 1,100 --recv each,set,select \
		--conns 1,50 --memory
	# The variant targets, run only if named: the ring's consumer copying
	# out or reading in place, and payloads by reference.
	"$dir/bench/chan-bench" --smoke --targets ring-copy,ring-read,memfd \
		--producers 1 --sizes 16,1048576
	# Durable channels under every sync policy, beside the in-memory run.
	"$dir/bench/chan-bench" --smoke --durable --targets chand \
		--sizes 1024 --producers 2
	# Through chan-bridge and NATS JetStream, next to plain JetStream.
	if [ -x "$dir/bridge/chan-bridge-bench" ] &&
	    command -v nats-server >/dev/null; then
		bash bench/bridge-bench.sh "$dir" -n 5000 -l 200
	fi
}

run_suite build
bench_smoke build
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_suite build-asan -DCHAND_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	bench_smoke build-asan
# Fuzzing and the valgrind run take minutes: CI runs them, a developer
# runs scripts/fuzz.sh and scripts/valgrind.sh when touching the code
# they cover.
if [ "${CI:-}" = true ]; then
	bash scripts/fuzz.sh 60
	bash scripts/valgrind.sh build
fi
echo "== all test runs passed"
