#!/usr/bin/env bash
# Issue 9's GPU check, run from the repository root on a machine with an NVIDIA GPU, PyTorch (its
# CUDA LibTorch), CMake, Ninja and a compiler, but no Qt and no Debian packages:
#   bench/gpu/make-deps.sh            (first, on the Debian machine: .gpudeps/, carried along)
#   OUT=DIR bench/gpu/check.sh        (on the GPU machine; DIR gets log.txt and res.tgz)
# Measures the GPU's matmul ceilings (fp32, TF32, bf16; 8192^3 through torch), runs the PyTorch
# reference and Layerwise (core + CLI built here against that LibTorch) on cifar10-k2 over
# 10,000 synthetic CIFAR-shaped images, 2 epochs per stage, augmentation on and off, fp32 and bf16
# autocast, and prints each run's per-stage images/s.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT" /tmp/res
root=$PWD; deps=$root/.gpudeps/usr; lib=$deps/lib/x86_64-linux-gnu
exec > >(tee "$OUT/log.txt") 2>&1
timed() { local name=$1; shift; local t0; t0=$(date +%s.%N); "$@"; local rc=$?
  echo "$name wall $(awk "BEGIN{print $(date +%s.%N) - $t0}") s rc $rc" >&2; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
g++ --version | head -1; cmake --version | head -1; nproc
python3 - <<'PY'
import torch, time
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))
def rate(dt, n=8192, tf32=False):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    a = torch.randn(n, n, device="cuda", dtype=dt); b = torch.randn(n, n, device="cuda", dtype=dt)
    for _ in range(3): a @ b
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(10): a @ b
    torch.cuda.synchronize(); return 2 * n**3 * 10 / (time.perf_counter() - t) / 1e12
print("ceiling TFLOP/s: fp32 %.1f, tf32 %.1f, bf16 %.1f"
      % (rate(torch.float32), rate(torch.float32, tf32=True), rate(torch.bfloat16)))
PY
common=(--preset cifar10-k2 --dataset synthetic --train-limit 10000 --test-limit 2000 --epochs-per-stage 2)
for aug in on off; do for p in fp32 bf16; do
  timed pytorch-aug-$aug-$p python3 bench/pytorch_reference.py "${common[@]}" --augment $aug \
      --device cuda --precision $p --json > /tmp/res/pt-$aug-$p.json
done; done
TP=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
cmake -S . -B /tmp/b -G Ninja -DLAYERWISE_GUI=OFF -DLAYERWISE_TESTS=OFF -DLAYERWISE_BENCH=OFF \
  -DCMAKE_PREFIX_PATH="$deps;$TP" -DCMAKE_LIBRARY_PATH="$lib" > /tmp/res/cmake.txt 2>&1 \
  || { tail -40 /tmp/res/cmake.txt; exit 1; }
timed build cmake --build /tmp/b -j"$(nproc)" --target layerwise-cli > /tmp/res/build.txt 2>&1 \
  || { grep -B2 -A12 -m8 error /tmp/res/build.txt | head -150; exit 1; }
echo "compiler warnings: $(grep -c 'warning:' /tmp/res/build.txt)"
export LD_LIBRARY_PATH=$lib:${LD_LIBRARY_PATH:-}
cli=/tmp/b/app/cli/layerwise-cli
$cli doctor --bench-seconds 0.5
for aug in on off; do for p in fp32 bf16; do
  timed layerwise-aug-$aug-$p $cli train "${common[@]}" --augment "$aug" --device cuda \
      --precision $p --db /tmp/r.sqlite --json > /tmp/res/lw-$aug-$p.json
done; done
python3 - /tmp/res <<'PY'
import json, sys, glob, os
for f in sorted(glob.glob(sys.argv[1] + "/*-*-*.json")):
    try: d = json.load(open(f))
    except Exception as e: print(os.path.basename(f), "unreadable", e); continue
    st = d.get("stages", [])
    print(os.path.basename(f), "final", d.get("final_test_acc"),
          "img/s", [round(s["images_per_second"]) for s in st], "s", [round(s["seconds"], 2) for s in st])
PY
tar czf "$OUT/res.tgz" -C /tmp res
