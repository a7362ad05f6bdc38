#!/bin/sh
# A worker that exits with status $TERM_STATUS when it gets SIGTERM (what a
# container's stop should report), after saying READY=1 on NOTIFY_SOCKET.
trap 'exit ${TERM_STATUS:-7}' TERM
python3 -c 'import os, socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])'
while :; do
  sleep 0.2 &
  wait $!
done
