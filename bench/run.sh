#!/usr/bin/env bash
# `make bench`: every benchmark of bench/, side by side in one run, then one table of ratios.
#
#   bench/run.sh [BUILD]            (BUILD defaults to build/)
#
# Environment:
#   BENCH_SCALE=full|quick   full (default): whole Fashion-MNIST fmnist-k1 runs with the preset's
#                            recipe (about 75 minutes on 2 cores); quick: 10,000 training images and
#                            2 epochs per stage (about 15 minutes); smoke: tiny subsets, only
#                            checks that every part runs (a few minutes, figures meaningless).
#   BENCH_REPS=N             repetitions of the short measurements (default 2; medians)
#   BENCH_FULL_REPS=N        repetitions of the full runs (default 1)
#   BENCH_OUT=DIR            where the raw results go (default BUILD/bench-results/DATE)
#   BENCH_ONLY="a b"         run only these sections: stage levers pytorch e2e pictures dist data
#                            store
#   BENCH_BF16=auto|on|off   also run both programs with bf16 autocast (--precision bf16) in
#                            section 3; auto (default): when the CPU has bf16 instructions (AMX,
#                            AVX512-BF16), without which bf16 only runs slower
#   PYTHON=/usr/bin/python3  the Python with torch for the PyTorch reference
#   BENCH_BUILD=0            use the programs already in BUILD (default 1: build them first)
#
# Side by side means: the A and B variants of a comparison run alternately (A B A B ...), on the
# same data subset, seed, threads (all cores), allocator (tcmalloc, LD_PRELOADed for Python) and
# OpenMP wait policy (PASSIVE); the table shows medians. Every raw result is kept in BENCH_OUT.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=$(cd "${1:-$root/build}" && pwd)
scale=${BENCH_SCALE:-full}
reps=${BENCH_REPS:-2}
full_reps=${BENCH_FULL_REPS:-1}
only=" ${BENCH_ONLY:-stage levers pytorch e2e pictures dist data store} "
python=${PYTHON:-/usr/bin/python3}
out=${BENCH_OUT:-$build/bench-results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
cli=$build/app/cli/layerwise-cli
threads=$(nproc)

export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
tcmalloc=$(ls /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 2>/dev/null || true)

want() { [[ $only == *" $1 "* ]]; }
precisions=(fp32)
bf16_mode=${BENCH_BF16:-auto}
case $bf16_mode in
on) precisions+=(bf16) ;;
off) ;;
auto) if grep -qwE 'amx_bf16|avx512_bf16' /proc/cpuinfo; then precisions+=(bf16); fi ;;
*) echo "BENCH_BF16 must be auto, on or off" >&2; exit 2 ;;
esac
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ ${BENCH_BUILD:-1} != 0 ]]; then
    cmake --build "$build" -j"$threads" --target layerwise-cli bench_stage bench_stage_glibc \
        bench_data bench_store >/dev/null
fi

have_torch_python=0
if "$python" -c 'import torch' 2>/dev/null; then
    have_torch_python=1
else
    log "no torch in $python: the PyTorch comparisons are skipped (apt install python3-torch)"
fi

# Short runs for the levers and greedy vs end-to-end: a fixed subset, whatever the scale.
short=(--train-limit 10000 --test-limit 2000)
cifar_limits=(--train-limit 2000 --test-limit 500)
uniform_limits=()
stage_args=(--steps 10)
store_args=()
dist_limits=(--train-limit 12800 --test-limit 2000)
case $scale in
full) fm_subset=(); fm_epochs=() ;;
quick) fm_subset=(--train-limit 10000 --test-limit 2000); fm_epochs=(--epochs-per-stage 2) ;;
smoke) # only checks that every part of the pipeline runs (seconds per run; figures meaningless)
    fm_subset=(--train-limit 1000 --test-limit 500); fm_epochs=(--epochs-per-stage 1)
    short=("${fm_subset[@]}"); cifar_limits=(--train-limit 256 --test-limit 128)
    uniform_limits=("${fm_subset[@]}"); stage_args=(--steps 2); store_args=(--runs 200)
    dist_limits=("${fm_subset[@]}") ;;
*) echo "BENCH_SCALE must be full, quick or smoke" >&2; exit 2 ;;
esac
cifar=(--preset cifar10-k2 --dataset synthetic "${cifar_limits[@]}" --epochs-per-stage 1)

# run ID VARIANT -- command...: runs the command under /usr/bin/time, keeps its JSON (stdout),
# stderr, and wall seconds / peak RSS in $out/ID/VARIANT.N.{out,err,time}; N counts repetitions.
run() {
    local id=$1 variant=$2; shift 3
    mkdir -p "$out/$id"
    local n=1
    while [[ -e $out/$id/$variant.$n.out ]]; do n=$((n + 1)); done
    local base=$out/$id/$variant.$n
    log "$id / $variant #$n: $*"
    local status=0
    /usr/bin/time -f '{"wall_s": %e, "user_s": %U, "peak_rss_kb": %M}' -o "$base.time" \
        "$@" >"$base.out" 2>"$base.err" || status=$?
    if ((status != 0)); then
        log "$id / $variant failed with status $status; last lines of $base.err:"
        tail -5 "$base.err" >&2
        echo '{"failed": true}' >"$base.out"
    fi
}

# The two programs compared: Layerwise's CLI and the PyTorch reference (same threads, allocator).
lw=("$cli" train --db "$out/runs.sqlite" --json)
pt=(env ${tcmalloc:+LD_PRELOAD=$tcmalloc} "$python" "$here/pytorch_reference.py" --json
    --threads "$threads")

{
    echo "{"
    echo "\"date\": \"$(date -Is)\", \"host\": \"$(hostname)\", \"cores\": $threads,"
    echo "\"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')\","
    echo "\"scale\": \"$scale\", \"reps\": $reps, \"full_reps\": $full_reps,"
    echo "\"git\": \"$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)\""
    echo "}"
} >"$out/meta.json"

# 1-2. Machine ceiling and stage step efficiency (NCHW and channels-last interleaved inside the
# program); the allocator lever on the same steps.
if want stage; then
    run stage tcmalloc -- "$build/bench/engine/bench_stage" "${stage_args[@]}" --reps $((reps + 2)) \
        --bf16 "$bf16_mode" --json "$out/stage/tcmalloc.1.stage.json"
    run stage glibc-tuned -- "$build/bench/engine/bench_stage_glibc" "${stage_args[@]}" --reps "$reps" \
        --bf16 off --json "$out/stage/glibc-tuned.1.stage.json"
    run stage glibc-plain -- "$build/bench/engine/bench_stage_glibc" "${stage_args[@]}" --reps "$reps" \
        --malloc plain --bf16 off --json "$out/stage/glibc-plain.1.stage.json"
fi

# Levers measured on short real training runs (fmnist-k1, 10,000 images, 1 epoch per stage).
if want levers; then
    lever=(--preset fmnist-k1 "${short[@]}" --epochs-per-stage 1)
    for r in $(seq "$reps"); do
        run levers cache-on -- "${lw[@]}" "${lever[@]}" --cache-features on
        run levers cache-off -- "${lw[@]}" "${lever[@]}" --cache-features off
        run levers omp-passive -- env OMP_WAIT_POLICY=PASSIVE "$cli" train --db "$out/runs.sqlite" \
            --json "${lever[@]}"
        run levers omp-active -- env OMP_WAIT_POLICY=ACTIVE "$cli" train --db "$out/runs.sqlite" \
            --json "${lever[@]}"
        run levers threads-all -- "${lw[@]}" "${lever[@]}" --threads "$threads"
        run levers threads-1 -- "${lw[@]}" "${lever[@]}" --threads 1
        if ((have_torch_python)); then
            run levers pytorch-tcmalloc -- "${pt[@]}" --preset fmnist-k1 "${short[@]}" --epochs-per-stage 1
            run levers pytorch-glibc -- env -u LD_PRELOAD "$python" "$here/pytorch_reference.py" \
                --json --threads "$threads" --preset fmnist-k1 "${short[@]}" --epochs-per-stage 1
        fi
        # A deep stage costs what a first stage costs once the prefix is cached: four identical
        # stages, cache on vs recomputed.
        run levers uniform-cache-on -- "${lw[@]}" --spec "$here/specs/uniform4.json" \
            "${uniform_limits[@]}" --cache-features on
        run levers uniform-cache-off -- "${lw[@]}" --spec "$here/specs/uniform4.json" \
            "${uniform_limits[@]}" --cache-features off
    done
fi

# 3. Against the PyTorch reference: fmnist-k1 (real data) and cifar10-k2 (synthetic), with
# augmentation off and on.
if want pytorch && ((have_torch_python)); then
    # Variants: layerwise / pytorch in fp32, and layerwise-bf16 / pytorch-bf16 with autocast.
    for r in $(seq "$full_reps"); do
        for aug in off on; do
            for p in "${precisions[@]}"; do
                sfx=${p/fp32/}
                run "fmnist-aug-$aug" "layerwise${sfx:+-$sfx}" -- "${lw[@]}" --preset fmnist-k1 \
                    "${fm_subset[@]}" "${fm_epochs[@]}" --augment "$aug" --precision "$p"
                run "fmnist-aug-$aug" "pytorch${sfx:+-$sfx}" -- "${pt[@]}" --preset fmnist-k1 \
                    "${fm_subset[@]}" "${fm_epochs[@]}" --augment "$aug" --precision "$p"
            done
        done
    done
    for r in $(seq "$full_reps"); do
        for aug in off on; do
            for p in "${precisions[@]}"; do
                sfx=${p/fp32/}
                run "cifar-aug-$aug" "layerwise${sfx:+-$sfx}" -- "${lw[@]}" "${cifar[@]}" \
                    --augment "$aug" --precision "$p"
                run "cifar-aug-$aug" "pytorch${sfx:+-$sfx}" -- "${pt[@]}" "${cifar[@]}" \
                    --augment "$aug" --precision "$p"
            done
        done
    done
fi

# 4. Greedy vs end-to-end at equal epochs (each stage 2 epochs; the end-to-end net 2 epochs).
if want e2e; then
    for r in $(seq "$reps"); do
        run e2e layerwise-greedy -- "${lw[@]}" --preset fmnist-k1 "${short[@]}" --epochs-per-stage 2
        run e2e layerwise-e2e -- "${lw[@]}" --preset fmnist-k1 "${short[@]}" --mode e2e --epochs 2
        if ((have_torch_python)); then
            run e2e pytorch-greedy -- "${pt[@]}" --preset fmnist-k1 "${short[@]}" --epochs-per-stage 2
            run e2e pytorch-e2e -- "${pt[@]}" --preset fmnist-k1 "${short[@]}" --mode e2e --epochs 2
        fi
    done
fi

# 5. Pictures (issue 17): after each stage of fmnist-k1, computing all its pictures (confusions,
# PCA, filters, feature maps, hard errors) against the stage's training time; report.py reads
# both from the run store (goal: at most 5% of the stage).
if want pictures; then
    for r in $(seq "$full_reps"); do
        run pictures layerwise -- "${lw[@]}" --preset fmnist-k1 "${fm_subset[@]}" "${fm_epochs[@]}" \
            --name bench-pictures
    done
fi

# 6. One run over several processes (issue 16), on fmnist-k1's stages 1 and 2 (12,800 images: 100
# steps of batch 128 an epoch, 2 epochs a stage): greedy in 1 process x all threads against 2
# processes x 1 thread (data parallel, and with sync_bn), and DGL in 1 process x all threads
# against the DGL pipeline (stage j on process j, 1 thread each; and asynchronous, with replay
# buffers of 4 batches). report.py reads images/s from the runs and each
# rank's share of time spent communicating from the log line the engine prints at the end.
if want dist; then
    dist_run=("${lw[@]}" --spec "$here/specs/fmnist-k1-2stages.json" "${dist_limits[@]}")
    for r in $(seq "$reps"); do
        run dist greedy-1proc -- "${dist_run[@]}" --threads "$threads"
        run dist greedy-2proc -- "${dist_run[@]}" --nproc 2 --threads 1
        run dist dgl-1proc -- "${dist_run[@]}" --mode dgl --threads "$threads"
        run dist dgl-pipeline -- "${dist_run[@]}" --mode dgl --placement pipeline --nproc 2 \
            --threads 1
        run dist greedy-2proc-syncbn -- "${dist_run[@]}" --nproc 2 --threads 1 --sync-bn on
        run dist dgl-pipeline-replay -- "${dist_run[@]}" --mode dgl --placement pipeline \
            --nproc 2 --threads 1 --replay-buffer 4
    done
fi

# The loader and the run store, for the record (their own tables).
if want data && [[ $scale != smoke ]]; then
    "$build/bench/data/bench_data" >"$out/bench_data.txt" 2>&1 || log "bench_data failed"
fi
if want store; then
    "$build/bench/store/bench_store" "${store_args[@]}" >"$out/bench_store.txt" 2>&1 || log "bench_store failed"
fi

"$python" "$here/report.py" "$out" | tee "$out/report.md"
log "raw results in $out"
