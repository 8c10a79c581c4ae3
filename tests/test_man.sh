#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_man.sh BUILD_DIR SOURCE_DIR
#
# The manual pages, as built (roff), against the programs: every long
# option that a program's --help mentions appears in its page, every
# option the page's OPTIONS section lists is one --help knows, and the
# exit codes of both EXIT STATUS sections are the same. libchanclient(3)
# names every function chanclient.h exports, and each of them has a page
# of its own name in section 3 (its group's page, or a .so link to it)
# whose NAME and SYNOPSIS list it; man(1) finds it by that name. chand(8)
# and chan-bench(1) have EXAMPLES; no page keeps an unfilled @VARIABLE@,
# and chand(8)'s FILES name the configured prefix's paths.
set -euo pipefail

build=${1:?usage: test_man.sh BUILD_DIR SOURCE_DIR [SYSCONFDIR DOCDIR]}
src=${2:?usage: test_man.sh BUILD_DIR SOURCE_DIR [SYSCONFDIR DOCDIR]}
sysconfdir=${3:-}
docdir=${4:-}
failures=0

fail() {
	echo "test_man: FAIL: $*" >&2
	failures=$((failures + 1))
}

# Roff as plain text: no font escapes, no \& or \-.
plain() {
	sed -e 's/\\f[BIRP]//g' -e 's/\\&//g' -e 's/\\-/-/g' -e 's/\\(en/-/g' "$1"
}

# The lines of section $2 (".SH NAME" up to the next .SH) of roff file $1.
section() {
	plain "$1" | awk -v s=".SH $2" '$0 == s { p = 1; next } /^\.SH/ { p = 0 } p'
}

check_program() {
	local prog=$1 page=$2 help text opt
	local -a help_opts man_opts help_codes man_codes

	[[ -f $page ]] || { fail "$page not built"; return; }
	help=$("$prog" --help) || { fail "$prog --help failed"; return; }
	text=$(plain "$page")
	mapfile -t help_opts < <(grep -oE -- '--[a-z][a-z0-9-]*' <<<"$help" | sort -u)
	[[ ${#help_opts[@]} -gt 0 ]] || fail "$prog --help lists no long option"
	for opt in "${help_opts[@]}"; do
		grep -qF -- "$opt" <<<"$text" ||
		    fail "$(basename "$page"): no $opt (in $(basename "$prog") --help)"
	done
	mapfile -t man_opts < <(section "$page" OPTIONS |
	    grep -oE -- '^(-[a-zA-Z0-9], )?--[a-z][a-z0-9-]*' | grep -oE -- '--[a-z0-9-]+' | sort -u)
	[[ ${#man_opts[@]} -gt 0 ]] || fail "$(basename "$page"): OPTIONS lists no option"
	for opt in "${man_opts[@]}"; do
		grep -qxF -- "$opt" <<<"$(printf '%s\n' "${help_opts[@]}")" ||
		    fail "$(basename "$page") documents $opt, unknown to $(basename "$prog") --help"
	done
	# An EXIT STATUS section of "  N  text" lines, or a paragraph
	# "Exit status: 0 text; 1 text; 2 text."
	mapfile -t help_codes < <({ awk '/^EXIT STATUS/ { p = 1; next } /^[A-Z]/ { p = 0 }
	    p && match($0, /^ +[0-9]+  /) { print $1 }' <<<"$help"
	    awk '/^Exit status:/ { p = 1 } /^$/ { p = 0 } p' <<<"$help" |
	    tr '\n' ' ' | grep -oE '(:|;) [0-9]+ ' | grep -oE '[0-9]+'; } | sort -n)
	mapfile -t man_codes < <(section "$page" "EXIT STATUS" | grep -E '^[0-9]+$' | sort -n)
	[[ ${#help_codes[@]} -gt 0 ]] || fail "$(basename "$prog") --help lists no exit code"
	[[ "${help_codes[*]}" == "${man_codes[*]}" ]] ||
	    fail "$(basename "$page") exit codes (${man_codes[*]}) differ from --help (${help_codes[*]})"
	echo "test_man: $(basename "$page"): ${#help_opts[@]} options, exit codes ${help_codes[*]}"
}

check_program "$build/daemon/chand" "$build/man/chand.8"
check_program "$build/client/chan-send" "$build/man/chan-send.1"
check_program "$build/client/chan-recv" "$build/man/chan-recv.1"
check_program "$build/client/chanctl" "$build/man/chanctl.1"
check_program "$build/bench/chan-bench" "$build/man/chan-bench.1"
if [[ -x $build/bridge/chan-bridge ]]; then
	check_program "$build/bridge/chan-bridge" "$build/man/chan-bridge.1"
fi

page=$build/man/libchanclient.3
mapfile -t funcs < <(grep -oE '^CHAN_EXPORT [^(]*\b(chan_[a-z_]+)\(' \
    "$src/client/include/chanclient.h" | grep -oE 'chan_[a-z_]+' | sort -u)
[[ ${#funcs[@]} -gt 0 ]] || fail "no CHAN_EXPORT function found in chanclient.h"
text=$(plain "$page")
for f in "${funcs[@]}"; do
	grep -qE "(^|[^a-z_])$f\\(" <<<"$text" ||
	    fail "libchanclient.3 does not document $f()"
done
echo "test_man: libchanclient.3: ${#funcs[@]} functions"

# One page per function name: the group's page, or ".so man3/PAGE.3".
declare -A groups=()
for f in "${funcs[@]}"; do
	p=$build/man/$f.3
	[[ -f $p ]] || { fail "no page $f.3"; continue; }
	if [[ $(head -c 4 "$p") == ".so " ]]; then
		target=$(sed -n '1s/^\.so man3\///p' "$p")
		[[ $(wc -l <"$p") -eq 1 && -n $target ]] ||
		    { fail "$f.3 is not a one-line .so man3/PAGE.3 link"; continue; }
		p=$build/man/$target
		[[ -f $p ]] || { fail "$f.3 links to $target, which is not built"; continue; }
	fi
	groups[$(basename "$p")]=1
	section "$p" NAME | grep -qE "(^|[ ,])$f(,| -)" ||
	    fail "$(basename "$p") does not name $f in NAME"
	section "$p" SYNOPSIS | grep -qE "(^|[^a-z_])$f\(" ||
	    fail "$(basename "$p") has no prototype of $f in SYNOPSIS"
done
echo "test_man: section 3: ${#funcs[@]} names, ${#groups[@]} pages"

# man(1) finds a function's page by its name, through the .so link.
if command -v man >/dev/null; then
	mtmp=$(mktemp -d)
	trap 'rm -rf "$mtmp"' EXIT
	mkdir "$mtmp/man3"
	cp "$build"/man/*.3 "$mtmp/man3/"
	for f in chan_tx_send chan_rx_ack chan_client_admin chan_errname; do
		out=$(MANPAGER=cat MANWIDTH=200 man -M "$mtmp" 3 "$f" 2>&1) ||
		    { fail "man 3 $f: $out"; continue; }
		grep -qE "^ +int $f\(|^ +const char \*$f\(" <<<"$out" ||
		    fail "man 3 $f does not show its prototype"
	done
else
	echo "test_man: man(1) is not installed: section 3 lookups not run"
fi

for page in "$build/man/chand.8" "$build/man/chan-bench.1"; do
	section "$page" EXAMPLES | grep -q '[a-z]' ||
	    fail "$(basename "$page") has no EXAMPLES"
done
for page in "$build"/man/*.[0-9]; do
	grep -q '@[A-Z_]*@' "$page" && fail "$(basename "$page") keeps an unfilled @VARIABLE@"
done
if [[ -n $sysconfdir && -n $docdir ]]; then
	files=$(section "$build/man/chand.8" FILES)
	grep -qF "$sysconfdir/chand/chand.conf" <<<"$files" ||
	    fail "chand.8 FILES does not name $sysconfdir/chand/chand.conf"
	grep -qF "$docdir/" <<<"$files" ||
	    fail "chand.8 FILES does not name $docdir"
fi

if [[ $failures -gt 0 ]]; then
	echo "test_man: $failures failure(s)" >&2
	exit 1
fi
echo "test_man: all pages match"
