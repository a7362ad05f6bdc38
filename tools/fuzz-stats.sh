#!/usr/bin/env bash
# Summarise a campaign's AFL++ fuzzer_stats: executions, edges covered and
# crashes/hangs per target. Exit 1 if any target saved a crash or a hang.
#   tools/fuzz-stats.sh [OUT_DIR]   (default target/fuzz-out)
set -euo pipefail
OUT=${1:-target/fuzz-out}
total=0 bad=0
printf '%-16s %14s %9s %7s %7s %9s\n' target execs edges crashes hangs exec/s
for s in "$OUT"/*/default/fuzzer_stats; do
  [ -f "$s" ] || continue
  t=$(basename "$(dirname "$(dirname "$s")")")
  get() { sed -n "s/^$1 *: *//p" "$s"; }
  execs=$(get execs_done) edges="$(get edges_found)/$(get total_edges)"
  crashes=$(get saved_crashes) hangs=$(get saved_hangs)
  printf '%-16s %14s %9s %7s %7s %9s\n' "$t" "$execs" "$edges" "$crashes" "$hangs" "$(get execs_per_sec)"
  total=$((total + execs))
  [ "$crashes" = 0 ] && [ "$hangs" = 0 ] || bad=1
done
echo "total executions: $total"
if [ "$bad" = 1 ]; then echo "fuzz: crashes or hangs were saved (see $OUT/*/default/crashes, hangs)" >&2; exit 1; fi
