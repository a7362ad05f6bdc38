#!/usr/bin/env bash
# Tests tools/prereqs.sh without touching the machine: dpkg-query, apt-get,
# id, cargo, rustup and go are stubs on a PATH that holds nothing else of
# the toolchains, so "missing" is whatever a test says is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

stub=$(mktemp -d)
trap 'rm -rf "$stub"' EXIT
fail() { echo "test-prereqs: $*" >&2; exit 1; }

# Every Debian package named in the one list (profile check is a superset of demo).
mapfile -t all_pkgs < <(sed -n 's/^package \([^ ]*\) .*/\1/p' tools/prereqs.sh)
[ ${#all_pkgs[@]} -ge 10 ] || fail "could not read the package list"
mapfile -t demo_pkgs < <(sed -n 's/^package \([^ ]*\) *"[^"]*demo[^"]*".*/\1/p' tools/prereqs.sh)
[ ${#demo_pkgs[@]} -ge 3 ] && [ ${#demo_pkgs[@]} -lt ${#all_pkgs[@]} ] || fail "could not read the demo packages"

mkdir -p "$stub/bin"
# dpkg-query -W -f=FMT PKG...: "installed" for each package named in FAKE_INSTALLED.
cat >"$stub/bin/dpkg-query" <<'EOF'
#!/bin/bash
shift 2
for p in "$@"; do
  case " $FAKE_INSTALLED " in *" $p "*) echo "$p install ok installed" ;; esac
done
EOF
cat >"$stub/bin/id" <<'EOF'
#!/bin/bash
echo "${FAKE_UID:-1000}"
EOF
# apt-get: logs its arguments; `install` makes the packages "installed".
cat >"$stub/bin/apt-get" <<'EOF'
#!/bin/bash
args=()
while [ $# -gt 0 ]; do
  if [ "$1" = -o ]; then shift 2; else args+=("$1"); shift; fi   # -o KEY=VALUE: not logged
done
echo "apt-get ${args[*]}" >>"$FAKE_LOG"
EOF
cat >"$stub/bin/cargo" <<'EOF'
#!/bin/bash
[ "$1" = clippy ] && { [ -n "${FAKE_CLIPPY:-}" ] || exit 1; }
echo "cargo 1.0"
EOF
cat >"$stub/bin/rustup" <<'EOF'
#!/bin/bash
echo "rustup $*" >>"$FAKE_LOG"
EOF
printf '#!/bin/bash\necho rustc 1.0\n' >"$stub/bin/rustc"
printf '#!/bin/bash\necho go version go1.22\n' >"$stub/bin/go"
chmod +x "$stub"/bin/*

# Only the stubs and the basic utilities (bash, awk, grep, sed, mktemp).
base_path="$stub/bin:/usr/bin:/bin"
run() { env -i PATH="$base_path" HOME="$stub" FAKE_LOG="$stub/log" "$@" bash tools/prereqs.sh "${PROFILE:-check}"; }

# 1. Everything present: silent, exit 0, nothing installed.
: >"$stub/log"
out=$(PROFILE=check run FAKE_INSTALLED="${all_pkgs[*]}" FAKE_CLIPPY=1 GO="$stub/bin/go" 2>&1) ||
  fail "all present: exit $?: $out"
[ -z "$out" ] || fail "all present: expected no output, got: $out"
[ ! -s "$stub/log" ] || fail "all present: installed something: $(cat "$stub/log")"

# 2. Not root, three packages, clippy and go missing: every one reported at
#    once with its command; exit 1; apt-get not run (rustup, a per-user
#    tool, may be tried; the stub adds nothing, so clippy stays missing).
present=()
for p in "${all_pkgs[@]}"; do
  case $p in libsystemd-dev|valgrind|man-db) ;; *) present+=("$p") ;; esac
done
: >"$stub/log"
rc=0
out=$(run FAKE_INSTALLED="${present[*]}" GO=/nonexistent/go 2>&1) || rc=$?
[ $rc = 1 ] || fail "missing, not root: exit $rc, want 1: $out"
grep -qF "sudo apt-get update && sudo apt-get install -y libsystemd-dev valgrind man-db" <<<"$out" ||
  fail "missing, not root: no single install command for the three packages: $out"
grep -qF "rustup component add clippy" <<<"$out" || fail "clippy not reported: $out"
grep -qF "go:" <<<"$out" || fail "go not reported: $out"
grep -qF "https://go.dev/dl/" <<<"$out" || fail "go without its install hint: $out"
! grep -q '^apt-get' "$stub/log" || fail "not root: ran apt-get: $(cat "$stub/log")"

# 3. Root with apt-get: one update, one install naming every missing package,
#    clippy added with rustup. (The stub apt-get installs nothing, so the
#    script then reports them still missing and fails: that is right too.)
: >"$stub/log"
rc=0
out=$(run FAKE_UID=0 FAKE_INSTALLED="${present[*]}" GO="$stub/bin/go" 2>&1) || rc=$?
[ $rc = 1 ] || fail "root, install did nothing: exit $rc, want 1: $out"
[ "$(grep -c '^apt-get update' "$stub/log")" = 1 ] || fail "root: want one apt-get update: $(cat "$stub/log")"
[ "$(grep -c '^apt-get install' "$stub/log")" = 1 ] || fail "root: want one apt-get install: $(cat "$stub/log")"
grep -q '^apt-get install .*libsystemd-dev valgrind man-db$' "$stub/log" ||
  fail "root: install does not name the missing packages: $(cat "$stub/log")"
grep -qx 'rustup component add clippy' "$stub/log" || fail "root: clippy not added: $(cat "$stub/log")"
grep -qF "apt-get install -y libsystemd-dev valgrind man-db" <<<"$out" || fail "root: leftovers not reported: $out"

# 4. GRACEFD_PREREQS_INSTALL=never: root, but only report.
: >"$stub/log"
rc=0
out=$(run FAKE_UID=0 GRACEFD_PREREQS_INSTALL=never FAKE_INSTALLED="${present[*]}" FAKE_CLIPPY=1 GO="$stub/bin/go" 2>&1) || rc=$?
[ $rc = 1 ] && [ ! -s "$stub/log" ] || fail "never: exit $rc, log: $(cat "$stub/log")"

# 5. The demo profile does not ask for the check-only packages.
out=$(PROFILE=demo run FAKE_INSTALLED="${demo_pkgs[*]}" 2>&1) || fail "demo with ${demo_pkgs[*]}: $out"

# 6. No cargo on PATH: reported with rustup's installer (demo needs it).
rm "$stub/bin/cargo"
rc=0
out=$(PROFILE=demo run FAKE_INSTALLED="${demo_pkgs[*]}" 2>&1) || rc=$?
[ $rc = 1 ] && grep -qF "sh.rustup.rs" <<<"$out" || fail "no cargo: exit $rc: $out"

# 7. A package found by its probe (python3-gunicorn from pip, say) is not
#    missing even though dpkg does not know it; without the probe it is.
printf '#!/bin/bash\necho cargo 1.0\n' >"$stub/bin/cargo"; chmod +x "$stub/bin/cargo"
but_gunicorn=()
for p in "${all_pkgs[@]}"; do [ "$p" = python3-gunicorn ] || but_gunicorn+=("$p"); done
printf '#!/bin/bash\nexit 0\n' >"$stub/bin/python3"; chmod +x "$stub/bin/python3"
out=$(run GRACEFD_PREREQS_INSTALL=never FAKE_INSTALLED="${but_gunicorn[*]}" FAKE_CLIPPY=1 GO="$stub/bin/go" 2>&1) ||
  fail "gunicorn found by its probe, still reported: $out"
printf '#!/bin/bash\nexit 1\n' >"$stub/bin/python3"
rc=0
out=$(run GRACEFD_PREREQS_INSTALL=never FAKE_INSTALLED="${but_gunicorn[*]}" FAKE_CLIPPY=1 GO="$stub/bin/go" 2>&1) || rc=$?
[ $rc = 1 ] && grep -qF "apt-get install -y python3-gunicorn" <<<"$out" || fail "gunicorn missing: exit $rc: $out"

echo "test-prereqs: ok (7 cases)"
