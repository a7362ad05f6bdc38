#!/usr/bin/env bash
# Run c-examples/handoff-demo.c the way a supervisor would: three instances,
# each started by this script (never by the previous instance), each taking
# the listening socket of the one before over the hand-off socket, while a
# client connects in a loop. Every connection must be answered; every old
# instance must exit 0 once the next one is ready.
set -euo pipefail
bin=${1:-build/bin/handoff-demo}
dir=$(mktemp -d /tmp/gracefd-handoff-demo-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
sock=$dir/handoff.sock

wait_file() { # path, then at most 10 s
  for _ in $(seq 1 1000); do [ -s "$1" ] && return 0; sleep 0.01; done
  echo "test-handoff-demo: $1 did not appear" >&2; return 1
}
wait_exit() { # pid name: the process must exit 0 within 10 s
  for _ in $(seq 1 1000); do kill -0 "$1" 2>/dev/null || break; sleep 0.01; done
  if kill -0 "$1" 2>/dev/null; then echo "test-handoff-demo: $2 did not exit" >&2; return 1; fi
  local st=0; wait "$1" || st=$?
  [ "$st" -eq 0 ] || { echo "test-handoff-demo: $2 exited $st" >&2; return 1; }
}
ask() { # one connection: prints the pid that answered, or FAIL
  local line=""
  if exec 3<>"/dev/tcp/127.0.0.1/$port"; then
    IFS= read -r -t 5 line <&3 || true
    exec 3<&- 3>&-
  fi
  case $line in "pid "*) echo "${line#pid }" ;; *) echo FAIL ;; esac
}

"$bin" --listen 0 --handoff-socket "$sock" --port-file "$dir/port1" 2>>"$dir/log" &
pids+=($!); first=$!
wait_file "$dir/port1"; port=$(cat "$dir/port1")
[ "$(ask)" = "$first" ] || { echo "test-handoff-demo: the first instance does not answer" >&2; exit 1; }
[ "$(stat -c %a "$sock")" = 600 ] || { echo "test-handoff-demo: hand-off socket is not 0600" >&2; exit 1; }

# A client loop for the whole run.
( while [ ! -e "$dir/stop" ]; do ask; done >"$dir/answers" ) &
client=$!

prev=$first
for gen in 2 3; do
  sleep 0.2
  "$bin" --take-from "$sock" --handoff-socket "$sock" --port-file "$dir/port$gen" 2>>"$dir/log" &
  pids+=($!); cur=$!
  wait_file "$dir/port$gen"
  [ "$(cat "$dir/port$gen")" = "$port" ] || { echo "test-handoff-demo: generation $gen serves another port" >&2; exit 1; }
  wait_exit "$prev" "instance $prev"
  prev=$cur
done
sleep 0.2
touch "$dir/stop"; wait "$client"
last=$(ask)
[ "$last" = "$prev" ] || { echo "test-handoff-demo: the last instance ($prev) does not answer ($last)" >&2; exit 1; }

total=$(wc -l <"$dir/answers")
failed=$(grep -c FAIL "$dir/answers" || true)
answered_by=$(grep -v FAIL "$dir/answers" | sort -u | wc -l)
echo "test-handoff-demo: 3 instances, 2 hand-offs, $total connections, $failed failed, answered by $answered_by pids"
[ "$failed" -eq 0 ] || { cat "$dir/log" >&2; exit 1; }
[ "$total" -gt 0 ] || exit 1
