#!/usr/bin/env bash
# The one list of Debian 12 packages Layerwise needs to build, test, run and benchmark.
# Idempotent: installs only what is missing, and runs `apt-get update` only then.
# Usage: packaging/install-deps.sh [--print]   (--print lists the packages and exits)
set -euo pipefail

packages=(
    # toolchain
    build-essential cmake pkg-config git
    # engine
    libtorch-dev libopenblas0-openmp libgoogle-perftools-dev
    # multi-process runs: the Gloo headers c10d's ProcessGroupGloo includes (core/dist)
    libgloo-dev
    libsqlitecpp-dev libsqlite3-dev nlohmann-json3-dev libcli11-dev
    libjpeg62-turbo-dev libpng-dev zlib1g-dev
    # GUI
    qt6-base-dev qt6-svg-dev libxkbcommon-dev libqt6sql6-sqlite libqcustomplot-dev
    # offscreen and X11 GUI tests, screenshots
    xvfb xauth imagemagick xdotool
    # data: the embedded default data set
    dataset-fashion-mnist
    # benchmarks: the PyTorch reference runs on the same LibTorch
    python3-torch time
    # network export (core/export): ONNX models built with Debian's ONNX library; tests/export
    # checks the exports with Debian's Python (torch, onnx.checker, OpenCV's dnn)
    libonnx-dev libprotobuf-dev protobuf-compiler python3-onnx python3-opencv
    # formatting
    clang-format
    # fuzzing (make fuzz): clang++-14 with libFuzzer and the sanitizer runtimes
    clang-14 libclang-rt-14-dev
    # packaging: icons, man pages, the .deb (dpkg-shlibdeps) and the validators tests/packaging runs
    librsvg2-bin help2man man-db dpkg-dev file desktop-file-utils appstream shared-mime-info
)

if [[ ${1:-} == --print ]]; then
    printf '%s\n' "${packages[@]}"
    exit 0
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if (( ${#missing[@]} == 0 )); then
    echo "install-deps: all ${#packages[@]} packages present"
else
    echo "install-deps: installing ${missing[*]}"
    sudo=()
    if (( EUID != 0 )); then sudo=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# OpenBLAS (OpenMP build) must back libblas.so.3, not the reference BLAS (60x slower matmul).
if command -v update-alternatives >/dev/null; then
    blas=$(ls /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 2>/dev/null || true)
    if [[ -n $blas ]] && [[ $(readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu 2>/dev/null) != "$(readlink -f "$blas")" ]]; then
        sudo=()
        if (( EUID != 0 )); then sudo=(sudo); fi
        "${sudo[@]}" update-alternatives --set libblas.so.3-x86_64-linux-gnu "$blas" || true
        "${sudo[@]}" update-alternatives --set liblapack.so.3-x86_64-linux-gnu \
            /usr/lib/x86_64-linux-gnu/openblas-openmp/liblapack.so.3 2>/dev/null || true
    fi
fi
