#!/bin/sh
# A worker that writes what it runs as into $REPORT_FILE (uid gid groups
# soft-nofile hard-nofile LISTEN_FDS), then waits to be stopped.
echo "$(id -u) $(id -g) $(id -G | tr ' ' ',') $(ulimit -Sn) $(ulimit -Hn) ${LISTEN_FDS:-none}" > "$REPORT_FILE.tmp"
mv "$REPORT_FILE.tmp" "$REPORT_FILE"
exec sleep 1000
