#!/usr/bin/env bash
# Installs what distmem needs on Debian 12 (as root, or with sudo) when it is
# missing, then configures and builds into build/. Sourced by demo.sh and
# test.sh; safe to run again.
set -euo pipefail

DM_PACKAGES=(meson ninja-build gcc clang pkg-config libucx-dev ucx-utils libpmix-dev
             openmpi-bin libopenmpi-dev iproute2 valgrind spin patch
             liburing-dev libnuma-dev e2fsprogs fio gnuplot-nox gdb)

dm_missing=()
for p in "${DM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || dm_missing+=("$p")
done
if [ ${#dm_missing[@]} -gt 0 ]; then
    echo "setup: installing ${dm_missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${dm_missing[@]}"
fi

cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
    meson setup build
fi
ninja -C build
