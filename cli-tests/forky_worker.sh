#!/bin/sh
# A worker whose helpers outlive their parents: for about 3 s it starts
# short-lived grandchildren through double forks (the middle process exits
# at once), so each is orphaned and re-parented to the nearest subreaper or
# PID 1 (gracefd), which must reap it. The loop itself is double-forked too.
# Then it runs $HTTPD with its arguments (same pid: LISTEN_PID stays true).
( (
  n=0
  while [ $n -lt 30 ]; do
    ( sleep 0.05 & )
    sleep 0.05
    n=$((n + 1))
  done
) & )
exec "$HTTPD" "$@"
