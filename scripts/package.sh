#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# package.sh [OUT_DIR]
#
# Builds the Debian packages (debian/: chand, libchanclient0,
# libchanclient-dev and their -dbgsym) with `dpkg-buildpackage -us -uc -b`
# from a copy of the tree, lists each package's files (dpkg-deb -c), runs
# lintian on the result and prints its whole output (an error fails),
# then checks the packages' contents and unpacks them into a throwaway
# root (tests/test_package.sh). The .debs and .changes are left in
# OUT_DIR (default: build-deb/), with the build's log (build.log) and
# lintian's output (lintian.txt). Installs debhelper, lintian and the
# build dependencies when missing (scripts/deps.sh, as root).
# DEB_BUILD_OPTIONS is passed on (nocheck skips the build's test run).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
out=${1:-build-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

CHAND_DEPS_EXTRA="debhelper lintian ${CHAND_DEPS_EXTRA:-}" bash scripts/deps.sh

# dpkg-buildpackage writes its results beside the source tree: build a
# copy in a private directory, of the files git knows (tracked or new,
# not ignored) when this is a git checkout, else of the whole tree.
tmp=$(mktemp -d /tmp/chand-package-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
upstream=${version%-*}
tree=$tmp/chand-$upstream
mkdir "$tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$src" && git ls-files -z --cached --others --exclude-standard |
	    while IFS= read -r -d '' f; do
		[[ -e $f ]] && printf '%s\0' "$f"
	    done) >"$tmp/files"
	tar -C "$src" --null -T "$tmp/files" -cf - | tar -C "$tree" -xf -
else
	tar -C "$src" --exclude='./build*' --exclude='./obj-*' -cf - . |
	    tar -C "$tree" -xf -
fi

echo "== package: dpkg-buildpackage -us -uc -b (chand $version)"
start=$(date +%s)
if ! (cd "$tree" && nice dpkg-buildpackage -us -uc -b) \
    >"$tmp/build.log" 2>&1; then
	tail -n 40 "$tmp/build.log" >&2
	echo "package: dpkg-buildpackage failed (log above)" >&2
	exit 1
fi
cp "$tmp/build.log" "$out/build.log"
echo "package: built in $(( $(date +%s) - start )) s"
changes=$(ls "$tmp"/chand_"${version}"_*.changes)
rm -f "$out"/*.deb "$out"/*.ddeb "$out"/*.changes "$out"/*.buildinfo
cp "$tmp"/*.deb "$tmp"/*.changes "$tmp"/*.buildinfo "$out"/
cp "$tmp"/*.ddeb "$out"/ 2>/dev/null || true
changes=$out/$(basename "$changes")

for deb in "$out"/*.deb; do
	echo "== package: dpkg-deb -c $(basename "$deb")"
	dpkg-deb -c "$deb" | awk '{ print $1, $6, $7, $8 }'
done

echo "== package: lintian"
rc=0
lintian --fail-on error --display-info "$changes" >"$out/lintian.txt" 2>&1 ||
    rc=$?
grep -v '^running with root privileges' "$out/lintian.txt" || true
(( rc == 0 )) || { echo "package: lintian reports errors" >&2; exit 1; }
echo "package: lintian: no error"

bash tests/test_package.sh "$out"
echo "== package: ok ($out)"
