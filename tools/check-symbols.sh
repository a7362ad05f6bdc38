#!/usr/bin/env bash
# Prove the archive exports only gracefd_* (plus compiler-rt's __* builtins,
# which every Rust staticlib carries), contains no std code, and was slimmed
# by tools/slim-archive.sh.
set -euo pipefail
lib=${1:?usage: check-symbols.sh libgracefd.a}
syms=$(nm -g --defined-only "$lib" 2>/dev/null | awk 'NF==3 && $2 ~ /^[TDBRVWiu]$/ {print $3}' | sort -u)
ours=$(grep -c '^gracefd_[a-z0-9]' <<<"$syms" || true)
# gracefd__*: the references between the library's own members
# (tools/split-object.py). They must be hidden, so that a shared object
# linking the archive exports none of them.
internal=$(grep -c '^gracefd__' <<<"$syms" || true)
visible=$(readelf -sW "$lib" 2>/dev/null | awk '$5 != "LOCAL" && $7 != "UND" && $8 ~ /^gracefd__/ && $6 != "HIDDEN" {print $8}')
if [ -n "$visible" ]; then
  echo "check-symbols: internal symbols not hidden:"; head <<<"$visible"; exit 1
fi
stray=$(grep -v -E '^(gracefd_[a-z0-9_]+|__[A-Za-z0-9_]+)$' <<<"$syms" || true)
if [ -n "$stray" ]; then
  echo "check-symbols: exported symbols outside gracefd_* and the compiler runtime:"; echo "$stray"; exit 1
fi
if [ "$ours" -lt 5 ]; then echo "check-symbols: only $ours gracefd_* symbols found"; exit 1; fi
if nm -C "$lib" 2>/dev/null | grep -q 'std::'; then
  echo "check-symbols: the archive contains std:: symbols"; exit 1
fi
# tools/slim-archive.sh ran: the library object carries no unwind tables and
# no string section the linker could only keep or drop whole.
lib_sections=$(readelf -SW "$lib" 2>/dev/null | awk '/^File: /{own = ($2 ~ /\(gracefd-[^)]*\.o\)$/)} own')
if grep -q ' \.eh_frame ' <<<"$lib_sections"; then
  echo "check-symbols: the library object still has .eh_frame (tools/slim-archive.sh did not run?)"; exit 1
fi
if grep -qE ' \.rodata\.str[0-9.]+ +PROGBITS +[0-9a-f]+ [0-9a-f]+ [0-9a-f]+ [0-9a-f]+ +AMS ' <<<"$lib_sections"; then
  echo "check-symbols: the library object still has a mergeable string section (tools/slim-archive.sh did not run?)"; exit 1
fi
# Every library member but the one holding the start-up constructor refers
# to it (gracefd__base), so linking any gracefd_* function still runs the
# constructor, as when the library was one object.
members=$(nm -A "$lib" 2>/dev/null | awk -F: '$2 ~ /^gracefd-[0-9]+\.o$/ {print $2}' | sort -u)
if [ -z "$members" ]; then
  echo "check-symbols: the library is one object, not split into members (see tools/slim-archive.sh's warning)"; exit 1
fi
holders=$(nm -A --defined-only "$lib" 2>/dev/null | awk -F: '$2 ~ /^gracefd-/ && $3 ~ / gracefd__base$/ {print $2}')
if [ "$(wc -l <<<"$holders")" != 1 ] || [ -z "$holders" ]; then
  echo "check-symbols: expected one member defining gracefd__base, found: ${holders:-none}"; exit 1
fi
pulling=$(nm -A --undefined-only "$lib" 2>/dev/null | awk -F: '$3 ~ / U gracefd__base$/ {print $2}' | sort -u)
missing=$(comm -23 <(grep -v -x -F "$holders" <<<"$members") <(echo "$pulling"))
if [ -n "$missing" ]; then
  echo "check-symbols: members that do not pull the constructor's member:"; head <<<"$missing"; exit 1
fi
builtins=$(grep -c '^__' <<<"$syms" || true)
echo "check-symbols: $ours gracefd_* symbols, $internal hidden gracefd__* links between members, $builtins compiler-rt builtins, no std:: symbols"
