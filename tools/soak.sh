#!/usr/bin/env bash
# make soak: UPGRADES (default 1,000) upgrades of the C example under load.
# Passes when no request failed and the serving generation's fd count, RSS and
# environment size are the same for the last generation as for the first
# upgraded one (generation 2: the first generation was started by a shell, not
# by an upgrade, so its environment and fds differ by design).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh
UPGRADES=${UPGRADES:-1000}

start_work soak

# A serving generation's fds that are not client connections (those come and
# go with the load), its RSS in kB and the number of its environment variables (values such as
# GRACEFD_GENERATION change length, the set must not grow).
probe() {
  # Three samples 50 ms apart, the smallest fd count: a connection accepted
  # between reading the TCP table and listing the fds must not count as a leak.
  local pid=$1 best=-1 conns fds f ino
  for _ in 1 2 3; do
    conns=" $(awk '$4 != "0A" && NR > 1 {printf "%s ", $10}' /proc/"$pid"/net/tcp /proc/"$pid"/net/tcp6 2>/dev/null) "
    fds=0
    for f in /proc/"$pid"/fd/*; do
      ino=$(stat -L -c %i "$f" 2>/dev/null) || continue
      [[ "$conns" == *" $ino "* ]] && continue
      fds=$((fds + 1))
    done
    { [ "$best" -lt 0 ] || [ "$fds" -lt "$best" ]; } && best=$fds
    sleep 0.05
  done
  echo "fds=$best rss_kb=$(awk '/^VmRSS/ {print $2}' /proc/"$pid"/status) env_vars=$(tr '\0' '\n' </proc/"$pid"/environ | grep -c .)"
}

port=$(free_port)
"$BIN/httpd" --listen "http=127.0.0.1:$port" --drain-timeout 3000 --verbose 2>"$work/server.log" &
server=$!
wait_http "$port"
start_load "$port" "$work/load.json" --keepalive 8 --new 4
serving=$server
first=""
t0=$(date +%s.%N)
for i in $(seq "$UPGRADES"); do
  next=$(next_generation "$serving" 2000 0.002)
  [ -n "$next" ] || { echo "soak: upgrade $i of $serving did not complete"; exit 1; }
  serving=$next
  if [ "$i" = 1 ]; then sleep 0.3; first=$(probe "$serving"); fi
  if [ $((i % 100)) = 0 ]; then echo "soak: $i upgrades"; fi
done
sleep 0.5
last=$(probe "$serving")
stop_load "$work/load.json"
t1=$(date +%s.%N)
echo "soak: $UPGRADES upgrades in $(python3 -c "print(round($t1 - $t0, 1))") s; requests $(json_field "$LOAD_RESULT" requests), failed $(json_field "$LOAD_RESULT" failures)"
echo "soak: generation 2   : $first"
echo "soak: last generation : $last"
[ "$(json_field "$LOAD_RESULT" failures)" = 0 ] || { echo "soak: FAILED: $LOAD_RESULT"; exit 1; }
python3 - "$first" "$last" <<'PY'
import sys
a = dict(kv.split("=") for kv in sys.argv[1].split())
b = dict(kv.split("=") for kv in sys.argv[2].split())
ok = a["fds"] == b["fds"] and a["env_vars"] == b["env_vars"] and int(b["rss_kb"]) <= int(a["rss_kb"]) * 1.25 + 256
print("soak: OK: fd count, environment and RSS flat" if ok else "soak: FAILED: growth between the first and last generation")
sys.exit(0 if ok else 1)
PY
