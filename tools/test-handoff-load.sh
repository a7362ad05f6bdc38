#!/usr/bin/env bash
# Hand-off under load: each new httpd is started by this script (a stand-in
# for a supervisor), never by the running one, takes the running one's
# listening sockets over the hand-off socket, serves the hand-off path
# itself, and reports ready; the old one then drains politely and exits.
# loadgen runs the whole time: zero failed requests is the pass mark.
#
# usage: tools/test-handoff-load.sh [HANDOFFS] [SECONDS]
#
# Needs build/bin/httpd (c-examples/httpd.c, with --handoff-socket and
# --take-from) and build/bin/loadgen (exit 0 only if no request failed).
set -euo pipefail
handoffs=${1:-10}
seconds=${2:-8}
httpd=${HTTPD:-build/bin/httpd}
loadgen=${LOADGEN:-build/bin/loadgen}
for b in "$httpd" "$loadgen"; do
  [ -x "$b" ] || { echo "test-handoff-load: $b is missing (run make)" >&2; exit 2; }
done

run_loadgen() { # addr seconds
  "$loadgen" --addr "$1" --keepalive 16 --new 4 --duration "$2"
}

dir=$(mktemp -d /tmp/gracefd-handoff-load-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
sock=$dir/handoff.sock
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
addr=127.0.0.1:$port

answers_pid() { # the pid in X-Pid of one request, or nothing
  local line pid=""
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 0
  printf 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
  while IFS= read -r -t 5 line <&3; do
    case $line in X-Pid:*) pid=${line#X-Pid: }; pid=${pid%$'\r'} ;; esac
  done
  exec 3<&- 3>&-
  echo "$pid"
}
wait_pid_answers() { # pid: until that process answers (10 s at most)
  for _ in $(seq 1 1000); do
    [ "$(answers_pid 2>/dev/null || true)" = "$1" ] && return 0
    sleep 0.01
  done
  echo "test-handoff-load: pid $1 never answered" >&2; return 1
}
wait_exit() { # pid: it must exit 0 within 15 s (its drain timeout is 10 s)
  for _ in $(seq 1 1500); do kill -0 "$1" 2>/dev/null || break; sleep 0.01; done
  if kill -0 "$1" 2>/dev/null; then echo "test-handoff-load: old instance $1 did not exit" >&2; return 1; fi
  local st=0; wait "$1" || st=$?
  [ "$st" -eq 0 ] || { echo "test-handoff-load: old instance $1 exited $st" >&2; return 1; }
}

"$httpd" --listen "http=$addr" --handoff-socket "$sock" 2>>"$dir/httpd.log" &
pids+=($!); cur=$!
wait_pid_answers "$cur"

run_loadgen "$addr" "$seconds" >"$dir/loadgen.out" 2>&1 &
load=$!
interval=$(awk -v s="$seconds" -v n="$handoffs" 'BEGIN { printf "%.3f", (s - 1) / (n + 1) }')
done_count=0
for _ in $(seq 1 "$handoffs"); do
  sleep "$interval"
  prev=$cur
  "$httpd" --listen "http=$addr" --take-from "$sock" --handoff-socket "$sock" 2>>"$dir/httpd.log" &
  pids+=($!); cur=$!
  wait_exit "$prev"
  done_count=$((done_count + 1))
done
lst=0; wait "$load" || lst=$?
cat "$dir/loadgen.out"
echo "test-handoff-load: $done_count hand-offs between unrelated processes under load; loadgen exit status $lst"
[ "$lst" -eq 0 ] || { echo "--- httpd log:" >&2; cat "$dir/httpd.log" >&2; exit 1; }
[ "$(answers_pid)" = "$cur" ] || { echo "test-handoff-load: the last instance does not answer" >&2; exit 1; }
