#!/usr/bin/env bash
# The C API's man pages: generated from include/gracefd.h into a scratch
# directory, each rendered with `man -l` (groff warnings fail it), every
# public function of the header documented in some family page, and every
# per-function alias page leading to its family's text.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v man >/dev/null || { echo "check-man: man is missing (apt-get install man-db; tools/prereqs.sh check)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/man3"
python3 tools/gen-man.py include/gracefd.h "$work/man3" >/dev/null

fail=0
render() { # render FILE OUT: man -l with groff's warnings; any warning fails
  # LC_ALL=C: the strictest rendering (-Tascii), what a fresh machine has.
  if ! (cd "$work" && LC_ALL=C MANWIDTH=100 man --warnings -l "$1" >"$2" 2>"$2.err") || [ -s "$2.err" ]; then
    echo "check-man: $1 does not render cleanly:"; cat "$2.err"; fail=1
  fi
}

pages=()
for p in "$work"/man3/gracefd.3 "$work"/man3/gracefd-*.3; do
  name=$(basename "$p" .3)
  pages+=("$name")
  render "man3/$name.3" "$work/$name.txt"
  [ -s "$work/$name.txt" ] || { echo "check-man: $name renders empty"; fail=1; }
done
[ ${#pages[@]} -ge 9 ] || { echo "check-man: only ${#pages[@]} pages"; fail=1; }

# Every function the header declares (prototypes, not comments).
mapfile -t funcs < <(grep -v '^//' include/gracefd.h | grep -o '\bgracefd_[a-z0-9_]*(' | tr -d '(' | sort -u)
[ ${#funcs[@]} -ge 50 ] || { echo "check-man: found only ${#funcs[@]} functions in the header"; exit 1; }
for f in "${funcs[@]}"; do
  # Its own section heading in a family page ("   gracefd_x()" at the start of a line).
  if ! grep -qx "   $f()" "$work"/gracefd-*.txt; then
    echo "check-man: $f has no section in any family page"; fail=1; continue
  fi
  # Its alias page sources the family page that documents it.
  fam=$(sed -n 's|^\.so man3/\(gracefd-[a-z]*\)\.3$|\1|p' "$work/man3/$f.3" 2>/dev/null)
  if [ -z "$fam" ] || ! grep -qx "   $f()" "$work/$fam.txt"; then
    echo "check-man: man3/$f.3 does not lead to the page that documents $f"; fail=1
  fi
done
# And `man -l` follows such an alias (rendered once: man is slow).
render "man3/${funcs[0]}.3" "$work/alias.txt"
grep -qx "   ${funcs[0]}()" "$work/alias.txt" || { echo "check-man: man3/${funcs[0]}.3 renders without its text"; fail=1; }

[ $fail = 0 ] || exit 1
echo "check-man: ${#pages[@]} pages render; all ${#funcs[@]} functions documented"
