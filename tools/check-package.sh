#!/usr/bin/env bash
# The crate as crates.io would get it: `cargo package --list` ships exactly
# the files of tools/package-files.txt (what the crate builds from, the
# licences and the README — no tests, examples, tools or other languages),
# and `cargo publish --dry-run` builds the packaged crate on its own (no
# upload). --allow-dirty is passed only when a packaged file has
# uncommitted changes (a developer's work tree); a clean checkout, as CI's
# is, is packaged as it is.
#
#   tools/check-package.sh [CARGO]
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${1:-cargo}
patterns=tools/package-files.txt

dirty=()
if [ -n "$(git status --porcelain -- src include build.rs cbindgen.toml Cargo.toml Cargo.lock LICENSE-MIT LICENSE-APACHE README.md 2>/dev/null)" ]; then
  dirty=(--allow-dirty)
  echo "check-package: packaged files have uncommitted changes: using --allow-dirty"
fi

list=$("$CARGO" package --list -p gracefd "${dirty[@]}")
bad=0
declare -A used=()
while IFS= read -r f; do
  ok=0
  while IFS= read -r p; do
    case "$p" in ''|'#'*) continue ;; esac
    glob=${p#\?}
    # shellcheck disable=SC2254 # the pattern is a glob on purpose
    case "$f" in $glob) ok=1; used[$glob]=1; break ;; esac
  done <"$patterns"
  if [ $ok = 0 ]; then echo "check-package: unexpected file in the package: $f"; bad=1; fi
done <<<"$list"
while IFS= read -r p; do
  case "$p" in ''|'#'*|'?'*) continue ;; esac
  if [ -z "${used[$p]:-}" ]; then echo "check-package: missing from the package: $p"; bad=1; fi
done <"$patterns"
[ $bad = 0 ] || { echo "check-package: cargo package --list gave:"; echo "$list"; exit 1; }
echo "check-package: $(wc -l <<<"$list") files, as expected"

"$CARGO" publish --dry-run -p gracefd "${dirty[@]}"
