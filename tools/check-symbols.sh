#!/usr/bin/env bash
# Prove the archive exports only gracefd_* (plus compiler-rt's __* builtins,
# which every Rust staticlib carries), contains no std code, and was slimmed
# by tools/slim-archive.sh.
set -euo pipefail
lib=${1:?usage: check-symbols.sh libgracefd.a}
syms=$(nm -g --defined-only "$lib" 2>/dev/null | awk 'NF==3 && $2 ~ /^[TDBRVWiu]$/ {print $3}' | sort -u)
ours=$(grep -c '^gracefd_' <<<"$syms" || true)
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
builtins=$(grep -c '^__' <<<"$syms" || true)
echo "check-symbols: $ours gracefd_* symbols, $builtins compiler-rt builtins, no std:: symbols"
