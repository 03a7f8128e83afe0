#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each, from its seed corpus (tests/fuzz/corpus/,
# read only: what the run finds goes to a temporary folder). Builds the fuzz preset first
# (clang-15 and libfuzzer-15-dev: deploy/install-deps.sh --test). Exits non-zero when a
# target crashes, leaks or fails a check; its input is kept in build/fuzz/crashes/ (add it
# to the corpus as a regression once fixed).
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(webhook_body signature cloudevents config csv row_mapping)
# The build's own output only when it fails (ninja prints its errors on stdout).
build_log=$(mktemp)
if ! { cmake --preset fuzz && cmake --build --preset fuzz; } >"$build_log" 2>&1; then
  echo "fuzz: the fuzz preset does not build (clang-15); last lines:" >&2
  tail -n 40 "$build_log" >&2
  rm -f "$build_log"
  exit 1
fi
rm -f "$build_log"
symbolizer=$(ls /usr/bin/llvm-symbolizer-1[0-9] 2>/dev/null | sort -V | tail -n 1 || true)
[[ -n $symbolizer ]] && export ASAN_SYMBOLIZER_PATH=$symbolizer
crashes=build/fuzz/crashes
mkdir -p "$crashes"
status=0
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  set +e
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "build/fuzz/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$crashes/$t-" "$work" "tests/fuzz/corpus/$t" \
    >"$work.log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work.log" | tail -n 1)
  if ((rc != 0)); then
    echo "fuzz $t: FAILED after ${runs:-?} executions; last lines:" >&2
    tail -n 30 "$work.log" >&2
    status=1
  else
    echo "fuzz $t: ${runs:-?} executions in ${seconds}s, no finding"
  fi
  rm -rf "$work" "$work.log"
done
exit $status
