#!/usr/bin/env bash
# make demo: start the C example server, put it under load (keep-alive
# connections plus a new connection per request), upgrade it UPGRADES times,
# and report upgrades completed, requests served, failed requests, and the
# upgrade latency (start of the new generation → it is ready, as measured by
# the library and logged through its log hook).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh
UPGRADES=${UPGRADES:-50}
INTERVAL=${INTERVAL:-0.2}

start_work demo

port=$(free_port)
echo "demo: httpd on 127.0.0.1:$port, $UPGRADES upgrades under load (one every ${INTERVAL}s)"
"$BIN/httpd" --listen "http=127.0.0.1:$port" --drain-timeout 5000 --verbose 2>"$work/server.log" &
server=$!
wait_http "$port"
start_load "$port" "$work/load.json" --keepalive 8 --new 4
sleep 0.5

serving=$server
done_ok=0
for i in $(seq "$UPGRADES"); do
  # The serving generation logs "pid N is ready" once its successor is ready.
  next=$(next_generation "$serving")
  if [ -z "$next" ]; then echo "demo: upgrade $i did not complete"; break; fi
  serving=$next
  done_ok=$((done_ok + 1))
  sleep "$INTERVAL"
done
sleep 0.5
stop_load "$work/load.json"

python3 - "$LOAD_RESULT" "$work/server.log" "$done_ok" "$UPGRADES" <<'PY'
import json, re, sys
load = json.loads(sys.argv[1])
log = open(sys.argv[2]).read()
lat = sorted(int(m.group(1)) for m in re.finditer(r"is ready after (\d+) us", log))
# Under check-asan the servers are sanitizer builds writing to this log.
sanitizer = re.findall(r"(ERROR: \w+Sanitizer.*|runtime error:.*)", log)
def pct(p):
    return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))] / 1000 if lat else float("nan")
print(f"upgrades completed : {sys.argv[3]}/{sys.argv[4]}")
print(f"requests served    : {load['requests']}")
print(f"failed requests    : {load['failures']} {json.dumps(load['failures_by_kind'])}")
print(f"distinct pids seen : {load['distinct_pids']}")
print(f"upgrade latency    : p50 {pct(50):.2f} ms, p99 {pct(99):.2f} ms (new generation started → ready; {len(lat)} samples)")
for line in sanitizer[:5]:
    print(f"sanitizer          : {line}")
ok = load["failures"] == 0 and int(sys.argv[3]) == int(sys.argv[4]) and not sanitizer
print("demo: OK, zero failed requests" if ok else "demo: FAILED")
sys.exit(0 if ok else 1)
PY
