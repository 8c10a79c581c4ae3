#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what chand needs to build and test, on Debian bookworm.
# Does nothing when everything is already there; needs root otherwise.
set -euo pipefail

packages=(gcc make cmake pkg-config libuv1-dev libmsgpack-dev check)
# Service: libsystemd (socket activation, sd_notify; optional at build
# time), scdoc (manual pages), systemd-analyze and man (unit checks),
# /bin/kill (the unit's ExecReload).
packages+=(libsystemd-dev scdoc systemd man-db procps)
# The Python package (python/): its one dependency and its tests.
packages+=(python3 python3-msgpack python3-pytest)
# Debian packages (scripts/package.sh adds debhelper and lintian):
# dpkg-buildpackage, dpkg-architecture.
packages+=(dpkg-dev)
# chan-bridge: the NATS C client, and a NATS server for its tests.
packages+=(libnats-dev nats-server)
[ "${CHAND_DEPS_EXTRA:-}" ] && packages+=(${CHAND_DEPS_EXTRA})

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages: ${missing[*]}; run as root or:" >&2
	echo "  sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
