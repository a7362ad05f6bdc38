#!/usr/bin/env bash
# Listening sockets against peers nobody here wrote (run by `make check`
# through mk/listeners.mk):
#  1. c-examples/echo-names under systemd-socket-activate with two named
#     sockets serves on both, each under its own name;
#  2. the same example under Perl's start_server with a TCP port and a unix
#     path serves on both;
#  3. a child written against libsystemd's sd_listen_fds_with_names() gets
#     from gracefd's registry export exactly the names, fd numbers and socket
#     kinds it gets from systemd-socket-activate.
# Missing tools are a failure, not a skip. Only 127.0.0.1 and unix sockets;
# every wait is bounded; every process started is reaped by pid.
set -euo pipefail

ECHO=${1:?usage: interop-listeners.sh ECHO_NAMES SD_CHILD EXPORT_EXEC}
SD_CHILD=${2:?}
EXPORT_EXEC=${3:?}
for tool in systemd-socket-activate start_server perl timeout; do
  command -v "$tool" >/dev/null || { echo "interop-listeners: $tool is missing (apt-get install systemd libserver-starter-perl)"; exit 1; }
done

# Fds leaked into this shell by whoever started it would be inherited by every
# child and blur the leak checks: close them.
for fd in $(ls /proc/$$/fd); do
  if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
done

tmp=$(mktemp -d /tmp/gracefd-interop-XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    reap "$p" || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

drop_pid() {
  local p keep=()
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  pids=("${keep[@]}")
}

fail() { echo "interop-listeners: FAIL: $*"; for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done; exit 1; }

# Wait (bounded) for a started process to end; SIGKILL it after 10 s.
reap() {
  local pid=$1 i
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return 1
}

free_port() {
  perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1, ReuseAddr => 1) or die "$!";
    print $s->sockport, "\n";'
}

# Wait (bounded) until FILE contains TEXT.
wait_for() {
  local file=$1 text=$2 i
  for i in $(seq 1 100); do
    grep -qF -- "$text" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "timed out waiting for '$text' in $file"
}

ask_tcp() {
  timeout 10 perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0], Timeout => 5) or die "connect: $!\n";
    my $l = <$s>; print defined $l ? $l : "(nothing)\n";' "$1"
}

ask_unix() {
  timeout 10 perl -MIO::Socket::UNIX -e '
    my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!\n";
    my $l = <$s>; print defined $l ? $l : "(nothing)\n";' "$1"
}

expect_reply() {
  local got=$1 want=$2 what=$3
  [ "$got" = "$want" ] || fail "$what: replied '$got', expected '$want'"
  echo "interop-listeners: $what -> $got"
}

# ---- 1. systemd-socket-activate, two named sockets ------------------------
p1=$(free_port); p2=$(free_port)
# The names are deliberately in the other order than echo-names' arguments,
# and echo-names' own addresses are port 0: only names can make this work.
systemd-socket-activate -l "127.0.0.1:$p1" -l "127.0.0.1:$p2" --fdname=b:a \
  "$ECHO" a=127.0.0.1:0 b=127.0.0.1:0 >"$tmp/ssa.log" 2>&1 &
pids+=($!)
wait_for "$tmp/ssa.log" "Listening on 127.0.0.1:$p2"
expect_reply "$(ask_tcp "$p1")" b "systemd-socket-activate: 127.0.0.1:$p1 (--fdname b)"
expect_reply "$(ask_tcp "$p2")" a "systemd-socket-activate: 127.0.0.1:$p2 (--fdname a)"
grep -q '^ready$' "$tmp/ssa.log" || fail "echo-names did not report ready under systemd-socket-activate"
ssa_pid=${pids[-1]}
kill -TERM "$ssa_pid"; reap "$ssa_pid" || fail "systemd-socket-activate child did not exit"; drop_pid "$ssa_pid"

# ---- 2. start_server: a TCP port and a unix path ---------------------------
p3=$(free_port)
sock="$tmp/ss.sock"
start_server --port="127.0.0.1:$p3" --path="$sock" -- \
  "$ECHO" web="127.0.0.1:$p3" admin="unix:$sock" >"$tmp/start_server.log" 2>&1 &
ss_pid=$!
pids+=($ss_pid)
wait_for "$tmp/start_server.log" "ready"
grep -q 'SERVER_STARTER_PORT\|address already in use' "$tmp/start_server.log" && fail "echo-names bound afresh instead of inheriting"
expect_reply "$(ask_tcp "$p3")" web "start_server: 127.0.0.1:$p3"
expect_reply "$(ask_unix "$sock")" admin "start_server: $sock"
kill -TERM "$ss_pid"; reap "$ss_pid" || fail "start_server did not stop"; drop_pid "$ss_pid"

# ---- 3. a libsystemd child: gracefd's export vs systemd's ------------------
normalize() { sed -E 's/ ino=[0-9]+//'; }

p4=$(free_port)
usock="$tmp/sd.sock"
systemd-socket-activate -l "127.0.0.1:$p4" -l "$usock" --fdname=web:admin "$SD_CHILD" \
  >"$tmp/sd-systemd.log" 2>"$tmp/sd-systemd.err" &
sd_pid=$!
pids+=($sd_pid)
wait_for "$tmp/sd-systemd.err" "Listening on $usock"
ask_tcp "$p4" >/dev/null 2>&1 || true   # systemd-socket-activate execs the child on the first connection
reap "$sd_pid" || fail "the libsystemd child under systemd-socket-activate did not exit"; drop_pid "$sd_pid"
wait_for "$tmp/sd-systemd.log" "other_fds="

gsock="$tmp/gd.sock"
timeout 20 "$EXPORT_EXEC" web=127.0.0.1:0 admin="unix:$gsock" -- "$SD_CHILD" >"$tmp/sd-gracefd.log" 2>&1 \
  || fail "export-exec failed"

from_systemd=$(grep -E '^(n=|fd=|other_fds=)' "$tmp/sd-systemd.log" | normalize)
from_gracefd=$(grep -E '^(n=|fd=|other_fds=)' "$tmp/sd-gracefd.log" | normalize)
[ "$from_systemd" = "$from_gracefd" ] || fail "sd_listen_fds_with_names() differs:
systemd-socket-activate:
$from_systemd
gracefd:
$from_gracefd"
grep -q '^n=2$' <<<"$from_gracefd" || fail "expected 2 fds: $from_gracefd"
grep -q '^other_fds=0$' <<<"$from_gracefd" || fail "fds leaked into the child: $from_gracefd"
# And they are the very sockets gracefd registered (same inode at fd 3+i).
while read -r _ i name ino; do
  grep -q "^fd=$((3 + i)) name=$name $ino " "$tmp/sd-gracefd.log" || fail "fd $((3 + i)) is not the registry's $name ($ino)"
done < <(grep '^export ' "$tmp/sd-gracefd.log")

# Unnamed: systemd passes no LISTEN_FDNAMES, gracefd passes "unknown"; the child sees the same.
p5=$(free_port)
systemd-socket-activate -l "127.0.0.1:$p5" "$SD_CHILD" >"$tmp/sd-systemd2.log" 2>"$tmp/sd-systemd2.err" &
sd_pid=$!
pids+=($sd_pid)
wait_for "$tmp/sd-systemd2.err" "Listening on 127.0.0.1:$p5"
ask_tcp "$p5" >/dev/null 2>&1 || true
reap "$sd_pid" || fail "the libsystemd child (unnamed) did not exit"; drop_pid "$sd_pid"
wait_for "$tmp/sd-systemd2.log" "other_fds="
timeout 20 "$EXPORT_EXEC" -=127.0.0.1:0 -- "$SD_CHILD" >"$tmp/sd-gracefd2.log" 2>&1 || fail "export-exec (unnamed) failed"
a=$(grep -E '^(n=|fd=|other_fds=)' "$tmp/sd-systemd2.log" | normalize)
b=$(grep -E '^(n=|fd=|other_fds=)' "$tmp/sd-gracefd2.log" | normalize)
[ "$a" = "$b" ] || fail "unnamed: systemd gives '$a', gracefd gives '$b'"

echo "interop-listeners: sd_listen_fds_with_names() gets the same from gracefd as from systemd:"
sed 's/^/    /' <<<"$from_gracefd"
echo "interop-listeners: all passed"
