#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lw {

/// What the process runs on, for `layerwise-cli doctor`, the GUI's about box and run records.
struct RuntimeInfo
{
    std::string torchVersion; ///< e.g. "1.13.1"
    bool cudaAvailable = false;
    int cudaDeviceCount = 0;
    std::vector<std::string> cudaDevices; ///< "cuda:0 NVIDIA H100 ..." where the build can tell
    int cores = 1;                        ///< hardware threads the process may use (affinity)
    int threads = 1;                      ///< LibTorch intra-op threads now
    bool mkldnn = false;                  ///< oneDNN compiled in
    std::string blasLibrary;              ///< the file libblas.so.3 resolves to in this process
    bool referenceBlas = false;           ///< that file is Netlib's reference BLAS (slow)
    std::string allocator;                ///< "tcmalloc" or "glibc malloc (mallopt tuned)"
    std::string cpuBf16;                  ///< cpuBf16Instructions()
    std::string hostname;
};

/// OpenMP threads that spin while they wait (libgomp's default) burn the other core on a
/// 2-core machine shared with the loader, the GUI or other programs: measured 2-4x slower
/// steps here. libgomp reads OMP_WAIT_POLICY once at load time, so when it is unset this sets
/// it to PASSIVE and re-executes the program (argv unchanged). Call first thing in main().
/// Does nothing when OMP_WAIT_POLICY is already set (the user's choice wins).
void preferPassiveOpenMpWait(char **argv);

/// Prepares LibTorch for training: intra-op threads (`threads` <= 0 means all cores; LibTorch
/// starts with 1 here) and, when tcmalloc is not linked, glibc's trimming turned down so large
/// buffers are reused. Safe to call more than once.
void configureRuntime(int threads = 0);

RuntimeInfo runtimeInfo();

/// The CPU's bf16 matrix instructions, which make bf16 autocast pay on the CPU: "AMX" (tile
/// matrix multiply, several times fp32's rate), "AVX512-BF16" (dot products), or "" (none:
/// bf16 is converted in software and runs slower than fp32).
std::string cpuBf16Instructions();

/// fp32 (or bf16) matmul rate through LibTorch on the current threads (square `torch::mm`),
/// GFLOP/s.
double measureMatmulGflops(int n = 2048, double seconds = 1.0, bool bf16 = false);

/// Total memory of CUDA device `index` in bytes, through the CUDA runtime LibTorch loaded
/// (cudaMemGetInfo); 0 when there is no such device or it cannot tell (a CPU-only LibTorch).
std::int64_t cudaDeviceMemoryBytes(int index);

/// Resolves "auto", "cpu", "cuda", "cuda:N" to a device string LibTorch accepts; fails with a
/// message when CUDA is asked for and absent, or N is out of range.
std::string resolveDevice(const std::string &request, std::string *error = nullptr);

} // namespace lw
