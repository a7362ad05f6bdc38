#!/usr/bin/env bash
# Install into a scratch prefix, then build and run a C program with nothing
# but `pkg-config --cflags --libs gracefd`.
set -euo pipefail
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
make --no-print-directory install PREFIX="$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
flags=$(pkg-config --cflags --libs gracefd)
${CC:-cc} -std=c99 -Wall -Werror -o "$prefix/probe" ffi-tests/pkgconfig_probe.c $flags
out=$("$prefix/probe")
echo "check-pkgconfig: built with '$flags': $out"
