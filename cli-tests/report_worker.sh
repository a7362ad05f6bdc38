#!/bin/sh
# A worker that writes what it runs as into $REPORT_FILE (uid gid groups
# soft-nofile hard-nofile LISTEN_FDS), says READY=1, then waits to be stopped.
echo "$(id -u) $(id -g) $(id -G | tr ' ' ',') $(ulimit -Sn) $(ulimit -Hn) ${LISTEN_FDS:-none}" > "$REPORT_FILE.tmp"
mv "$REPORT_FILE.tmp" "$REPORT_FILE"
# Ready through NOTIFY_SOCKET, as the user the worker runs as (systemd-notify
# then waits for a barrier gracefd does not answer: its status is ignored).
systemd-notify --ready 2>/dev/null || :
exec sleep 1000
