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
#   leave    first fork a child that keeps the sockets and sleeps 1000 s
#            (what a prefork master's workers do; its pid is appended to
#            $CHILD_FILE once it runs), then as ok
#   leave-exit       the same child, then exit 3 before being ready
#   leave-deaf-exit  as leave-exit, the child ignoring SIGTERM
#   leave-deaf       as leave, the child ignoring SIGTERM
# The pid stays the same through exec, so LISTEN_PID stays true.
mode=$(cat "$MODE_FILE" 2>/dev/null || echo ok)
echo "mode_worker[$$]: generation ${SERVER_STARTER_GENERATION:-?} mode $mode" >&2
# A child in our process group holding fds 3.. (the sockets); $1 is its
# SIGTERM trap ('' ignores it, - keeps the default). Returns once the child
# has written its pid, so the trap is in place before we go on.
leave_child() {
  before=$(($(cat "$CHILD_FILE" 2>/dev/null | wc -l)))
  sh -c "trap '$1' TERM; echo \$\$ >> \"\$CHILD_FILE\"; exec sleep 1000" &
  i=0
  while [ $(($(cat "$CHILD_FILE" 2>/dev/null | wc -l))) -le "$before" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
}
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
  leave) leave_child -; exec "$HTTPD" "$@" ;;
  leave-deaf) leave_child ''; exec "$HTTPD" "$@" ;;
  leave-exit) leave_child -; exit 3 ;;
  leave-deaf-exit) leave_child ''; exit 3 ;;
  *) echo "mode_worker: unknown mode $mode" >&2; exit 2 ;;
esac
