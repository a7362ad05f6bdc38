#!/usr/bin/env bash
# The pid file on a read-only and on a full filesystem, with the C
# example: at start-up, a clear error and a non-zero exit; on a filesystem that
# fills up while it serves, upgrades under load go on (the pid is rewritten in
# place, in the block the file already has): zero failed requests, no zombie.
# Needs to mount a small tmpfs (root with CAP_SYS_ADMIN, as on this project's
# machines); it fails, never skips, if it cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh

start_work pidfs
mnt="$work/mnt"
mkdir -p "$mnt"
extra_cleanup() { umount "$mnt" 2>/dev/null || true; }
fail() { echo "test-pidfile-fs: FAIL: $*"; tail -n 5 "$work/server.log" 2>/dev/null; exit 1; }
mount -t tmpfs -o size=16k,mode=0755 tmpfs "$mnt" || fail "cannot mount a tmpfs here (needs CAP_SYS_ADMIN)"


# ---- read-only: start-up fails clearly ----------------------------------------
mount -o remount,ro "$mnt"
port=$(free_port)
if out=$("$BIN/httpd" --listen "http=127.0.0.1:$port" --daemonize --pid-file "$mnt/httpd.pid" 2>&1); then
  fail "read-only: started although the pid file cannot be created"
fi
grep -q "EROFS" <<<"$out" || fail "read-only: unclear error: $out"
echo "test-pidfile-fs: read-only at start-up: refused: $out"
mount -o remount,rw "$mnt"

# (A filesystem cannot be remounted read-only while the pid file is open for
# writing, as a running server holds it: the kernel refuses, "mount point is
# busy". So read-only matters at start-up only.)
rm -f "$mnt/httpd.pid"

# ---- full: start-up fails clearly; upgrades still rewrite the pid in place -------
port=$(free_port)
: >"$work/server.log"
"$BIN/httpd" --listen "http=127.0.0.1:$port" --pid-file "$mnt/httpd.pid" --verbose 2>"$work/server.log" &
server=$!
wait_http "$port"
dd if=/dev/zero of="$mnt/filler" bs=4k count=64 2>/dev/null || true   # fill it up (ENOSPC ends dd)
start_load "$port" "$work/load-full.json" --keepalive 8 --new 4
serving=$(next_generation "$server")
[ -n "$serving" ] || fail "full: the upgrade did not complete"
[ "$(cat "$mnt/httpd.pid")" = "$serving" ] || fail "full: the pid file does not name the new generation"
port2=$(free_port)
if out=$("$BIN/httpd" --listen "http=127.0.0.1:$port2" --daemonize --pid-file "$mnt/other.pid" 2>&1); then
  fail "full: a second server started although its pid file cannot be written"
fi
grep -q "ENOSPC" <<<"$out" || fail "full: unclear error: $out"
sleep 0.3
stop_load "$work/load-full.json"
[ "$(json_field "$LOAD_RESULT" failures)" = 0 ] || fail "full: requests failed: $LOAD_RESULT"
gens="$server $(pids_in_log "$work/server.log")"
[ -z "$(zombies_of $gens)" ] || fail "full: zombies"
echo "test-pidfile-fs: full filesystem: upgrade rewrote the pid in place ($(json_field "$LOAD_RESULT" requests) requests, 0 failed); a new pid file refused: $out"
stop_pids $gens
server=""
echo "test-pidfile-fs: all passed"
