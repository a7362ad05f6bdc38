#!/usr/bin/env bash
# Fault injection around upgrades, each under load: zero failed
# requests while an old generation exists, a clear error, no zombie, no leaked fd.
#   signal-storm  1,000 upgrade signals in one second: one upgrade at a time
#   emfile        RLIMIT_NOFILE lowered so the upgrade cannot get its fds
#   notify-nowhere NOTIFY_SOCKET names a socket nobody listens on
# (New generation missing / not executable / crashing / hanging / failing and
# the old one SIGKILLed mid-upgrade are covered by test-upgrade-load.sh and the
# C harness.)
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh

start_work faults
fail() { echo "test-faults: FAIL: $*"; tail -n 20 "$work/server.log" 2>/dev/null; exit 1; }
fd_count() { ls /proc/"$1"/fd | wc -l; }

start_server() { # extra env assignments may precede
  port=$(free_port)
  : >"$work/server.log"
  env "$@" "$BIN/httpd" --listen "http=127.0.0.1:$port" --drain-timeout 3000 --verbose 2>>"$work/server.log" &
  server=$!
  wait_http "$port"
}
finish() { # name: stop load, check zero failures and no zombies, stop servers
  local name=$1 gens
  sleep 0.3
  stop_load "$work/load-$name.json"
  [ "$(json_field "$LOAD_RESULT" failures)" = 0 ] || fail "$name: requests failed: $LOAD_RESULT"
  gens="$server $(pids_in_log "$work/server.log")"
  [ -z "$(zombies_of $gens)" ] || fail "$name: zombies: $(zombies_of $gens)"
  echo "test-faults: $name: $(json_field "$LOAD_RESULT" requests) requests, 0 failed, no zombie"
  stop_pids $gens
  server=""
}

# ---- 1,000 upgrade signals in one second -----------------------------------
start_server
start_load "$port" "$work/load-signal-storm.json" --keepalive 8 --new 4
python3 - "$server" <<'PY'
import os, signal, sys, time
pid, t0 = int(sys.argv[1]), time.monotonic()
for i in range(1000):
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        break  # it finished draining and left: the storm is over for it
    time.sleep(max(0, t0 + (i + 1) / 1000 - time.monotonic()))
PY
for _ in $(seq 300); do grep -q "is ready after" "$work/server.log" && break; sleep 0.01; done
started=$(grep -c "upgrade: started generation" "$work/server.log" || true)
[ "$started" -ge 1 ] || fail "signal-storm: no upgrade happened"
# The first generation upgrades once and then drains (later signals are ignored
# while an upgrade is in flight or while draining); nothing ran concurrently.
[ "$(grep -c "\[$server\]: upgrade: started" "$work/server.log")" = 1 ] || fail "signal-storm: $server started more than one upgrade"
grep -q "already in flight" "$work/server.log" && fail "signal-storm: a second upgrade was attempted concurrently"
finish signal-storm

# ---- EMFILE at upgrade time ---------------------------------------------------
start_server
start_load "$port" "$work/load-emfile.json" --keepalive 8 --new 0
sleep 0.3
before=$(fd_count "$server")
# One fd more than it uses: the upgrade needs several (registry dup, socketpair).
prlimit --pid "$server" --nofile="$((before + 1)):$((before + 1))" 2>/dev/null \
  || prlimit --pid "$server" --nofile="$((before + 1))"
kill -HUP "$server"
for _ in $(seq 300); do grep -q "upgrade failed, still serving\|upgrade not started" "$work/server.log" && break; sleep 0.01; done
grep -E "upgrade failed, still serving|upgrade not started" "$work/server.log" | grep -q "EMFILE" || fail "emfile: no clear EMFILE error"
[ -z "$(children_of "$server")" ] || fail "emfile: a child was left"
after=$(fd_count "$server")
[ "$after" -le "$before" ] || fail "emfile: fds leaked ($before before, $after after)"
echo "test-faults: emfile: $(grep -E -o '(upgrade failed, still serving|upgrade not started): .*' "$work/server.log" | head -n 1)"
finish emfile

# ---- NOTIFY_SOCKET pointing nowhere ----------------------------------------------
start_server NOTIFY_SOCKET="$work/nobody-listens.sock"
start_load "$port" "$work/load-notify-nowhere.json" --keepalive 8 --new 4
serving=$server
for i in 1 2 3; do
  next=$(next_generation "$serving")
  [ -n "$next" ] || fail "notify-nowhere: upgrade $i did not complete"
  serving=$next
done
grep -q "could not hand MAINPID=.* over to systemd" "$work/server.log" || fail "notify-nowhere: the failed hand-over was not reported"
finish notify-nowhere
echo "test-faults: all passed"
