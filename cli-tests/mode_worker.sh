#!/bin/sh
# A worker whose behaviour the test picks per start, by writing a word into
# $MODE_FILE before a reload:
#   ok       exec build/bin/httpd "$@" (LISTEN_FDS + gracefd_ready())
#   exit     exit 3 at once
#   crash    die of SIGSEGV at once
#   hang     run, but never become ready
#   gate     wait (up to 60 s) until $GATE_FILE exists, then as ok
#   deaf     ignore SIGTERM, run 1000 s (a worker that must be SIGKILLed)
#   early    say READY=1 on NOTIFY_SOCKET, then exit 1 a second later (what
#            gunicorn without --preload does when its app fails to import)
# The pid stays the same through exec, so LISTEN_PID stays true.
mode=$(cat "$MODE_FILE" 2>/dev/null || echo ok)
echo "mode_worker[$$]: generation ${SERVER_STARTER_GENERATION:-?} mode $mode" >&2
case "$mode" in
  ok) exec "$HTTPD" "$@" ;;
  exit) exit 3 ;;
  crash) kill -SEGV $$; sleep 5; exit 99 ;;
  hang) exec sleep 1000 ;;
  gate)
    i=0
    while [ ! -e "$GATE_FILE" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    exec "$HTTPD" "$@" ;;
  deaf) trap '' TERM; exec sleep 1000 ;;
  early)
    python3 -c 'import os, socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])'
    sleep 1; exit 1 ;;
  *) echo "mode_worker: unknown mode $mode" >&2; exit 2 ;;
esac
