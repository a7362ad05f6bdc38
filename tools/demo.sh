#!/usr/bin/env bash
# make demo: start the C example server, put it under load, upgrade it N times,
# and report upgrades completed, requests served, failed requests and the
# upgrade latency (SIGHUP → new generation ready, measured by the library).
set -euo pipefail
cd "$(dirname "$0")/.."
UPGRADES=${UPGRADES:-50}
INTERVAL=${INTERVAL:-0.2}
BIN=build/bin

work=$(mktemp -d /tmp/gracefd-demo-XXXXXX)
server_pid=""
load_pid=""
cleanup() {
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null && wait "$load_pid" 2>/dev/null || true
  # Stop every generation we know of, by pid (each line of the log names one).
  for p in $(current_pids); do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 100); do alive=0; for p in $(current_pids); do kill -0 "$p" 2>/dev/null && alive=1; done; [ $alive = 0 ] && break; sleep 0.05; done
  for p in $(current_pids); do kill -KILL "$p" 2>/dev/null || true; done
  [ -n "$server_pid" ] && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
current_pids() { { echo "$server_pid"; sed -n 's/.*as pid \([0-9]*\).*/\1/p' "$work/server.log" 2>/dev/null; } | sort -u | grep . || true; }
trap cleanup EXIT

port=$(tools/free-port.py)
echo "demo: httpd on 127.0.0.1:$port, $UPGRADES upgrades under load (one every ${INTERVAL}s)"
$BIN/httpd --listen "http=127.0.0.1:$port" --drain-timeout 5000 --verbose 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 200); do
  grep -q . <(exec 3<>/dev/tcp/127.0.0.1/$port && printf 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3 && cat <&3) 2>/dev/null && break
  sleep 0.02
done

# --duration 0: run until SIGTERM, then finish the requests in flight and report.
$BIN/loadgen --addr "127.0.0.1:$port" --keepalive 8 --new 4 --duration 0 --json >"$work/load.json" &
load_pid=$!
sleep 0.5

serving=$server_pid
done_ok=0
for i in $(seq "$UPGRADES"); do
  kill -HUP "$serving"
  # The serving generation logs "pid N is ready" once its successor is ready.
  for _ in $(seq 500); do
    next=$(grep "\[$serving\]: upgrade: pid [0-9]* is ready" "$work/server.log" | sed -n 's/.*upgrade: pid \([0-9]*\) is ready.*/\1/p' | tail -n 1)
    [ -n "$next" ] && break
    sleep 0.01
  done
  if [ -z "$next" ]; then echo "demo: upgrade $i did not complete"; break; fi
  serving=$next
  done_ok=$((done_ok + 1))
  sleep "$INTERVAL"
done

sleep 0.5
kill -TERM "$load_pid"
wait "$load_pid" || true
load_pid=""
python3 - "$work/load.json" "$work/server.log" "$done_ok" "$UPGRADES" <<'PY'
import json, re, sys
load = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
lat = sorted(int(m.group(1)) for m in re.finditer(r"is ready after (\d+) us", open(sys.argv[2]).read()))
def pct(p):
    return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))] / 1000 if lat else float("nan")
print(f"upgrades completed : {sys.argv[3]}/{sys.argv[4]}")
print(f"requests served    : {load['requests']}")
print(f"failed requests    : {load['failures']} {json.dumps(load.get('failures_by_kind', {}))}")
print(f"distinct pids seen : {load.get('distinct_pids')}")
print(f"upgrade latency    : p50 {pct(50):.2f} ms, p99 {pct(99):.2f} ms (start of new generation → ready, {len(lat)} samples)")
ok = load["failures"] == 0 and int(sys.argv[3]) == int(sys.argv[4])
print("demo: OK — zero failed requests" if ok else "demo: FAILED")
sys.exit(0 if ok else 1)
PY
