#!/usr/bin/env bash
# Fold what a campaign found into the committed corpus: every input AFL++
# kept in a target's queue (each added coverage when found) is copied to
# fuzz/corpus/T/afl-<sha1>, once; seeds (seed-*) are kept as they are.
# (afl-cmin would make the set smaller; it hung here, so it is not used.)
#   tools/fuzz-merge-corpus.sh [OUT_DIR]   (default target/fuzz-out)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/fuzz-out}
for q in "$OUT"/*/default/queue; do
  t=$(basename "$(dirname "$(dirname "$q")")")
  [ -d "fuzz/corpus/$t" ] || continue
  for f in "$q"/id:*; do
    [ -f "$f" ] || continue
    h=$(sha1sum "$f" | cut -c1-16)
    dup=0
    for s in fuzz/corpus/"$t"/seed-*; do cmp -s "$f" "$s" && dup=1 && break; done
    [ "$dup" = 1 ] || cp "$f" "fuzz/corpus/$t/afl-$h"
  done
  echo "fuzz-merge-corpus: $t: $(ls fuzz/corpus/"$t" | wc -l) files"
done
