#!/usr/bin/env bash
# check-rust-api: the Rust example servers (examples/httpd.rs on threads,
# examples/tokio-httpd.rs on tokio), each upgraded UPGRADES times (default 20)
# by SIGHUP under loadgen. Passes when, for each server: every upgrade
# completed, loadgen saw zero failed requests, the last generation answers
# with generation=UPGRADES+1, every old generation drained and exited by
# itself, and the last one exits on SIGTERM.
#
#   tools/test-rust-examples.sh LOADGEN SERVER_BINARY...
#
# Bounded (every wait has a limit), 127.0.0.1 only; every process is
# stopped and waited for by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
UPGRADES=${UPGRADES:-20}
INTERVAL=${INTERVAL:-0.2}
DRAIN_MS=${DRAIN_MS:-5000}
# Extra server arguments, e.g. SERVER_ARGS=--pass-connections (tokio-httpd):
# then no keep-alive client may have had to reconnect either.
SERVER_ARGS=${SERVER_ARGS:-}
LOADGEN=${1:?usage: $0 LOADGEN SERVER...}
shift
[ $# -gt 0 ] || { echo "usage: $0 LOADGEN SERVER..."; exit 2; }

work=$(mktemp -d /tmp/gracefd-rust-examples-XXXXXX)
server_pid=""
load_pid=""
log=""

# Alive and not a zombie (generations whose parent exited are reparented;
# their reaper may be slow).
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null || true); [ -n "$s" ] && [ "${s#Z}" = "$s" ]; }
# Every generation we know of: the first, and each "as pid N" in the log.
all_pids() { { echo "$server_pid"; [ -n "$log" ] && sed -n 's/.*as pid \([0-9]*\).*/\1/p' "$log" 2>/dev/null; } | sort -u | grep . || true; }
wait_gone() { # PIDS... ; up to 10 s
  for _ in $(seq 200); do
    local any=0; for p in "$@"; do alive "$p" && any=1; done
    [ $any = 0 ] && return 0; sleep 0.05
  done
  return 1
}
stop_all() {
  if [ -n "$load_pid" ]; then kill -TERM "$load_pid" 2>/dev/null || true; wait "$load_pid" 2>/dev/null || true; load_pid=""; fi
  local pids; pids=$(all_pids)
  for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
  wait_gone $pids || for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
  if [ -n "$server_pid" ]; then wait "$server_pid" 2>/dev/null || true; fi
  server_pid=""
}
cleanup() { stop_all; rm -rf "$work"; }
trap cleanup EXIT

get() { # PORT → the response to one GET (Connection: close)
  (exec 3<>/dev/tcp/127.0.0.1/"$1" && printf 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3 && timeout 5 cat <&3) 2>/dev/null || true
}

failed=0
for bin in "$@"; do
  name=$(basename "$bin")
  log="$work/$name.log"
  port=$(tools/free-port.py)
  echo "== $name on 127.0.0.1:$port: $UPGRADES upgrades under load (one every ${INTERVAL}s)"
  "$bin" --listen "http=127.0.0.1:$port" --drain-timeout "$DRAIN_MS" --verbose $SERVER_ARGS 2>"$log" &
  server_pid=$!
  up=0
  for _ in $(seq 250); do get "$port" | grep -q "generation=1" && { up=1; break; }; sleep 0.02; done
  if [ $up = 0 ]; then echo "$name: did not come up"; cat "$log"; failed=1; stop_all; continue; fi

  "$LOADGEN" --addr "127.0.0.1:$port" --keepalive 8 --new 4 --duration 0 --json >"$work/$name.json" &
  load_pid=$!
  sleep 0.5

  serving=$server_pid
  done_ok=0
  olds=()
  for i in $(seq "$UPGRADES"); do
    kill -HUP "$serving" 2>/dev/null || true
    next=""
    for _ in $(seq 500); do
      next=$(sed -n "s/.*\[$serving\]: upgrade: pid \([0-9]*\) is ready.*/\1/p" "$log" | tail -n 1)
      [ -n "$next" ] && break
      sleep 0.01
    done
    if [ -z "$next" ]; then echo "$name: upgrade $i did not complete"; break; fi
    olds+=("$serving")
    serving=$next
    done_ok=$((done_ok + 1))
    sleep "$INTERVAL"
  done

  sleep 0.5
  kill -TERM "$load_pid"
  wait "$load_pid" || true
  load_pid=""
  last=$(get "$port" | tr -d '\r' | tail -n 1)
  drained=yes
  wait_gone "${olds[@]}" || drained=no
  kill -TERM "$serving" 2>/dev/null || true
  stopped=yes
  wait_gone "$serving" || stopped=no
  wait "$server_pid" 2>/dev/null || true

  if ! python3 - "$work/$name.json" "$done_ok" "$UPGRADES" "$last" "$serving" "$drained" "$stopped" "$SERVER_ARGS" <<'PY'
import json, sys
load = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
done, want, last, serving, drained, stopped = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
expect = f"ok pid={serving} generation={want + 1}"
print(f"upgrades completed     : {done}/{want}")
print(f"requests served        : {load['requests']} ({load['rps']:.0f}/s)")
print(f"failed requests        : {load['failures']} {json.dumps(load.get('failures_by_kind', {}))}")
if load["failures"]:
    print(f"failure reasons        : {json.dumps(load.get('failure_reasons', {}))}")
print(f"distinct pids answering: {load.get('distinct_pids')}")
print(f"last generation says   : {last!r} (want {expect!r})")
print(f"old generations exited : {drained}; last one stopped on SIGTERM: {stopped}")
ok = load["failures"] == 0 and done == want and last == expect and drained == "yes" and stopped == "yes"
if "--pass-connections" in sys.argv[8]:
    reconnects = load.get("reconnects", {}).get("total")
    print(f"reconnects (pass mode) : {reconnects}")
    ok = ok and reconnects == 0
sys.exit(0 if ok else 1)
PY
  then
    echo "$name: FAILED (server log follows)"; tail -n 40 "$log"; failed=1
  else
    echo "$name: OK"
  fi
  stop_all
done
exit $failed
