#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_package.sh BUILD_DIR
#
# Builds the Debian package with CPack (into a private directory) and
# checks what a system would get from it: the programs, the library and
# its pkg-config and CMake files, the manual pages, the units naming
# /usr/sbin/chand and /etc/chand/chand.conf, the sysusers entry, the
# config file as a conffile, the maintainer scripts, the dependencies.
# The package is inspected, not installed.
set -euo pipefail

build=${1:?usage: test_package.sh BUILD_DIR}
tmp=$(mktemp -d /tmp/chand-package-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "test_package: FAIL: $*" >&2
	exit 1
}

echo "test_package: cpack -G DEB"
(cd "$build" && cpack -G DEB -B "$tmp" --config CPackConfig.cmake) \
    >"$tmp/cpack.log" 2>&1 || { cat "$tmp/cpack.log" >&2; fail "cpack failed"; }
deb=$(ls "$tmp"/chand_*.deb 2>/dev/null | head -1)
[[ -n $deb ]] || { cat "$tmp/cpack.log" >&2; fail "no chand_*.deb made"; }
echo "test_package: $(basename "$deb"), $(stat -c %s "$deb") bytes"

dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$tmp/files"
for f in /usr/sbin/chand /usr/bin/chan-send /usr/bin/chan-recv \
    /usr/bin/chanctl /usr/include/chanclient.h \
    /usr/lib/systemd/system/chand.service /usr/lib/systemd/system/chand.socket \
    /usr/lib/sysusers.d/chand.conf /etc/chand/chand.conf \
    /usr/share/man/man8/chand.8 /usr/share/man/man1/chanctl.1 \
    /usr/share/man/man3/libchanclient.3; do
	grep -qxF "$f" "$tmp/files" || fail "$f not in the package"
done
for f in libchanclient.so.0 libchanclient.a pkgconfig/chanclient.pc \
    cmake/chanclient/chanclientConfig.cmake; do
	grep -qE "^/usr/lib/([a-z0-9_-]+/)?$f\$" "$tmp/files" ||
	    fail "$f not in the package's library directory"
done

dpkg-deb -x "$deb" "$tmp/root"
grep -qx 'ExecStart=/usr/sbin/chand --socket /run/chand.sock --config /etc/chand/chand.conf --data-dir /var/lib/chand' \
    "$tmp/root/usr/lib/systemd/system/chand.service" ||
    fail "chand.service does not run /usr/sbin/chand with /etc/chand/chand.conf"

dpkg-deb -e "$deb" "$tmp/control"
grep -qx /etc/chand/chand.conf "$tmp/control/conffiles" ||
    fail "/etc/chand/chand.conf is not a conffile"
for s in postinst prerm postrm; do
	[[ -x $tmp/control/$s ]] || fail "no $s script"
done
depends=$(dpkg-deb -f "$deb" Depends)
for d in libuv1 libmsgpackc2 procps; do
	grep -q "$d" <<<"$depends" || fail "Depends lacks $d: $depends"
done
echo "test_package: Depends: $depends"
echo "test_package: ok"
