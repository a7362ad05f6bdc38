#!/usr/bin/env bash
# A coverage-guided campaign over every fuzz target (fuzz/), with cargo-afl
# (AFL++) on stable Rust, niced: FUZZ_JOBS targets at a time, each for
# FUZZ_SECONDS, starting from the committed corpus and dictionary. Ends with
# the summary of tools/fuzz-stats.sh; fails if any target found a crash or hang.
#
#   tools/fuzz-campaign.sh [TARGET...]      (default: every target)
#   FUZZ_SECONDS=600 FUZZ_JOBS=2 FUZZ_OUT=target/fuzz-out
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${FUZZ_SECONDS:-600}
JOBS=${FUZZ_JOBS:-2}
OUT=${FUZZ_OUT:-target/fuzz-out}
BIN=target/fuzz-afl/release
command -v cargo-afl >/dev/null || { echo "fuzz: cargo-afl is missing: cargo install cargo-afl" >&2; exit 2; }
(cd fuzz && CARGO_TARGET_DIR=../target/fuzz-afl nice -n 19 cargo afl build --release --features afl)
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(ls fuzz/corpus); fi
mkdir -p "$OUT"
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_QUIET=1
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM
run_one() {
  local t=$1
  # -V: stop after SECS; a previous run's output is resumed (-i -).
  local input=(-i "fuzz/corpus/$t")
  [ -f "$OUT/$t/default/fuzzer_stats" ] && input=(-i -)
  nice -n 19 cargo afl fuzz "${input[@]}" -o "$OUT/$t" -x fuzz/gracefd.dict -V "$SECS" -- "$BIN/$t" \
    >"$OUT/$t.log" 2>&1 || echo "fuzz: $t: afl-fuzz exited with $? (see $OUT/$t.log)" >&2
}
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 1; done
  echo "fuzz: $t for ${SECS}s"
  run_one "$t" &
  pids+=($!)
done
wait
pids=()
tools/fuzz-stats.sh "$OUT"
