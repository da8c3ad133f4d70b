#!/usr/bin/env bash
# Runs every libFuzzer target of a LAYERWISE_FUZZ build for a given time and prints executions,
# coverage and findings per target. New inputs go to <build>/fuzz/corpus/<target>/ (the seeds in
# tests/fuzz/corpus/ stay as they are); crashes, leaks, OOMs and timeouts to
# <build>/fuzz/crashes/<target>/: copy each reproducer to tests/fuzz/crashes/<target>/open/.
# Usage: tests/fuzz/run-fuzz.sh <build dir> [seconds per target] [targets...]
set -euo pipefail

build=${1:?usage: run-fuzz.sh <build dir> [seconds] [targets...]}
seconds=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
here=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
if (( ${#targets[@]} == 0 )); then
    targets=(spec image idx cifar store state checkpoint)
fi

summary=()
for t in "${targets[@]}"; do
    bin=$build/tests/fuzz/fuzz_$t
    work=$build/fuzz/corpus/$t
    found=$build/fuzz/crashes/$t
    log=$build/fuzz/$t.log
    mkdir -p "$work" "$found"
    echo "fuzz: $t for ${seconds}s (log: $log)"
    # Fork mode with the ignore flags keeps fuzzing after a finding, so one run collects them all.
    "$bin" "$work" "$here/corpus/$t" -fork=1 -ignore_crashes=1 -ignore_ooms=1 \
        -ignore_timeouts=1 -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=262144 -artifact_prefix="$found/" -print_final_stats=1 >"$log" 2>&1 || true
    stats=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1 || true)
    execs=$(sed -nE 's/^#([0-9]+):.*/\1/p' <<<"$stats")
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$stats")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$stats")
    corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$stats")
    findings=$(find "$found" -type f \( -name "crash-*" -o -name "leak-*" -o -name "oom-*" -o -name "timeout-*" \) | wc -l)
    summary+=("$(printf '%-11s %12s %8s %8s %8s %9s' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
        "${corp:-?}" "$findings")")
done

printf '\n%-11s %12s %8s %8s %8s %9s\n' target executions cov ft corpus findings
printf '%s\n' "${summary[@]}"
echo "findings (crash-*, leak-*, oom-*, timeout-*) are in $build/fuzz/crashes/<target>/"
