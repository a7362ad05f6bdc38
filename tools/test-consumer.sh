#!/usr/bin/env bash
# check-rust-consumer: gracefd as a crate outside this repository uses it —
# a new crate in a temporary directory (tools/consumer/), depending on the
# repository by path with the `tokio` feature — builds, serves, and is
# upgraded UPGRADES times under loadgen load with zero failed requests
# (by tools/test-rust-examples.sh, the bar of the example servers).
#
#   tools/test-consumer.sh LOADGEN [CARGO]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
LOADGEN=${1:?usage: $0 LOADGEN [CARGO]}
CARGO=${2:-cargo}
dir=$(mktemp -d /tmp/gracefd-consumer-XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/src"
sed "s|@GRACEFD@|$repo|" tools/consumer/Cargo.toml.in >"$dir/Cargo.toml"
cp tools/consumer/main.rs "$dir/src/main.rs"
# The repository's lock file: the same dependency versions as its own build.
cp Cargo.lock "$dir/Cargo.lock"
# Its own target directory in the repository's target/, kept between runs.
CARGO_TARGET_DIR="$repo/target/consumer" "$CARGO" build --manifest-path "$dir/Cargo.toml"
UPGRADES=${UPGRADES:-20} tools/test-rust-examples.sh "$LOADGEN" "$repo/target/consumer/debug/gracefd-consumer"
