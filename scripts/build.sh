#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs missing build dependencies and builds chand into ./build
# (or the directory given as $1). Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
