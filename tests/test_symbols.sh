#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_symbols.sh STATIC_LIB SHARED_LIB
#
# Only the public API leaves libchanclient: every global symbol that
# libchanclient.a defines, and every dynamic symbol libchanclient.so
# defines, is a chan_* function, and those of the shared library carry
# the version CHANCLIENT_0 (client/chanclient.map). Prints the counts.
set -euo pipefail

static=${1:?usage: test_symbols.sh STATIC_LIB SHARED_LIB}
shared=${2:?usage: test_symbols.sh STATIC_LIB SHARED_LIB}

fail() {
	echo "test_symbols: FAIL: $*" >&2
	exit 1
}

syms=$(nm -g --defined-only "$static" | awk 'NF == 3 { print $3 }' | sort -u)
n=$(grep -c . <<<"$syms" || true)
other=$(grep -v '^chan_' <<<"$syms" || true)
[[ -z $other ]] || fail "$static exports non-API symbols:"$'\n'"$other"
(( n > 0 )) || fail "$static exports nothing"
echo "test_symbols: $static: $n global symbols, all chan_*"

dyn=$(nm -D --defined-only "$shared" | awk 'NF == 3 { print $3 }' | sort -u)
n=$(grep -c . <<<"$dyn" || true)
other=$(grep -v -e '^chan_[a-z0-9_]*@@CHANCLIENT_0$' -e '^CHANCLIENT_0$' \
    <<<"$dyn" || true)
[[ -z $other ]] || fail "$shared exports unversioned or non-API symbols:"$'\n'"$other"
# The static and the shared library export the same API.
diff <(sed 's/@@CHANCLIENT_0$//' <<<"$dyn" | grep -v '^CHANCLIENT_0$') \
    - <<<"$syms" >&2 || fail "the two libraries export different functions"
echo "test_symbols: $shared: $((n - 1)) dynamic symbols, all chan_*@@CHANCLIENT_0"
echo "test_symbols: ok"
