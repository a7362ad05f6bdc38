#!/usr/bin/env bash
# A figure, not a test: time from launching c-examples/daemon-hello until its
# launcher exits with the daemon ready (fork and reexec modes). Uses hyperfine
# when installed, else a loop on bash's microsecond clock.
#   tools/bench-daemonize.sh build/bin/daemon-hello [runs]
set -euo pipefail
if [ "${1:-}" = "--stop" ]; then
  # Between runs: stop the previous daemon and wait until its lock is free.
  pidf=$2
  if [ -s "$pidf" ]; then kill -KILL "$(cat "$pidf")" 2>/dev/null || true; fi
  for _ in $(seq 1 5000); do
    if [ ! -e "$pidf" ] || flock -n "$pidf" true; then exit 0; fi
    sleep 0.001
  done
  exit 1
fi
bin=$(realpath "${1:?usage: bench-daemonize.sh build/bin/daemon-hello [runs]}")
runs=${2:-200}
self=$(realpath "$0")
dir=$(mktemp -d)
trap '"$self" --stop "$dir/b.pid" || true; rm -rf "$dir"' EXIT
for mode in fork reexec; do
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 10 --runs "$runs" --prepare "$self --stop $dir/b.pid" \
      --command-name "daemonize ($mode mode): launch until the launcher exits with the daemon ready" \
      "$bin --mode $mode --pid-file $dir/b.pid"
  else
    total=0
    for _ in $(seq 1 "$runs"); do
      "$self" --stop "$dir/b.pid"
      t0=${EPOCHREALTIME/./}
      "$bin" --mode "$mode" --pid-file "$dir/b.pid"
      t1=${EPOCHREALTIME/./}
      total=$((total + t1 - t0))
    done
    echo "daemonize ($mode mode): mean $((total / runs)) us over $runs runs (launch until the launcher exits, daemon ready)"
  fi
done
