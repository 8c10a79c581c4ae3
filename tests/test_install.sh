#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_install.sh BUILD_DIR SOURCE_DIR [CMAKE]
#
# Installs the build into a private prefix and uses it the way the README
# tells a user to: the README's C example (kept verbatim in
# tests/example_app.c, and checked against the README here) is compiled
# with `pkg-config --cflags --libs chanclient`, once against the shared
# library and once, with `pkg-config --static`, against the static one,
# and by a CMake project (tests/cmake_consumer) through
# find_package(chanclient), again shared and static. Each binary receives
# `seq 1 9` from the installed chan-send through the installed chand,
# started on a private socket, and must print 1..9 and exit 0; the
# installed chanctl then counts the messages. The installed systemd units
# must pass `systemd-analyze verify`, and the manual pages and service
# files must be where the system looks for them.
#
# Nothing sleeps: readiness comes from chand --ready-fd on a FIFO, and the
# daemon's exit from end of file on its stderr FIFO; every wait is bounded.
# $CHAND_TEST_CFLAGS is added to each compilation (the sanitizer build
# needs -fsanitize=... to link against its instrumented library).
set -euo pipefail

build=${1:?usage: test_install.sh BUILD_DIR SOURCE_DIR [CMAKE]}
src=${2:?usage: test_install.sh BUILD_DIR SOURCE_DIR [CMAKE]}
cmake=${3:-cmake}
extra_cflags=${CHAND_TEST_CFLAGS:-}
wait_s=20

tmp=$(mktemp -d /tmp/chand-install-XXXXXX)
prefix=$tmp/prefix
sock=$tmp/chand.sock
daemon_pid=

cleanup() {
	if [[ -n $daemon_pid ]]; then
		kill -KILL "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "test_install: FAIL: $*" >&2
	if [[ -n $daemon_pid ]]; then
		kill -KILL "$daemon_pid" 2>/dev/null || true
		echo "---- chand log ----" >&2
		timeout 5 cat <&5 >&2 || true
		echo "---- end of log ----" >&2
	fi
	exit 1
}

step() {
	echo "test_install: $*"
}

# The README's example, de-indented, must be tests/example_app.c.
step "README example is tests/example_app.c"
awk '/^    #include <chanclient.h>$/ { p = 1 } p { print } p && /^    }$/ { exit }' \
    "$src/README.md" | sed 's/^    //' >"$tmp/readme_example.c"
# (The file's licence line is not the README's.)
grep -v '^/\* SPDX-License-Identifier' "$src/tests/example_app.c" |
    diff -u - "$tmp/readme_example.c" >&2 ||
    fail "README.md's C example differs from tests/example_app.c"

step "cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "cmake --install failed"; }
for f in sbin/chand bin/chan-send bin/chan-recv bin/chanctl \
    include/chanclient.h share/man/man8/chand.8 share/man/man1/chan-send.1 \
    share/man/man1/chan-recv.1 share/man/man1/chanctl.1 \
    share/man/man1/chan-bench.1 \
    share/man/man3/libchanclient.3 share/man/man3/chan_tx_open.3 \
    share/man/man3/chan_tx_send.3 share/doc/chand/protocol.md \
    share/doc/chand/durability.md share/doc/chand/python.md \
    lib/systemd/system/chand.service \
    lib/systemd/system/chand.socket lib/sysusers.d/chand.conf \
    etc/chand/chand.conf; do
	[[ -x $prefix/$f || -f $prefix/$f ]] || fail "$f not installed"
done

# The units as installed: they name this prefix's chand and config file.
step "systemd-analyze verify chand.socket chand.service"
units=$prefix/lib/systemd/system
grep -qx "ExecStart=$prefix/sbin/chand --socket /run/chand.sock --config $prefix/etc/chand/chand.conf --data-dir /var/lib/chand" \
    "$units/chand.service" || fail "chand.service does not run $prefix/sbin/chand"
grep -qx "ExecReload=$prefix/bin/chanctl --socket /run/chand.sock reload" \
    "$units/chand.service" || fail "chand.service does not reload with $prefix/bin/chanctl"
# The pages name this prefix's files, not the configured prefix's. (grep
# reads all of sed's output: with -q it could stop early, and sed's SIGPIPE
# would fail the pipeline under pipefail.)
sed 's/\\&//g' "$prefix/share/man/man8/chand.8" |
    grep -F "$prefix/etc/chand/chand.conf" >/dev/null ||
    fail "chand.8 does not name $prefix/etc/chand/chand.conf"
command -v systemd-analyze >/dev/null ||
    fail "systemd-analyze not found (scripts/deps.sh installs systemd)"
man_check=yes
if ! command -v man >/dev/null; then
	# Documentation=man:... is checked by running man(1).
	echo "test_install: man(1) is not installed: verify skips Documentation= man pages"
	man_check=no
fi
MANPATH=$prefix/share/man SYSTEMD_LOG_LEVEL=notice \
    systemd-analyze verify --man="$man_check" "$units/chand.socket" \
    "$units/chand.service" >"$tmp/verify.log" 2>&1 ||
    { cat "$tmp/verify.log" >&2; fail "systemd-analyze verify failed"; }
if [[ -s $tmp/verify.log ]]; then
	cat "$tmp/verify.log" >&2
	fail "systemd-analyze verify printed warnings"
fi
# The hardening, as systemd rates it (printed, not asserted: the score
# changes with systemd's version).
systemd-analyze security --offline=true "$units/chand.service" 2>/dev/null |
    tail -1 || true

# As installed, with no LD_LIBRARY_PATH: `cmake --install` must give
# programs that run (nothing runs ldconfig for a user).
for f in bin/chan-send bin/chan-recv sbin/chand; do
	"$prefix/$f" --version >/dev/null 2>"$tmp/err" ||
	    fail "installed $f does not run: $(head -1 "$tmp/err")"
done

pcdir=
for d in "$prefix"/lib*/pkgconfig "$prefix"/lib/*/pkgconfig; do
	[[ -f $d/chanclient.pc ]] && pcdir=$d && break
done
[[ -n $pcdir ]] || fail "chanclient.pc not installed under $prefix/lib*"
export PKG_CONFIG_PATH=$pcdir
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR

# A .pc pointing at the configure-time prefix would find whatever another
# install left there, not what was just installed.
includedir=$(pkg-config --variable=includedir chanclient)
libdir=$(pkg-config --variable=libdir chanclient)
includedir=$(realpath -m "$includedir")
libdir=$(realpath -m "$libdir")
[[ $includedir == "$prefix"/* && $libdir == "$prefix"/* ]] ||
    fail "chanclient.pc does not follow the install prefix: includedir=$includedir libdir=$libdir, installed under $prefix"
[[ -f $includedir/chanclient.h ]] || fail "no chanclient.h in $includedir"
[[ -f $libdir/libchanclient.a ]] || fail "no libchanclient.a in $libdir"

step "cc example_app.c \$(pkg-config --cflags --libs chanclient)"
# shellcheck disable=SC2046,SC2086
cc $extra_cflags -o "$tmp/app" "$src/tests/example_app.c" \
    $(pkg-config --cflags --libs chanclient) ||
    fail "the README example does not build against the installed library"

# The static library, with what pkg-config --static adds for it.
# -l:libchanclient.a picks the archive where -lchanclient would take the
# shared library that sits beside it.
step "cc example_app.c \$(pkg-config --static --cflags --libs chanclient), static libchanclient"
static_libs=$(pkg-config --static --libs chanclient)
static_libs=${static_libs//-lchanclient/-l:libchanclient.a}
# shellcheck disable=SC2046,SC2086
cc $extra_cflags -o "$tmp/app-static" "$src/tests/example_app.c" \
    $(pkg-config --static --cflags chanclient) $static_libs ||
    fail "the README example does not link statically with pkg-config --static"
if readelf -d "$tmp/app-static" | grep -q 'NEEDED.*libchanclient'; then
	fail "app-static still needs the shared libchanclient"
fi

# find_package(chanclient) from a CMake project, shared and static.
step "find_package(chanclient): tests/cmake_consumer, shared and static"
"$cmake" -S "$src/tests/cmake_consumer" -B "$tmp/consumer" \
    -DCMAKE_PREFIX_PATH="$prefix" -DEXAMPLE_APP="$src/tests/example_app.c" \
    -DOWN_NAMES_APP="$src/tests/own_names.c" \
    -DCMAKE_C_FLAGS="$extra_cflags" -DCMAKE_EXE_LINKER_FLAGS="$extra_cflags" \
    >"$tmp/consumer.log" 2>&1 &&
"$cmake" --build "$tmp/consumer" >>"$tmp/consumer.log" 2>&1 ||
    { cat "$tmp/consumer.log" >&2; fail "the CMake consumer project does not build"; }
if readelf -d "$tmp/consumer/app-cmake-static" | grep -q 'NEEDED.*libchanclient'; then
	fail "app-cmake-static needs the shared libchanclient"
fi
readelf -d "$tmp/consumer/app-cmake" | grep -q 'NEEDED.*libchanclient' ||
    fail "app-cmake does not use the shared libchanclient"
if readelf -d "$tmp/consumer/app-cmake" | grep -q 'NEEDED.*libmsgpackc'; then
	fail "app-cmake links msgpack-c through chanclient::chanclient"
fi
# Names the library uses inside are the program's own (tests/own_names.c).
step "a program defining conn_open, msg_new, ... links libchanclient.a"
out=$("$tmp/consumer/own-names-static") ||
    fail "own-names-static (find_package, static) failed"
[[ $out == ok ]] || fail "own-names-static printed: $out"
# shellcheck disable=SC2046,SC2086
cc $extra_cflags -o "$tmp/own-names-pc" "$src/tests/own_names.c" \
    $(pkg-config --static --cflags chanclient) $static_libs ||
    fail "a program defining conn_open does not link with pkg-config --static"
out=$("$tmp/own-names-pc") || fail "own-names-pc failed"
[[ $out == ok ]] || fail "own-names-pc printed: $out"

# The installed daemon on a private socket; READY on one FIFO, its log
# (and, by end of file, its exit) on another.
step "start $prefix/sbin/chand on $sock"
mkfifo "$tmp/ready" "$tmp/log"
# --remember-for 0: each run below is a new generation of the channel
# "nums", whose consumer starts before its producer.
"$prefix/sbin/chand" --socket "$sock" --remember-for 0 --ready-fd 3 \
    3>"$tmp/ready" 2>"$tmp/log" </dev/null &
daemon_pid=$!
exec 4<"$tmp/ready" 5<"$tmp/log"
ready=
read -r -t "$wait_s" -u 4 ready || true
exec 4<&-
[[ $ready == READY ]] || fail "chand did not report READY within ${wait_s}s"
export CHAND_SOCKET=$sock

# One run of a built example: it waits for the producer, which may come
# second, and ends when the producer's input ends.
run_app() {
	local app=$1 out app_pid rc=0
	local lib_path=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

	out=$tmp/out.${app##*/}

	LD_LIBRARY_PATH=$lib_path timeout "$wait_s" "$app" >"$out" &
	app_pid=$!
	seq 1 9 | timeout "$wait_s" "$prefix/bin/chan-send" nums ||
	    fail "installed chan-send failed (exit $?)"
	wait "$app_pid" || rc=$?
	[[ $rc == 0 ]] || fail "$(basename "$app") exited $rc (124: timed out)"
	seq 1 9 | diff -u - "$out" >&2 ||
	    fail "$(basename "$app") did not print 1..9"
}

step "seq 1 9 | chan-send nums, into the shared-library example"
run_app "$tmp/app"
step "seq 1 9 | chan-send nums, into the static example"
run_app "$tmp/app-static"
step "seq 1 9 | chan-send nums, into the find_package examples"
run_app "$tmp/consumer/app-cmake"
run_app "$tmp/consumer/app-cmake-static"

# Four runs of nine messages, each delivered once.
step "chanctl --json status counts 36 messages in and out"
"$prefix/bin/chanctl" --json status >"$tmp/status.json" ||
    fail "installed chanctl failed (exit $?)"
grep -q '"msgs_in":36,"msgs_out":36,"redeliveries":0,' "$tmp/status.json" ||
    fail "chanctl status: $(cat "$tmp/status.json")"

# The installed chan-recv, for good measure: the channel was forgotten.
step "chan-recv --nonblock on the drained channel exits 4"
rc=0
"$prefix/bin/chan-recv" --nonblock nums 2>/dev/null || rc=$?
[[ $rc == 4 ]] || fail "installed chan-recv --nonblock exited $rc, not 4"

# The README's Python examples with the installed package (and not the
# source tree), against the installed daemon: they print 1..9.
step "README's Python examples with the installed chand package"
pydir=
for d in "$prefix"/lib/python3*/dist-packages; do
	[[ -f $d/chand/__init__.py ]] && pydir=$d && break
done
[[ -n $pydir ]] || fail "the Python package is not installed under $prefix/lib/python3*"
awk '/^    import threading, chand$/ { p = 1 } p && /^[^ ]/ { exit } p { print }' \
    "$src/README.md" | sed 's/^    //' >"$tmp/readme_example.py"
[[ -s $tmp/readme_example.py ]] || fail "no Python example found in README.md"
(cd "$tmp" && PYTHONPATH=$pydir timeout "$wait_s" /usr/bin/python3 -s \
    readme_example.py >"$tmp/out.py") ||
    fail "the README's Python examples failed (exit $?)"
seq 1 9 | diff -u - "$tmp/out.py" >&2 ||
    fail "the README's Python examples did not print 1..9"

step "stop chand (pid $daemon_pid) with SIGTERM"
kill -TERM "$daemon_pid"
# End of file on its stderr: it has exited (or closed stderr, then exits).
: >"$tmp/chand.log"
for (( ;; )); do
	rc=0
	IFS= read -r -t "$wait_s" -u 5 line || rc=$?
	# read: 0 for a line, 1 at end of file, > 128 on timeout.
	(( rc == 0 )) || break
	printf '%s\n' "$line" >>"$tmp/chand.log"
done
(( rc <= 128 )) || fail "chand did not exit within ${wait_s}s of SIGTERM"
rc=0
wait "$daemon_pid" || rc=$?
daemon_pid=
exec 5<&-
[[ $rc == 0 ]] || { cat "$tmp/chand.log" >&2; fail "chand exited $rc after SIGTERM"; }
[[ ! -e $sock ]] || fail "chand left its socket $sock behind"
step "ok"
