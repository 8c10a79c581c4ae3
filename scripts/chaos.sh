#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The long form of the chaos test (tests/test_e2e_chaos.c): hundreds of
# producers and consumers connecting, being SIGKILLed and sending garbage
# against one chand for SECONDS (default 300), then every confirmed
# message checked, and the daemon's descriptors and memory compared with
# their baseline. Prints the run's figures.
#
#	scripts/chaos.sh [SECONDS] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-300}
dir=${2:-build}
bash scripts/build.sh "$dir"
CHAND_CHAOS_SECS=$secs CK_DEFAULT_TIMEOUT=$((120 + 20 * secs)) \
	"$dir/tests/test_e2e_chaos" 2>&1 |
	grep -v -E "^chand: (warning|notice): (frame of|protocol error|handshake)"
