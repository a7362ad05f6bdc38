#!/usr/bin/env bash
# Zero-drain upgrades: build/bin/httpd --pass-connections upgraded
# several times under load — long-lived keep-alive clients that sit idle
# between requests, plus new-connection workers — loses no request, and no
# keep-alive client ever has to reconnect: every connection goes on in the
# new generation. Each old generation exits on its own once it passed them.
# The same load against the polite drain (no --pass-connections) does make
# clients reconnect: that is what the pass removes, and what this test would
# see if the pass fell back to the drain.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh
UPGRADES=${UPGRADES:-5}
# The server under test (any with --pass-connections and the same log lines:
# build/bin/httpd, target/debug/examples/tokio-httpd).
SERVER=${SERVER:-$BIN/httpd}

start_work zero-drain
fail() {
  echo "test-zero-drain: FAIL: $*"
  for f in "$work"/*.json "$work"/*.err "$work"/server.log; do [ -s "$f" ] && { echo "--- $f"; tail -n 8 "$f"; }; done
  exit 1
}
reconnects() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["reconnects"]["total"])' "$1"; }

# gone PID: wait (bounded) until PID has exited; our children are reaped.
gone() {
  for _ in $(seq 500); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.01
  done
  return 1
}

run() { # mode-flag load-file upgrades
  local flag=$1 out=$2 n=$3 port serving next
  port=$(free_port)
  : >"$work/server.log"
  # A long drain timeout: an old generation that exits did not wait for it.
  "$SERVER" --listen "http=127.0.0.1:$port" --drain-timeout 20000 --verbose $flag 2>>"$work/server.log" &
  server=$!
  wait_http "$port"
  start_load "$port" "$out" --keepalive 32 --idle-ms 20 --new 2
  sleep 0.3
  serving=$server
  for i in $(seq "$n"); do
    next=$(next_generation "$serving" 1000 0.005)
    [ -n "$next" ] || fail "upgrade $i of pid $serving did not complete"
    if [ -n "$flag" ]; then
      gone "$serving" || fail "old generation $serving still runs after passing its connections"
    fi
    serving=$next
    sleep 0.3
  done
  stop_load "$out"
}

run --pass-connections "$work/pass.json" "$UPGRADES"
res=$LOAD_RESULT
[ "$(json_field "$res" failures)" = 0 ] || fail "pass mode: requests failed: $res"
[ "$(reconnects "$res")" = 0 ] || fail "pass mode: clients had to reconnect: $res"
[ "$(json_field "$res" distinct_pids)" -ge "$((UPGRADES + 1))" ] || fail "pass mode: not every generation answered: $res"
grep -q "passed .* draining the rest" "$work/server.log" && fail "pass mode fell back to the drain"
echo "test-zero-drain: $(basename "$SERVER"): $UPGRADES upgrades passing connections: $(json_field "$res" requests) requests, 0 failed, 0 reconnects"
stop_pids $server $(pids_in_log "$work/server.log")
server=""

run "" "$work/drain.json" 1
res=$LOAD_RESULT
[ "$(json_field "$res" failures)" = 0 ] || fail "drain mode: requests failed: $res"
[ "$(reconnects "$res")" -gt 0 ] || fail "drain mode: no client reconnected, so the pass-mode figure proves nothing: $res"
echo "test-zero-drain: the same load with the polite drain: $(reconnects "$res") reconnects in 1 upgrade"
