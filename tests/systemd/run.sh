#!/usr/bin/env bash
# The units of deploy/systemd under a real systemd as PID 1 of a container.
#
#   tests/systemd/run.sh [host|trixie]...      (default: host trixie)
#
# host:   this machine's / (read-only bind) booted with systemd-nspawn: the
#         distribution's systemd (Debian 12: 252).
# trixie: a Debian 13 rootfs (systemd 257, Type=notify-reload) built once by
#         tests/systemd/rootfs.sh into $GRACEFD_ROOTFS_CACHE (default
#         ~/.cache/gracefd), outside the repository.
#
# Each container is booted with --volatile=overlay (nothing it writes lasts),
# --private-network (its own loopback: the load generator runs inside it) and
# the built tree bound at /opt/gracefd. The units are installed with their
# paths pointed there, then, one after the other:
#   - httpd.service, go-httpd.service (Type=notify) and, on systemd >= 253,
#     httpd-notify-reload.service: start; 20 reloads under load, each
#     `systemctl reload` followed at once by `systemctl show -p MainPID`,
#     which must already name the new generation; 0 failed requests; no
#     restart; then a stop with a request in flight: it completes (200), no
#     process is left, the journal has no "remains running"/"left-over".
#   - gracefd-run.service: 10 reloads under load, MainPID (gracefd) stays,
#     the worker changes; stop with a request in flight.
#   - httpd.socket + httpd.service: socket activation; 10 reloads under load;
#     every generation holds the socket systemd bound (same inode).
# Root is required (nspawn); a missing tool or rootfs fails, never skips.
# Bounded: SYSTEMD_TEST_LIMIT seconds in all (default 900); every container
# booted here is powered off (SIGRTMIN+4 to its PID 1, then SIGKILL) on any exit.
set -euo pipefail
TREE=$(cd "$(dirname "$0")/../.." && pwd)
LIMIT=${SYSTEMD_TEST_LIMIT:-900}
CACHE=${GRACEFD_ROOTFS_CACHE:-$HOME/.cache/gracefd}
# The units to test (another directory: to try other units, e.g. older ones).
UNITS=${SYSTEMD_TEST_UNITS:-$TREE/deploy/systemd}

if [ -z "${SYSTEMD_TEST_INNER:-}" ]; then
  # Bound the whole run; TERM lets the trap below power the containers off.
  SYSTEMD_TEST_INNER=1 exec timeout -s TERM -k 60 "$LIMIT" "$0" "$@"
fi

fail() { echo "check-systemd: FAIL: $*" >&2; exit 1; }
say() { echo "check-systemd: $*"; }

[ "$(id -u)" = 0 ] || fail "needs root (systemd-nspawn, nsenter)"
for t in systemd-nspawn nsenter python3; do command -v $t >/dev/null || fail "$t is missing (apt-get install systemd-container util-linux python3)"; done
for b in gracefd httpd loadgen go-httpd; do [ -x "$TREE/build/bin/$b" ] || fail "build/bin/$b is missing (make all, make check-go)"; done

SCRATCH=$(mktemp -d /tmp/gracefd-nspawn.XXXXXX)
NSPAWN_PID="" CT_PID="" BOUND_ROOT=""

poweroff() {
  if [ -n "$CT_PID" ] && kill -0 "$CT_PID" 2>/dev/null; then
    kill -s RTMIN+4 "$CT_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$NSPAWN_PID" 2>/dev/null; then
      say "container did not power off in 10 s: SIGKILL to its PID 1 ($CT_PID)"
      kill -KILL "$CT_PID" 2>/dev/null || true
    fi
  fi
  if [ -n "$NSPAWN_PID" ]; then
    for _ in $(seq 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$NSPAWN_PID" 2>/dev/null || true
    wait "$NSPAWN_PID" 2>/dev/null || true
  fi
  if [ -n "$BOUND_ROOT" ]; then umount "$BOUND_ROOT" 2>/dev/null || umount -l "$BOUND_ROOT" || true; fi
  NSPAWN_PID="" CT_PID="" BOUND_ROOT=""
}
cleanup() {
  poweroff
  # Never delete through a bind mount of /: only once nothing is mounted below.
  if grep -q " $SCRATCH/" /proc/self/mounts; then
    echo "check-systemd: $SCRATCH still has mounts; left in place" >&2
  else
    rm -rf --one-file-system "$SCRATCH"
  fi
}
trap cleanup EXIT
trap 'fail "interrupted or out of time (${LIMIT} s)"' INT TERM

# boot NAME ROOT [ENV...]: boot ROOT in a container; sets CT_PID.
boot() {
  local name=$1 root=$2; shift 2
  local masks=() u
  # Mask what the image enables (timers, databases, getty...): nothing the test needs.
  for u in "$root"/etc/systemd/system/*.wants/*; do
    case $u in *.service|*.timer) masks+=("systemd.mask=$(basename "$u")") ;; esac
  done
  env "$@" systemd-nspawn --boot --volatile=overlay -D "$root" --register=no --keep-unit --private-network \
    --bind="$TREE:/opt/gracefd" --machine="gracefd-test-$name" "${masks[@]}" \
    >"$SCRATCH/$name.console" 2>&1 </dev/null &
  NSPAWN_PID=$!
  for _ in $(seq 200); do
    CT_PID=$(ps -o pid= --ppid "$NSPAWN_PID" | head -n 1 | tr -d ' ' || true)
    [ -n "$CT_PID" ] && [ "$(cat /proc/"$CT_PID"/comm 2>/dev/null)" = systemd ] && break
    kill -0 "$NSPAWN_PID" 2>/dev/null || { cat "$SCRATCH/$name.console" >&2; fail "$name: systemd-nspawn exited"; }
    CT_PID=""
    sleep 0.1
  done
  [ -n "$CT_PID" ] || fail "$name: no systemd in the container after 20 s"
  local state
  for _ in $(seq 150); do # until PID 1 listens (its private socket), at most 30 s
    state=$(in_ct systemctl is-system-running --wait 2>&1) || true
    case $state in "Failed to connect"*) sleep 0.2 ;; *) break ;; esac
  done
  case $state in
    running) ;;
    degraded) say "$name: degraded boot: $(in_ct systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')" ;;
    *) cat "$SCRATCH/$name.console" >&2; fail "$name: boot ended in state '$state'" ;;
  esac
  say "$name: booted $(in_ct systemctl --version | head -n 1) (container PID 1 is host pid $CT_PID)"
}

# Commands inside the container, each bounded.
in_ct() { timeout 120 nsenter -t "$CT_PID" -a "$@"; }
sctl() { in_ct systemctl "$@"; }
prop() { sctl show -p "$2" --value "$1"; }
alive_in_ct() { in_ct test -e "/proc/$1"; }

journal_tail() { in_ct journalctl --no-pager -q -n 15 -u "$1" 2>&1 || true; }

install_unit() { # install_unit FILE: deploy/systemd/FILE with its paths in /opt/gracefd
  sed -e "s#/usr/local/bin/#/opt/gracefd/build/bin/#g" "$UNITS/$1" |
    in_ct sh -c "cat > /etc/systemd/system/$1"
}

start_load() {
  sctl reset-failed gfd-load.service 2>/dev/null || true
  in_ct rm -f /run/gfd-load.json /run/gfd-load.err
  in_ct systemd-run --quiet --unit=gfd-load --property=StandardOutput=file:/run/gfd-load.json \
    --property=StandardError=file:/run/gfd-load.err \
    /opt/gracefd/build/bin/loadgen --addr 127.0.0.1:8080 --keepalive 4 --new 2 --duration 0 --json
  sleep 0.5
}

# stop_load WHAT: SIGTERM to loadgen (it finishes what is in flight); 0 failed, >0 requests.
stop_load() {
  sctl stop gfd-load.service
  local j
  j=$(in_ct tail -n 1 /run/gfd-load.json) || true
  [ -n "$j" ] || fail "$1: loadgen reported nothing: $(in_ct cat /run/gfd-load.err)"
  python3 - "$1" "$j" <<'EOF' || fail "$1: load result"
import json, sys
what, r = sys.argv[1], json.loads(sys.argv[2])
print("check-systemd: %s: %d requests, %d failed, %d pids answered" % (what, r["requests"], r["failures"], r.get("distinct_pids", 0)))
sys.exit(0 if r["failures"] == 0 and r["requests"] > 0 else 1)
EOF
  sctl reset-failed gfd-load.service 2>/dev/null || true
}

# stop_with_request_in_flight UNIT PIDS...: stop UNIT while a request is
# half sent; it must complete with 200 and no process of PIDS may remain.
stop_with_request_in_flight() {
  local unit=$1; shift
  local since
  since=$(in_ct date +%s)
  sctl reset-failed gfd-inflight.service 2>/dev/null || true
  in_ct rm -f /run/inflight.state
  in_ct systemd-run --quiet --unit=gfd-inflight python3 /opt/gracefd/tests/systemd/inflight.py 127.0.0.1 8080 /run/inflight.state 2
  for _ in $(seq 100); do [ "$(in_ct cat /run/inflight.state 2>/dev/null)" = sent ] && break; sleep 0.1; done
  [ "$(in_ct cat /run/inflight.state 2>/dev/null)" = sent ] || fail "$unit: the in-flight client did not start"
  sctl stop "$unit" || fail "$unit: systemctl stop failed"
  local st=""
  for _ in $(seq 100); do st=$(in_ct cat /run/inflight.state 2>/dev/null); [ "${st#answer}" != "$st" ] || [ "${st#error}" != "$st" ] && break; sleep 0.1; done
  case $st in
    "answer HTTP/1.1 200"*) say "$unit: stop drained: the request in flight got '${st#answer }'" ;;
    *) fail "$unit: the request in flight during stop got: $st" ;;
  esac
  local p
  for p in "$@"; do ! alive_in_ct "$p" || fail "$unit: pid $p still runs after stop"; done
  local bad
  bad=$(in_ct journalctl --no-pager -q --since "@$since" -u "$unit" | grep -E "remains running after unit stopped|left-over process|SIGKILL|Killing process" || true)
  [ -z "$bad" ] || fail "$unit: the journal says: $bad"
  [ "$(prop "$unit" ActiveState)" = inactive ] || fail "$unit: not inactive after stop: $(prop "$unit" ActiveState)"
}

# A unit whose main process is the serving generation (Type=notify, notify-reload).
test_generations_unit() {
  local unit=$1 reloads=$2
  install_unit "$unit"
  sctl daemon-reload
  sctl start "$unit"
  local prev pids=() new i
  prev=$(prop "$unit" MainPID)
  [ "$prev" -gt 0 ] || fail "$unit: no MainPID after start"
  pids+=("$prev")
  start_load
  for i in $(seq "$reloads"); do
    sctl reload "$unit" || fail "$unit: systemctl reload $i failed; journal: $(journal_tail "$unit")"
    new=$(prop "$unit" MainPID)
    [ "$new" != "$prev" ] || fail "$unit: reload $i: right after systemctl reload returned, MainPID is still the old generation $prev"
    alive_in_ct "$new" || fail "$unit: reload $i: MainPID $new is not alive"
    pids+=("$new")
    prev=$new
  done
  stop_load "$unit, $reloads reloads"
  [ "$(prop "$unit" NRestarts)" = 0 ] || fail "$unit: restarted $(prop "$unit" NRestarts) times"
  [ "$(prop "$unit" ActiveState)" = active ] || fail "$unit: $(prop "$unit" ActiveState) after the reloads"
  say "$unit: $reloads reloads, MainPID followed each generation: ${pids[*]}"
  if [ "$unit" = httpd.service ]; then slow_reloads "$unit"; failed_reload "$unit"; fi
  stop_with_request_in_flight "$unit" "${pids[@]}"
  # Started again: nothing left over from the previous life.
  local since
  since=$(in_ct date +%s)
  sctl start "$unit"
  sctl stop "$unit"
  ! in_ct journalctl --no-pager -q --since "@$since" -u "$unit" | grep -q "left-over process" || fail "$unit: left-over process on restart"
}

# with_upgrade_exe UNIT EXE: restart UNIT with a drop-in adding --upgrade-exe EXE.
with_upgrade_exe() {
  local unit=$1 exe=$2 exec_start
  exec_start=$(sed -n 's/^ExecStart=//p' "$UNITS/$unit" | sed -e "s#/usr/local/bin/#/opt/gracefd/build/bin/#g")
  in_ct mkdir -p "/run/systemd/system/$unit.d"
  printf '[Service]\nExecStart=\nExecStart=%s --upgrade-exe %s\n' "$exec_start" "$exe" |
    in_ct sh -c "cat > /run/systemd/system/$unit.d/upgrade-exe.conf"
  sctl daemon-reload
  sctl restart "$unit"
}
without_drop_in() {
  in_ct rm -r "/run/systemd/system/$1.d"
  sctl daemon-reload
}

# failed_reload UNIT: a new generation that cannot start: `systemctl reload`
# fails, the old generation stays MainPID and serves, the unit stays active.
failed_reload() {
  local unit=$1 main
  with_upgrade_exe "$unit" /bin/false
  main=$(prop "$unit" MainPID)
  pids+=("$main")
  ! sctl reload "$unit" 2>/dev/null || fail "$unit: systemctl reload succeeded with a new generation that exits at once"
  [ "$(prop "$unit" MainPID)" = "$main" ] || fail "$unit: MainPID changed after a failed reload"
  [ "$(prop "$unit" ActiveState)" = active ] || fail "$unit: $(prop "$unit" ActiveState) after a failed reload"
  in_ct python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",8080),5); s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); d=s.recv(100); sys.exit(0 if d.startswith(b"HTTP/1.1 200") else 1)' ||
    fail "$unit: not serving after a failed reload"
  without_drop_in "$unit"
  say "$unit: a failed reload failed systemctl reload; pid $main still MainPID and serving"
}

# slow_reloads UNIT: new generations that take 0.5 s to start (a drop-in adds
# --upgrade-exe tests/systemd/slow-start.sh to ExecStart): `systemctl reload`
# must still return only once MainPID names the new generation.
slow_reloads() {
  local unit=$1 prev new i
  with_upgrade_exe "$unit" /opt/gracefd/tests/systemd/slow-start.sh
  prev=$(prop "$unit" MainPID)
  pids+=("$prev")
  for i in $(seq 5); do
    sctl reload "$unit" || fail "$unit: slow reload $i failed"
    new=$(prop "$unit" MainPID)
    [ "$new" != "$prev" ] || fail "$unit: slow reload $i: right after systemctl reload returned, MainPID is still the old generation $prev"
    pids+=("$new")
    prev=$new
  done
  without_drop_in "$unit"
  say "$unit: 5 reloads with a new generation slow to start: MainPID followed each"
}

worker_of() { # the worker pid `gracefd ctl status` names
  in_ct /opt/gracefd/build/bin/gracefd ctl --control-socket /run/gracefd-run/control.sock status |
    sed -n 's/^worker: pid \([0-9]*\).*/\1/p'
}

test_gracefd_run_unit() {
  local unit=gracefd-run.service
  install_unit "$unit"
  sctl daemon-reload
  sctl start "$unit"
  local main workers=() w i
  main=$(prop "$unit" MainPID)
  workers+=("$(worker_of)")
  start_load
  for i in $(seq 10); do
    sctl reload "$unit" || fail "$unit: systemctl reload $i failed"
    [ "$(prop "$unit" MainPID)" = "$main" ] || fail "$unit: reload $i: MainPID changed from gracefd ($main)"
    w=$(worker_of)
    [ -n "$w" ] && [ "$w" != "${workers[-1]}" ] || fail "$unit: reload $i: the worker is still ${workers[-1]} right after systemctl reload"
    workers+=("$w")
  done
  stop_load "$unit, 10 reloads"
  [ "$(prop "$unit" NRestarts)" = 0 ] || fail "$unit: restarted"
  say "$unit: MainPID $main (gracefd) throughout; workers ${workers[*]}"
  stop_with_request_in_flight "$unit" "$main" "${workers[@]}"
}

listen_inode() { # inode of the TCP listener on :8080 in the container (one only)
  in_ct cat /proc/net/tcp /proc/net/tcp6 | awk '$2 ~ /:1F90$/ && $4 == "0A" {print $10}' | sort -u
}

test_socket_activation() {
  install_unit httpd.service
  install_unit httpd.socket
  sctl daemon-reload
  sctl start httpd.socket
  local ino pid i
  ino=$(listen_inode)
  [ -n "$ino" ] && [ "$(echo "$ino" | wc -l)" = 1 ] || fail "httpd.socket: listener inode '$ino'"
  start_load # its first connection activates httpd.service
  for _ in $(seq 100); do [ "$(prop httpd.service ActiveState)" = active ] && break; sleep 0.1; done
  [ "$(prop httpd.service ActiveState)" = active ] || fail "httpd.socket: the service was not activated"
  for i in $(seq 0 10); do
    if [ "$i" -gt 0 ]; then sctl reload httpd.service || fail "httpd.socket: reload $i failed"; fi
    pid=$(prop httpd.service MainPID)
    local fds
    fds=$(in_ct ls -l "/proc/$pid/fd" 2>&1) || true
    case $fds in
      *"socket:[$ino]"*) ;;
      *) fail "httpd.socket: after reload $i generation $pid does not hold systemd's socket $ino: $(echo "$fds" | grep -c socket) sockets; $(echo "$fds" | head -n 8 | tr '\n' ' ')" ;;
    esac
    [ "$(listen_inode)" = "$ino" ] || fail "httpd.socket: the listener changed after reload $i: $(listen_inode)"
  done
  stop_load "httpd.socket, 10 reloads"
  say "httpd.socket: every generation held systemd's socket (inode $ino); no other listener"
  sctl stop httpd.socket httpd.service
}

run_host() {
  local root=$SCRATCH/host-root
  mkdir -p "$root"
  mount --bind / "$root"
  BOUND_ROOT=$root
  mount -o remount,bind,ro "$root"
  boot host "$root"
  test_generations_unit httpd.service 20
  test_generations_unit go-httpd.service 10
  test_gracefd_run_unit
  test_socket_activation
  poweroff
}

run_trixie() {
  local root=$CACHE/trixie
  [ -x "$root/usr/lib/systemd/systemd" ] || fail "no trixie rootfs in $root: run tests/systemd/rootfs.sh (make check-systemd does)"
  # systemd 257 refuses the legacy cgroup hierarchy.
  boot trixie "$root" SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
  test_generations_unit httpd.service 20
  test_generations_unit go-httpd.service 10
  test_generations_unit httpd-notify-reload.service 20
  test_gracefd_run_unit
  test_socket_activation
  poweroff
}

[ $# -gt 0 ] || set -- host trixie
for which in "$@"; do
  case $which in
    host) run_host ;;
    trixie) run_trixie ;;
    *) fail "unknown rootfs '$which' (host, trixie)" ;;
  esac
done
say "all passed ($*)"
