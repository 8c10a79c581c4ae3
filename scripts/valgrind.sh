#!/usr/bin/env bash
# Runs the end-to-end tests with every daemon they start through the
# harness under valgrind memcheck (tests/harness.c, CHAND_TEST_VALGRIND):
# a memory error, or a definite, indirect or possible leak when the daemon
# exits, fails the test that stopped it. Uses a plain build (not the
# sanitizer one: the two do not mix).
#
#	scripts/valgrind.sh [BUILD_DIR] [CTEST_REGEX]
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:-build}
regex=${2:-^e2e_}
CHAND_DEPS_EXTRA="valgrind ${CHAND_DEPS_EXTRA:-}" bash scripts/deps.sh
bash scripts/build.sh "$dir"
valgrind --version
echo "== $dir: end-to-end tests, daemon under valgrind memcheck"
CHAND_TEST_VALGRIND=1 ctest --test-dir "$dir" --output-on-failure \
	--timeout 1200 -j2 -R "$regex"
echo "== valgrind: no errors, no leaks"
