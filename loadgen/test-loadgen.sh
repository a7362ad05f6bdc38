#!/usr/bin/env bash
# Tests of build/bin/loadgen against loadgen/testserver.py (run by
# `make check-loadgen`). Usage: loadgen/test-loadgen.sh [PATH/TO/loadgen]
#
# Each case starts the test server in one mode on 127.0.0.1 (a free port),
# runs loadgen with --json, and checks the exit status and the counts. The
# server is killed and reaped by pid after each case and on any exit.
set -euo pipefail

LOADGEN=${1:-build/bin/loadgen}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
SERVER_PID=
FAILED=0
PORT=

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap 'stop_server; rm -rf "$TMP"' EXIT

# start_server ARGS...: test server in the background; sets SERVER_PID, PORT.
start_server() {
    rm -f "$TMP/port"
    python3 "$HERE/testserver.py" --port-file "$TMP/port" "$@" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        [ -s "$TMP/port" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "test server ($*) died"; exit 1; }
        sleep 0.05
    done
    [ -s "$TMP/port" ] || { echo "test server ($*) did not start"; exit 1; }
    PORT=$(cat "$TMP/port")
}

# run_loadgen ARGS...: loadgen --json; output in $TMP/out.json, status in RC.
# `timeout` only guards the test itself: loadgen must end by duration + timeout.
run_loadgen() {
    set +e
    timeout 30 "$LOADGEN" --json "$@" >"$TMP/out.json" 2>"$TMP/err"
    RC=$?
    set -e
}

# expect NAME WANT_RC PYTHON_EXPR: j is the parsed JSON of the last run.
expect() {
    local name=$1 want_rc=$2 expr=$3
    if [ "$RC" = "$want_rc" ] &&
        python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
            "$TMP/out.json" "$expr" 2>>"$TMP/err"; then
        echo "ok   $name"
    else
        echo "FAIL $name: exit $RC (want $want_rc), want: $expr"
        cat "$TMP/out.json" "$TMP/err"
        FAILED=$((FAILED + 1))
    fi
}

fk='j["failures_by_kind"]'

# A good keep-alive server: zero failures, one pid (the server's).
start_server --mode good
run_loadgen --addr "127.0.0.1:$PORT" --keepalive 4 --new 2 --duration 2
expect "good server: no failures" 0 \
    "j['failures'] == 0 and j['ok'] > 100 and j['requests'] == j['ok'] and \
     j['distinct_pids'] == 1 and j['pids'][0]['pid'] == $SERVER_PID and j['rps'] > 0 and \
     j['connections'] > 4 and set(j) >= {'duration_s','latency_ms','reconnects','failure_reasons'}"
stop_server

# Connection: close on keep-alive connections is not a failure: reconnect.
start_server --mode close
run_loadgen --addr "127.0.0.1:$PORT" --keepalive 4 --new 2 --duration 1
expect "Connection: close counted as success" 0 \
    "j['failures'] == 0 and j['ok'] > 50 and j['reconnects']['server_close'] > 0"
stop_server

# The server closes a keep-alive connection right after a response (FIN on
# the response's last segment): EOF while idle is a reconnect, not a failure.
start_server --mode idle-close
run_loadgen --addr "127.0.0.1:$PORT" --keepalive 4 --duration 1
expect "EOF on an idle keep-alive connection: reconnect" 0 \
    "j['failures'] == 0 and j['ok'] > 50 and j['reconnects']['idle_close'] > 0"
stop_server

# Other framings: chunked with extensions and trailer, EOF-delimited, 100 Continue.
for mode in chunked eof-body interim; do
    start_server --mode "$mode"
    run_loadgen --addr "127.0.0.1:$PORT" --keepalive 2 --new 1 --duration 0.5
    expect "$mode responses parsed" 0 "j['failures'] == 0 and j['ok'] > 20"
    stop_server
done

# Broken servers: one request in five is dropped or wrong.
start_server --mode reset
run_loadgen --addr "127.0.0.1:$PORT" --keepalive 4 --new 2 --duration 2
expect "RST after the request: reset" 1 \
    "$fk['reset'] > 0 and j['ok'] > 0 and j['failures'] == $fk['reset'] and \
     j['requests'] == j['ok'] + j['failures'] and 'reset' in j['failure_reasons']"
stop_server

start_server --mode short
run_loadgen --addr "127.0.0.1:$PORT" --keepalive 4 --new 2 --duration 1
expect "EOF mid-response: short_response" 1 \
    "$fk['short_response'] > 0 and j['failures'] == $fk['short_response'] and j['ok'] > 0"
stop_server

start_server --mode bad
run_loadgen --addr "127.0.0.1:$PORT" --keepalive 2 --new 1 --duration 0.5
expect "status 500: bad_response" 1 \
    "$fk['bad_response'] > 0 and j['failures'] == $fk['bad_response'] and \
     'status 500' in j['failure_reasons']['bad_response']"
stop_server

# Deadline rule: requests begun before the deadline complete. Each response
# takes 300 ms; with a 0.5 s run, each of the 3 workers completes the requests
# it began at ~0 and ~0.3 s, and begins none at ~0.6 s: exactly 6, all ok.
start_server --mode slow --delay-ms 300
run_loadgen --addr "127.0.0.1:$PORT" --keepalive 2 --new 1 --duration 0.5 --timeout-ms 3000
expect "in-flight requests complete after the deadline" 0 \
    "j['ok'] == 6 and j['failures'] == 0 and 0.55 < j['duration_s'] < 1.5"
stop_server

# A server that never answers: one timeout per worker, and the run ends by
# duration + timeout (0.5 + 0.7 s).
start_server --mode hang
run_loadgen --addr "127.0.0.1:$PORT" --keepalive 2 --new 1 --duration 0.5 --timeout-ms 700
expect "no answer: timeout, bounded run" 1 \
    "$fk['timeout'] == 3 and j['failures'] == 3 and j['duration_s'] < 1.5"
stop_server

# Nothing listening: connect_refused.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run_loadgen --addr "127.0.0.1:$PORT" --keepalive 2 --new 1 --duration 0.3
expect "nothing listening: connect_refused" 1 \
    "$fk['connect_refused'] > 0 and j['failures'] == $fk['connect_refused'] and j['ok'] == 0"

# Unix socket target.
start_server --mode good --unix "$TMP/s.sock"
run_loadgen --unix "$TMP/s.sock" --keepalive 2 --new 2 --duration 0.5 --threads 2
expect "unix socket" 0 "j['failures'] == 0 and j['ok'] > 20 and j['config']['threads'] == 2"
stop_server

# IPv6 loopback, when the machine has it.
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
    start_server --mode good --host ::1
    run_loadgen --addr "[::1]:$PORT" --keepalive 2 --new 1 --duration 0.5
    expect "IPv6 [::1]" 0 "j['failures'] == 0 and j['ok'] > 20"
    stop_server
else
    echo "skip IPv6 (no ::1 here)"
fi

# --watch-pid-change: one event per new pid (the server pretends to be a new
# generation every 250 ms), in order, matching the pids report.
start_server --mode good --gen-ms 250
run_loadgen --addr "127.0.0.1:$PORT" --keepalive 2 --new 1 --duration 1 --events-file "$TMP/events"
expect "pid changes reported" 0 \
    "j['failures'] == 0 and j['distinct_pids'] >= 3 and \
     [l.split()[3] for l in open('$TMP/events')] == ['pid=%d' % p['pid'] for p in j['pids']] and \
     all(l.startswith('new_pid t_ms=') for l in open('$TMP/events')) and \
     sorted(p['first_ms'] for p in j['pids']) == [p['first_ms'] for p in j['pids']]"
stop_server

# --duration 0 runs until SIGTERM, then finishes in-flight requests and reports.
start_server --mode good
set +e
"$LOADGEN" --addr "127.0.0.1:$PORT" --keepalive 2 --duration 0 --json >"$TMP/out.json" 2>"$TMP/err" &
LG_PID=$!
sleep 0.5
kill -TERM "$LG_PID"
wait "$LG_PID"
RC=$?
set -e
expect "SIGTERM ends an unbounded run with a report" 0 "j['failures'] == 0 and j['ok'] > 10"
stop_server

# Human summary, usage errors and --help.
start_server --mode good
set +e
out=$(timeout 30 "$LOADGEN" --addr "127.0.0.1:$PORT" --duration 0.2 2>&1)
RC=$?
set -e
if [ "$RC" = 0 ] && grep -q '^failures .*connect_refused=0' <<<"$out" && grep -q '^requests ' <<<"$out"; then
    echo "ok   human summary"
else
    echo "FAIL human summary: exit $RC"; echo "$out"; FAILED=$((FAILED + 1))
fi
stop_server
usage_case() {
    local want=$1
    shift
    set +e
    timeout 10 "$LOADGEN" "$@" >/dev/null 2>&1
    local rc=$?
    set -e
    if [ "$rc" = "$want" ]; then echo "ok   exit $want: loadgen $*"; else
        echo "FAIL exit $rc (want $want): loadgen $*"; FAILED=$((FAILED + 1)); fi
}
usage_case 0 --help
usage_case 2
usage_case 2 --bogus
usage_case 2 --addr 127.0.0.1
usage_case 2 --addr ::1:80
usage_case 2 --addr 127.0.0.1:70000
usage_case 2 --addr 127.0.0.1:80 --unix /x
usage_case 2 --addr 127.0.0.1:80 --keepalive 0 --new 0
usage_case 2 --addr 127.0.0.1:80 --duration -1
usage_case 2 --addr 127.0.0.1:80 --path nope
usage_case 2 --addr 127.0.0.1:80 --timeout-ms

if [ "$FAILED" -ne 0 ]; then
    echo "check-loadgen: $FAILED case(s) failed"
    exit 1
fi
echo "check-loadgen: all cases passed"
