#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the end-to-end tests with every daemon they start through the
# harness under valgrind memcheck (tests/harness.c, CHAND_TEST_VALGRIND):
# a memory error, or a definite, indirect or possible leak when the daemon
# exits, fails the test that stopped it. Uses a plain build (not the
# sanitizer one: the two do not mix). The test programs run directly,
# one after another, with Check's time limits multiplied: ctest's fixed
# per-test bound does not allow for valgrind's slowness. A TEST named
# NAME_shm (not a program itself) runs test_NAME with CHANCLIENT_SHM=1, every transmitter on a
# ring in shared memory (as ctest's *_shm runs); by default, every
# end-to-end program and the shared-memory runs of SHM_PARITY.
#
#	scripts/valgrind.sh [BUILD_DIR] [TEST...]   (TEST: e2e_channel,
#	e2e_fidelity_shm, ...)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:-build}
shift || true
CHAND_DEPS_EXTRA="valgrind ${CHAND_DEPS_EXTRA:-}" bash scripts/deps.sh
bash scripts/build.sh "$dir"
valgrind --version
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
	for t in "$dir"/tests/test_e2e_*; do
		tests+=("$(basename "$t" | sed 's/^test_//')")
	done
	# Parity suites on rings: the daemon's descriptors and mappings of
	# rings, and its grants at the daemon-wide limits.
	tests+=(e2e_fidelity_shm e2e_daemon_shm e2e_client_api_shm)
fi
failed=()
for t in "${tests[@]}"; do
	echo "== $t: daemon under valgrind memcheck"
	start=$(date +%s)
	prog=$t shm=
	if [[ $t == *_shm && ! -x $dir/tests/test_$t ]]; then
		prog=${t%_shm} shm=1
	fi
	if CHANCLIENT_SHM=$shm CHAND_TEST_VALGRIND=1 \
	    CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4} \
	    "$dir/tests/test_$prog"; then
		echo "== $t: passed in $(( $(date +%s) - start )) s"
	else
		failed+=("$t")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "== valgrind: FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "== valgrind: no errors, no leaks in ${#tests[@]} test programs"
