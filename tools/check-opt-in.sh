#!/usr/bin/env bash
# Prove that what a program never turns on stays out of it (sync::OptIn,
# docs/HACKING.md): bench/lifecycle.c (daemonize, listen, events, ready,
# upgrade, notify) linked with the archive, with the default flags and with
# --gc-sections, must not contain the connection pass's receiving thread or
# the hand-off's "tell the old side to drain"; c-examples/httpd.c, which
# enables the pass and takes fds by hand-off, must contain both. (Daemonize's
# command mode has no setter in the C ABI: tools/split-object.py leaves it
# out of the archive altogether.) Daemonize's user and group lookups: only a
# program that sets a user or group links them. The unix socket
# mode's steps and the listen path of a pre-bind hook likewise: neither
# program sets a mode or a hook, so both must leave them out, and a program
# that calls gracefd_listen_opts_set_unix_mode and _set_pre_bind must have them.
set -euo pipefail
lib=${1:?usage: check-opt-in.sh libgracefd.a}
cc=${CC:-cc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Local function names, demangled without hashes.
names() { nm -C "$1" | awk '$2 ~ /^[tT]$/ {$1 = ""; $2 = ""; print}' | sed -E 's/::h[0-9a-f]{16}$//; s/^ +//'; }
# lacks PROGRAM WHY FLAGS NAME...: PROGRAM linked with FLAGS has none of the NAMEs.
lacks() {
  local prog=$1 why=$2 flags=$3 have n
  shift 3
  "$cc" -O2 -Iinclude -o "$work/prog" "$prog" "$lib" $flags
  have=$(names "$work/prog")
  for n; do
    if grep -q -x -F "$n" <<<"$have"; then
      echo "check-opt-in: $prog (${flags:-default link}) links $n, $why"; exit 1
    fi
  done
}
# has PROGRAM NAME...: PROGRAM linked with --gc-sections has every NAME (so
# that a renamed function cannot make the checks above pass by accident).
has() {
  local prog=$1 have n
  shift
  "$cc" -O2 -Iinclude -o "$work/prog" "$prog" "$lib" -Wl,--gc-sections
  have=$(names "$work/prog")
  for n; do
    if ! grep -q -x -F "$n" <<<"$have"; then
      echo "check-opt-in: $prog does not link $n: the name looked for is wrong, or the feature is gone"; exit 1
    fi
  done
}

pass_and_take=(
  "gracefd::conns::receive::run"
  "gracefd::handoff::new_side::report_ready"
)
for flags in "" "-Wl,--gc-sections"; do
  lacks bench/lifecycle.c "which it never turns on" "$flags" "${pass_and_take[@]}"
done
has c-examples/httpd.c "${pass_and_take[@]}"
echo "check-opt-in: bench/lifecycle.c links neither the connection-pass receiver nor the hand-off telling; httpd.c links both"

# Daemonize's user and group lookups: only through what
# gracefd_daemon_opts_set_user/_set_group install. lifecycle.c sets neither.
creds="gracefd::daemon::creds::resolve_creds"
for flags in "" "-Wl,--gc-sections"; do
  lacks bench/lifecycle.c "but sets no user or group" "$flags" "$creds"
done
cat > "$work/user.c" <<'C'
#include "gracefd.h"
int main(void) {
    gracefd_daemon_opts *d = gracefd_daemon_opts_new();
    gracefd_daemon_opts_set_user(d, "nobody");
    return gracefd_daemonize(d) < 0;
}
C
has "$work/user.c" "$creds"
echo "check-opt-in: bench/lifecycle.c does not link the user lookups; a program setting a user does"

# A unix socket's mode and the pre-bind hook's listen path: only through
# gracefd_listen_opts_set_unix_mode/_set_pre_bind.
listen_opts=(
  "gracefd::listeners::unix_mode::after_bind"
  "gracefd::listeners::hooked::listen_hooked"
)
for prog in bench/lifecycle.c c-examples/httpd.c; do
  lacks "$prog" "though it sets no unix socket mode and no pre-bind hook" "-Wl,--gc-sections" "${listen_opts[@]}"
done
cat >"$work/opts.c" <<'EOC'
#include <gracefd.h>
static int hook(int fd, void *data) { (void)fd; (void)data; return 0; }
int main(void) {
    gracefd_listen_opts *o = gracefd_listen_opts_new();
    gracefd_listen_opts_set_unix_mode(o, 0600);
    gracefd_listen_opts_set_pre_bind(o, hook, 0);
    int fd = gracefd_listen_with("m", "unix:@gracefd-check-opt-in", o);
    gracefd_listen_opts_free(o);
    return fd < 0;
}
EOC
has "$work/opts.c" "${listen_opts[@]}"
echo "check-opt-in: only a program that sets a unix socket mode and a pre-bind hook links their code"
