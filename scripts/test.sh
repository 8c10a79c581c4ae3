#!/usr/bin/env bash
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
	echo "== $dir: Check summaries"
	grep -h -E "^(Running suite|[0-9]+%: Checks:)" \
		"$dir/Testing/Temporary/LastTest.log"
}

run_suite build
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_suite build-asan -DCHAND_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
echo "== all test runs passed"
