# Shared helpers for the shell tests and the demo. Source it; needs bash.
# Everything started is tracked by pid and stopped by pid (never by name).

BIN=${BIN:-build/bin}
LOADGEN=${LOADGEN:-build/bin/loadgen}

free_port() { tools/free-port.py; }

# wait_http PORT: until a GET on 127.0.0.1:PORT answers (at most ~4 s).
wait_http() {
  local port=$1
  for _ in $(seq 250); do
    # In a subshell: a failed redirection of `exec` would end this shell.
    if ( exec 3<>"/dev/tcp/127.0.0.1/$port" &&
         printf 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3 &&
         grep -q '200 OK' <&3 ) 2>/dev/null; then
      return 0
    fi
    sleep 0.02
  done
  echo "no HTTP answer on 127.0.0.1:$port" >&2
  return 1
}

# start_load PORT OUT [loadgen args...]: loadgen until stop_load; sets LOAD_PID.
start_load() {
  local port=$1 out=$2; shift 2
  "$LOADGEN" --addr "127.0.0.1:$port" --duration 0 --json "$@" >"$out" 2>"$out.err" &
  LOAD_PID=$!
}

# stop_load OUT: stop loadgen (it finishes requests in flight) and set
# LOAD_RESULT to its JSON line. Not in $(...): a subshell cannot wait for it.
stop_load() {
  local out=$1
  local rc=0
  kill -TERM "$LOAD_PID" 2>/dev/null || true
  wait "$LOAD_PID" 2>/dev/null || rc=$?
  LOAD_PID=""
  if [ ! -s "$out" ]; then echo "loadgen exited $rc without a report: $(cat "$out.err")" >&2; fi
  LOAD_RESULT=$(tail -n 1 "$out")
}

# json_field JSON KEY: a top-level number from loadgen's JSON.
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# pids_in_log LOG: every pid a server log names (generations started by upgrades).
pids_in_log() { sed -n 's/.* as pid \([0-9]*\).*/\1/p' "$1" 2>/dev/null | sort -u; }

# stop_pids PID...: TERM, wait up to 5 s, then KILL; reaps our own children.
stop_pids() {
  local p alive
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 100); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.05
  done
  for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

# children_of PID: the pids of PID's children (empty when it has none).
children_of() { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep . || true; }

# zombies_of PID...: zombie processes whose parent is one of PID... (empty if none).
zombies_of() {
  local want=" $* " f st ppid
  for f in /proc/[0-9]*/stat; do
    read -r _ _ st ppid _ <"$f" 2>/dev/null || continue
    [ "$st" = Z ] && [[ "$want" == *" $ppid "* ]] && echo "${f//[^0-9]/}"
  done
  return 0
}

# start_work NAME: a scratch directory $work, and on exit: stop the load
# client, every server generation ($server and the pids $work/server.log
# names), run `extra_cleanup` if the script defines it, remove $work.
start_work() {
  work=$(mktemp -d "/tmp/gracefd-$1-XXXXXX")
  server=""
  LOAD_PID=""
  trap finish_work EXIT
}
finish_work() {
  [ -n "$LOAD_PID" ] && { kill -TERM "$LOAD_PID" 2>/dev/null; wait "$LOAD_PID" 2>/dev/null; } || true
  [ -n "$server" ] && stop_pids $server $(pids_in_log "$work/server.log")
  if declare -F extra_cleanup >/dev/null; then extra_cleanup; fi
  rm -rf "$work"
}

# next_generation SERVING [TRIES] [PAUSE]: send SIGHUP to the serving
# generation and print the pid of its successor once SERVING has logged
# "upgrade: pid N is ready" in $work/server.log (empty if it never did).
next_generation() {
  local serving=$1 tries=${2:-500} pause=${3:-0.01} next=""
  kill -HUP "$serving"
  for _ in $(seq "$tries"); do
    next=$(sed -n "s/.*\[$serving\]: upgrade: pid \([0-9]*\) is ready.*/\1/p" "$work/server.log" | tail -n 1)
    [ -n "$next" ] && break
    sleep "$pause"
  done
  echo "$next"
}
