#!/usr/bin/env bash
# Run c-examples/daemon-hello for real: the launcher's exit status must tell
# the truth (ready, already running, failed), in both modes, and the daemon
# must leave no pid file behind after SIGTERM.
set -euo pipefail
bin=$(realpath "${1:?usage: check-daemon-example.sh build/bin/daemon-hello}")
dir=$(mktemp -d)
pidf="$dir/hello.pid"
cleanup() {
  if [ -s "$pidf" ]; then kill -KILL "$(cat "$pidf")" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

fail() { echo "check-daemon-example: $*"; exit 1; }

# Wait (bounded) until the daemon logged that it is stopping (it removes its
# pid file just before). Not by pid: once re-parented to init it may linger as
# a zombie where init does not reap.
wait_stopped() {
  for _ in $(seq 1 5000); do
    if grep -q "pid $1 stopping" "$dir/hello.log"; then return 0; fi
    sleep 0.002
  done
  fail "the daemon did not stop"
}

for mode in fork reexec; do
  "$bin" --mode "$mode" --pid-file "$pidf" --log-file "$dir/hello.log" || fail "$mode: launcher exited $?"
  pid=$(cat "$pidf")
  grep -q "pid $pid ready" "$dir/hello.log" || fail "$mode: the log lacks the ready line"
  set +e
  err=$("$bin" --mode "$mode" --pid-file "$pidf" 2>&1); st=$?
  set -e
  [ "$st" = 242 ] || fail "$mode: second instance exited $st, want 242"
  case "$err" in *"already running as pid $pid"*) ;; *) fail "$mode: second instance said: $err";; esac
  kill -TERM "$pid"
  wait_stopped "$pid"
  [ ! -e "$pidf" ] || fail "$mode: the pid file was left behind"

  set +e
  err=$("$bin" --mode "$mode" --fail "cannot bind 127.0.0.1:80: permission denied" 2>&1); st=$?
  set -e
  [ "$st" = 3 ] || fail "$mode: failing daemon: launcher exited $st, want 3"
  case "$err" in *"daemon-hello: cannot bind 127.0.0.1:80: permission denied"*) ;; *) fail "$mode: failing daemon said: $err";; esac
done
echo "check-daemon-example: ready, already-running (242) and fail (3) reported truthfully in fork and reexec modes"
