#!/usr/bin/env bash
# Upgrades under load:
#  1. 100 upgrades of build/bin/httpd under keep-alive-only load: zero failed requests.
#  2. Each way a new generation can fail, while load runs: the old generation
#     keeps serving with zero failed requests, the error says what happened,
#     and no zombie remains.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh
UPGRADES=${UPGRADES:-100}

start_work upgrade-load
fail() {
  echo "test-upgrade-load: FAIL: $*"
  for f in "$work"/*.json "$work"/*.err; do [ -s "$f" ] && { echo "--- $f"; tail -n 5 "$f"; }; done
  exit 1
}

if [ -z "${ONLY:-}" ]; then
# ---- 1. many upgrades, keep-alive connections only -----------------------
port=$(free_port)
"$BIN/httpd" --listen "http=127.0.0.1:$port" --drain-timeout 5000 --verbose 2>"$work/server.log" &
server=$!
wait_http "$port"
start_load "$port" "$work/load1.json" --keepalive 16 --new 0
serving=$server
for i in $(seq "$UPGRADES"); do
  next=$(next_generation "$serving" 1000 0.005)
  [ -n "$next" ] || fail "upgrade $i of pid $serving did not complete"
  serving=$next
done
sleep 0.3
stop_load "$work/load1.json"; res=$LOAD_RESULT
[ "$(json_field "$res" failures)" = 0 ] || fail "keep-alive upgrades: $res"
[ "$(json_field "$res" distinct_pids)" -ge 2 ] || fail "only one pid answered: $res"
echo "test-upgrade-load: $UPGRADES upgrades under keep-alive load: $(json_field "$res" requests) requests, 0 failed"
stop_pids $server $(pids_in_log "$work/server.log")
server=""
fi

# ---- 2. every failure of a new generation, under load ----------------------
mk() { printf '%s\n' "$2" >"$work/$1"; chmod +x "$work/$1"; }
mk exits   '#!/bin/sh
exit 3'
mk crashes '#!/bin/sh
kill -SEGV $$'
mk hangs   '#!/bin/sh
exec sleep 30'
printf '#!/bin/sh\nexit 0\n' >"$work/not-executable"; chmod 0644 "$work/not-executable"

run_fault() { # name exe expected-text
  local name=$1 exe=$2 want=$3 port res
  port=$(free_port)
  : >"$work/server.log"
  if [ "$name" = fails ]; then
    # A real new generation that cannot bind one of its listeners and says so
    # through gracefd_fail(): the wrapper adds a listener in a missing directory.
    mk fails "#!/bin/sh
exec $PWD/$BIN/httpd --listen http=127.0.0.1:$port --listen bad=unix:$work/missing-dir/x.sock"
  fi
  "$BIN/httpd" --listen "http=127.0.0.1:$port" --upgrade-exe "$exe" --upgrade-timeout 1000 --verbose 2>"$work/server.log" &
  server=$!
  wait_http "$port"
  start_load "$port" "$work/load-$name.json" --keepalive 4 --new 2
  sleep 0.2
  kill -HUP "$server"
  for _ in $(seq 600); do grep -q "upgrade failed, still serving" "$work/server.log" && break; sleep 0.01; done
  grep -q "upgrade failed, still serving" "$work/server.log" || fail "$name: no failure reported"
  grep "still serving" "$work/server.log" | grep -q -- "$want" || fail "$name: message lacks '$want': $(grep 'still serving' "$work/server.log")"
  sleep 0.3 # keep serving under load after the failure
  stop_load "$work/load-$name.json"; res=$LOAD_RESULT
  [ "$(json_field "$res" failures)" = 0 ] || fail "$name: requests failed: $res"
  [ "$(json_field "$res" distinct_pids)" = 1 ] || fail "$name: someone else answered: $res"
  [ -z "$(children_of "$server")" ] || fail "$name: children left: $(children_of "$server")"
  kill -0 "$server" || fail "$name: the old generation died"
  echo "test-upgrade-load: new generation $name: old kept serving ($(json_field "$res" requests) requests, 0 failed), no child left: $(grep -o 'still serving: .*' "$work/server.log" | head -n 1)"
  stop_pids "$server"
  server=""
}

[ -n "${ONLY:-}" ] && [ "$ONLY" != missing ] || run_fault missing /nonexistent/httpd      "ENOENT"
[ -n "${ONLY:-}" ] && [ "$ONLY" != not-executable ] || run_fault not-executable "$work/not-executable"  "EACCES"
[ -n "${ONLY:-}" ] && [ "$ONLY" != exits ] || run_fault exits "$work/exits"           "exited with status 3"
[ -n "${ONLY:-}" ] && [ "$ONLY" != crashes ] || run_fault crashes "$work/crashes"         "killed by signal 11"
[ -n "${ONLY:-}" ] && [ "$ONLY" != hangs ] || run_fault hangs "$work/hangs"           "not ready in time"
[ -n "${ONLY:-}" ] && [ "$ONLY" != fails ] || run_fault fails "$work/fails"           "failed with status 1"
echo "test-upgrade-load: all passed"
