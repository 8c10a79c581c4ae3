#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_package.sh DEB_DIR
#
# Checks the Debian packages scripts/package.sh built (debian/) into
# DEB_DIR: what each package holds (the programs, units and config file
# in chand; the shared library in the multiarch directory in
# libchanclient0; header, static library, .pc, CMake files and section 3
# pages in libchanclient-dev; -dbgsym packages beside them; manual pages
# compressed), their control data (conffile, symbols, shlibs, the
# ldconfig trigger, dependencies) and the maintainer scripts debhelper
# wrote (sysusers, enable and start the units, restart on upgrade, stop
# on removal, purge). Then unpacks them all into a throwaway root
# (dpkg-deb -x) and uses them from there: the unpacked chand on a private
# socket, a message through the unpacked chan-send and chan-recv, a
# program built with the unpacked .pc against the shared library (its
# symbols versioned CHANCLIENT_0) and the static one (with a conn_open of
# its own), and the stop's log line of what it dropped.
#
# Nothing sleeps: readiness comes from chand --ready-fd on a FIFO, the
# daemon's exit from end of file on its stderr FIFO; every wait is bounded.
set -euo pipefail

debs=${1:?usage: test_package.sh DEB_DIR}
src=$(cd "$(dirname "$0")/.." && pwd)
wait_s=20
tmp=$(mktemp -d /tmp/chand-package-test-XXXXXX)
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
	echo "test_package: FAIL: $*" >&2
	exit 1
}

step() {
	echo "test_package: $*"
}

arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
deb_of() {
	local f
	f=$(ls "$debs"/"$1"_*.deb 2>/dev/null | head -1)
	[[ -n $f ]] || fail "no $1_*.deb in $debs"
	echo "$f"
}
chand=$(deb_of chand)
lib=$(deb_of libchanclient0)
dev=$(deb_of libchanclient-dev)
deb_of chand-dbgsym >/dev/null
deb_of libchanclient0-dbgsym >/dev/null

# has DEB PATH...: each path is in the package.
has() {
	local deb=$1 f
	shift
	dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||' \
	    >"$tmp/files"
	for f in "$@"; do
		grep -qxF "$f" "$tmp/files" ||
		    fail "$f not in $(basename "$deb")"
	done
}

step "contents: $(basename "$chand") $(basename "$lib") $(basename "$dev")"
has "$chand" /usr/sbin/chand /usr/bin/chan-send /usr/bin/chan-recv \
    /usr/bin/chanctl /usr/bin/chan-bench \
    /lib/systemd/system/chand.service /lib/systemd/system/chand.socket \
    /usr/lib/sysusers.d/chand.conf /etc/chand/chand.conf \
    /usr/share/man/man8/chand.8.gz /usr/share/man/man1/chanctl.1.gz \
    /usr/share/man/man1/chan-send.1.gz /usr/share/doc/chand/copyright \
    /usr/share/doc/chand/README.md /usr/share/doc/chand/operations.md
has "$lib" "/usr/lib/$arch/libchanclient.so.0" \
    "/usr/lib/$arch/libchanclient.so.0.1.0"
has "$dev" /usr/include/chanclient.h "/usr/lib/$arch/libchanclient.so" \
    "/usr/lib/$arch/libchanclient.a" "/usr/lib/$arch/pkgconfig/chanclient.pc" \
    "/usr/lib/$arch/cmake/chanclient/chanclientConfig.cmake" \
    /usr/share/man/man3/libchanclient.3.gz
# Each file in one package only.
for deb in "$chand" "$lib" "$dev"; do
	dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $6 }'
done | sort | uniq -d >"$tmp/dups"
[[ ! -s $tmp/dups ]] || fail "files in two packages: $(cat "$tmp/dups")"

step "control data and maintainer scripts"
dpkg-deb -e "$chand" "$tmp/chand.ctl"
dpkg-deb -e "$lib" "$tmp/lib.ctl"
grep -qx /etc/chand/chand.conf "$tmp/chand.ctl/conffiles" ||
    fail "/etc/chand/chand.conf is not a conffile"
post=$tmp/chand.ctl/postinst
grep -q 'systemd-sysusers .*chand.conf' "$post" ||
    fail "postinst does not create the chand user (systemd-sysusers)"
grep -q "deb-systemd-helper enable 'chand.service'" "$post" ||
    fail "postinst does not enable chand.service (and so chand.socket)"
grep -q '_dh_action=restart' "$post" &&
    grep -q "deb-systemd-invoke \$_dh_action 'chand.service' 'chand.socket'" \
    "$post" || fail "postinst does not restart the daemon after an upgrade"
grep -q "deb-systemd-invoke stop 'chand.service' 'chand.socket'" \
    "$tmp/chand.ctl/prerm" || fail "prerm does not stop the daemon on removal"
grep -q 'rm -rf /var/lib/chand' "$tmp/chand.ctl/postrm" ||
    fail "postrm purge keeps /var/lib/chand"
grep -q "^ chan_connect@CHANCLIENT_0 " "$tmp/lib.ctl/symbols" ||
    fail "libchanclient0 has no symbols file with chan_connect@CHANCLIENT_0"
grep -qx 'libchanclient 0 libchanclient0 (>= 0.1.0)' "$tmp/lib.ctl/shlibs" ||
    fail "libchanclient0 shlibs: $(cat "$tmp/lib.ctl/shlibs")"
grep -qx 'activate-noawait ldconfig' "$tmp/lib.ctl/triggers" ||
    fail "libchanclient0 has no ldconfig trigger"
depends=$(dpkg-deb -f "$chand" Depends)
for d in libuv1 libmsgpackc2 systemd; do
	grep -q "$d" <<<"$depends" || fail "chand Depends lacks $d: $depends"
done
depends=$(dpkg-deb -f "$dev" Depends)
grep -q 'libchanclient0 (= ' <<<"$depends" ||
    fail "libchanclient-dev Depends: $depends"
grep -qx 'Multi-Arch: same' <(dpkg-deb -f "$lib") ||
    fail "libchanclient0 is not Multi-Arch: same"

step "unpack into a throwaway root"
root=$tmp/root
for deb in "$chand" "$lib" "$dev"; do
	dpkg-deb -x "$deb" "$root"
done
libdir=$root/usr/lib/$arch
grep -q '^ExecStart=/usr/sbin/chand ' "$root/lib/systemd/system/chand.service" ||
    fail "chand.service does not run /usr/sbin/chand"
grep -q -- '--config /etc/chand/chand.conf' "$root/lib/systemd/system/chand.service" ||
    fail "chand.service does not read /etc/chand/chand.conf"

# A program built against the unpacked development package.
export PKG_CONFIG_PATH=$libdir/pkgconfig
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
step "cc own_names.c \$(pkg-config --cflags --libs chanclient), shared and static"
# shellcheck disable=SC2046
cc -o "$tmp/app" "$src/tests/own_names.c" \
    $(pkg-config --cflags --libs chanclient) ||
    fail "a program does not build against the unpacked package"
objdump -T "$tmp/app" | grep -q 'CHANCLIENT_0.*chan_connect' ||
    fail "the program does not bind chan_connect@CHANCLIENT_0"
out=$(LD_LIBRARY_PATH=$libdir "$tmp/app") || fail "the shared program failed"
[[ $out == ok ]] || fail "the shared program printed $out"
static_libs=$(pkg-config --static --libs chanclient)
# shellcheck disable=SC2046,SC2086
cc -o "$tmp/app-static" "$src/tests/own_names.c" \
    $(pkg-config --cflags chanclient) ${static_libs//-lchanclient/-l:libchanclient.a} ||
    fail "a program defining conn_open does not link libchanclient.a"
out=$("$tmp/app-static") || fail "the static program failed"
[[ $out == ok ]] || fail "the static program printed $out"

# The unpacked daemon and CLIs on a private socket.
sock=$tmp/chand.sock
step "start the unpacked chand on $sock"
mkfifo "$tmp/ready" "$tmp/log"
LD_LIBRARY_PATH=$libdir "$root/usr/sbin/chand" --socket "$sock" \
    --ready-fd 3 3>"$tmp/ready" 2>"$tmp/log" </dev/null &
daemon_pid=$!
exec 4<"$tmp/ready" 5<"$tmp/log"
ready=
read -r -t "$wait_s" -u 4 ready || true
exec 4<&-
[[ $ready == READY ]] || fail "chand did not report READY within ${wait_s}s"
export CHAND_SOCKET=$sock
printf 'one\ntwo\nthree\n' | timeout "$wait_s" "$root/usr/bin/chan-send" pkg ||
    fail "unpacked chan-send failed"
out=$(timeout "$wait_s" "$root/usr/bin/chan-recv" pkg) ||
    fail "unpacked chan-recv failed"
[[ $out == one ]] || fail "unpacked chan-recv printed $out"
timeout "$wait_s" "$root/usr/bin/chanctl" channels | grep -q '^pkg ' ||
    fail "unpacked chanctl does not list the channel"

step "SIGTERM: the log counts the two messages left"
kill -TERM "$daemon_pid"
: >"$tmp/chand.log"
for (( ;; )); do
	rc=0
	IFS= read -r -t "$wait_s" -u 5 line || rc=$?
	(( rc == 0 )) || break
	printf '%s\n' "$line" >>"$tmp/chand.log"
done
(( rc <= 128 )) || fail "chand did not exit within ${wait_s}s of SIGTERM"
rc=0
wait "$daemon_pid" || rc=$?
daemon_pid=
exec 5<&-
[[ $rc == 0 ]] || { cat "$tmp/chand.log" >&2; fail "chand exited $rc"; }
grep -qx "chand: warning: stop: dropped 2 message(s) (8 bytes) queued in 1 in-memory channel(s)" \
    "$tmp/chand.log" || { cat "$tmp/chand.log" >&2; fail "no account of the dropped messages"; }
step "ok"
