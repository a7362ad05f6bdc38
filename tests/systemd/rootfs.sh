#!/usr/bin/env bash
# Build, once, the Debian 13 (trixie) rootfs tests/systemd/run.sh boots for a
# systemd newer than the host's (257: Type=notify-reload). Cached outside the
# repository in $GRACEFD_ROOTFS_CACHE (default ~/.cache/gracefd)/trixie; about
# 45 s and 150 MB from Debian's mirror (mmdebstrap, Debian package mmdebstrap).
set -euo pipefail
CACHE=${GRACEFD_ROOTFS_CACHE:-$HOME/.cache/gracefd}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$CACHE/trixie
if [ -x "$root/usr/lib/systemd/systemd" ]; then exit 0; fi
command -v mmdebstrap >/dev/null || { echo "rootfs: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
mkdir -p "$CACHE"
tmp=$(mktemp -d "$CACHE/trixie.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# python3: the in-flight request client of the stop test.
mmdebstrap --variant=minbase --include=systemd,systemd-sysv,dbus,python3 trixie "$tmp/root" "$MIRROR"
mv "$tmp/root" "$root"
echo "rootfs: $root: $(chroot "$root" systemctl --version | head -n 1)"
