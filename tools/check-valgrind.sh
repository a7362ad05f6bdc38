#!/usr/bin/env bash
# The C harness under valgrind: no invalid access, no leak, in the test
# processes (each test runs in a forked child, which valgrind follows).
# Re-executed helpers (roles) are plain processes, not traced.
# Left out under valgrind, and only there: tests of RLIMIT_NOFILE itself
# (valgrind reserves fds for itself and reports lowered limits), and the
# pid-file race (thousands of forks racing a lock: valgrind serialises and
# slows them past racing), which run natively and under ASan in make check.
# And the upgrade test of a new generation that forked then died: it needs
# pidfd_open, which valgrind 3.19 does not emulate (ENOSYS), so the library
# takes its no-pidfd fallback there; it runs natively and under ASan.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp /tmp/gracefd-valgrind-XXXXXX)
trap 'rm -f "$log" "$log".*' EXIT
status=0
valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --show-leak-kinds=definite,indirect --child-silent-after-fork=no --log-file="$log.%p" \
  build/bin/ffi-tests --skip rlimit --skip ctrunc --skip pidfile_never_two_holders --skip forked_then_died "$@" || status=$?
errors=$(cat "$log".* 2>/dev/null | grep -E '(Invalid|uninitialised|definitely lost|indirectly lost|Mismatched|ERROR SUMMARY: [1-9])' || true)
if [ -n "$errors" ]; then
  echo "check-valgrind: valgrind found problems:"; cat "$log".* | head -80; exit 1
fi
[ "$status" = 0 ] || { echo "check-valgrind: the harness failed under valgrind (status $status)"; exit 1; }
echo "check-valgrind: no invalid accesses, no leaks"
