#include "core/runtime/runtime.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <dlfcn.h>
#include <fstream>
#include <malloc.h>
#include <mutex>
#include <sched.h>
#include <string>
#include <thread>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace lw {

namespace {

/// Shared objects mapped into this process whose file name contains `needle`.
std::string mappedLibrary(const std::string &needle)
{
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        auto slash = line.find('/');
        if (slash == std::string::npos)
            continue;
        std::string path = line.substr(slash);
        auto base = path.substr(path.rfind('/') + 1);
        if (base.find(needle) != std::string::npos)
            return path;
    }
    return {};
}

int usableCores()
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    unsigned hw = std::thread::hardware_concurrency();
    return hw > 0 ? static_cast<int>(hw) : 1;
}

bool tcmallocLinked()
{
    return !mappedLibrary("libtcmalloc").empty();
}

} // namespace

void preferPassiveOpenMpWait(char **argv)
{
    if (std::getenv("OMP_WAIT_POLICY") || !argv || !argv[0])
        return;
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    ::execv("/proc/self/exe", argv);
    // exec failed: carry on with the spinning default.
}

void configureRuntime(int threads)
{
    static std::once_flag mallocOnce;
    std::call_once(mallocOnce, [] {
        if (!tcmallocLinked()) {
            // glibc: keep large buffers instead of returning them to the kernel every step.
            mallopt(M_MMAP_THRESHOLD, 256 * 1024 * 1024);
            mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
        }
    });
    const int n = threads > 0 ? threads : usableCores();
    if (torch::get_num_threads() != n)
        torch::set_num_threads(n);
}

std::string cpuBf16Instructions()
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid_max(0, nullptr) < 7)
        return {};
    __cpuid_count(7, 0, a, b, c, d);
    const bool amxBf16 = (d >> 22) & 1u; // CPUID.(7,0):EDX[22] AMX-BF16
    const unsigned maxLeaf7 = a;
    // The OS must also have enabled the tile state (XCR0 bits 17-18) for AMX to be usable.
    bool osTiles = false;
    __cpuid(1, a, b, c, d);
    if ((c >> 27) & 1u) { // OSXSAVE
        unsigned lo = 0, hi = 0;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        osTiles = ((lo >> 17) & 3u) == 3u;
    }
    if (amxBf16 && osTiles)
        return "AMX";
    if (maxLeaf7 >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        if ((a >> 5) & 1u) // CPUID.(7,1):EAX[5] AVX512_BF16
            return "AVX512-BF16";
    }
#endif
    return {};
}

RuntimeInfo runtimeInfo()
{
    RuntimeInfo info;
    info.torchVersion = std::to_string(TORCH_VERSION_MAJOR) + "."
                        + std::to_string(TORCH_VERSION_MINOR) + "."
                        + std::to_string(TORCH_VERSION_PATCH);
    info.cudaAvailable = torch::cuda::is_available();
    info.cudaDeviceCount = info.cudaAvailable ? static_cast<int>(torch::cuda::device_count()) : 0;
    for (int i = 0; i < info.cudaDeviceCount; ++i)
        info.cudaDevices.push_back("cuda:" + std::to_string(i));
    info.cores = usableCores();
    info.threads = torch::get_num_threads();
    info.mkldnn = at::hasMKLDNN();
    info.cpuBf16 = cpuBf16Instructions();
    // Make sure BLAS is loaded before looking (a tiny matmul).
    {
        torch::NoGradGuard guard;
        auto a = torch::ones({4, 4});
        (void)torch::mm(a, a);
    }
    // libblas.so.3 first: its symbols are the ones bound, even when OpenBLAS is also mapped
    // (for instance through liblapack.so.3) while libblas.so.3 is the reference BLAS.
    std::string blas = mappedLibrary("libblas.so");
    if (blas.empty())
        blas = mappedLibrary("libopenblas");
    if (blas.empty())
        blas = mappedLibrary("libmkl");
    info.blasLibrary = blas;
    info.referenceBlas
        = blas.find("/blas/libblas") != std::string::npos
          || (blas.find("libblas.so") != std::string::npos
              && blas.find("openblas") == std::string::npos
              && blas.find("atlas") == std::string::npos && blas.find("blis") == std::string::npos
              && blas.find("mkl") == std::string::npos);
    info.allocator = tcmallocLinked() ? "tcmalloc" : "glibc malloc (trimming turned down)";
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0)
        info.hostname = host;
    return info;
}

double measureMatmulGflops(int n, double seconds, bool bf16)
{
    torch::NoGradGuard guard;
    const auto dtype = bf16 ? torch::kBFloat16 : torch::kFloat32;
    auto a = torch::randn({n, n}).to(dtype);
    auto b = torch::randn({n, n}).to(dtype);
    auto c = torch::mm(a, b); // warm-up
    using clock = std::chrono::steady_clock;
    int reps = 0;
    const auto start = clock::now();
    double elapsed = 0;
    do {
        c = torch::mm(a, b);
        ++reps;
        elapsed = std::chrono::duration<double>(clock::now() - start).count();
    } while (elapsed < seconds);
    return 2.0 * n * double(n) * n * reps / elapsed / 1e9;
}

std::int64_t cudaDeviceMemoryBytes(int index)
{
    if (!torch::cuda::is_available() || index < 0
        || index >= static_cast<int>(torch::cuda::device_count()))
        return 0;
    // The CUDA runtime's C functions, from the library LibTorch's CUDA part loaded: no CUDA
    // headers needed at build time, and the same in LibTorch 1.13 and 2.x.
    using GetDevice = int (*)(int *);
    using SetDevice = int (*)(int);
    using MemGetInfo = int (*)(std::size_t *, std::size_t *);
    const auto getDevice = reinterpret_cast<GetDevice>(dlsym(RTLD_DEFAULT, "cudaGetDevice"));
    const auto setDevice = reinterpret_cast<SetDevice>(dlsym(RTLD_DEFAULT, "cudaSetDevice"));
    const auto memGetInfo = reinterpret_cast<MemGetInfo>(dlsym(RTLD_DEFAULT, "cudaMemGetInfo"));
    if (!getDevice || !setDevice || !memGetInfo)
        return 0;
    int previous = 0;
    if (getDevice(&previous) != 0 || setDevice(index) != 0)
        return 0;
    std::size_t freeBytes = 0, totalBytes = 0;
    const bool ok = memGetInfo(&freeBytes, &totalBytes) == 0;
    setDevice(previous);
    return ok ? static_cast<std::int64_t>(totalBytes) : 0;
}

std::string resolveDevice(const std::string &request, std::string *error)
{
    auto setError = [&](const std::string &message) {
        if (error)
            *error = message;
        return std::string();
    };
    if (request.empty() || request == "auto")
        return torch::cuda::is_available() ? "cuda:0" : "cpu";
    if (request == "cpu")
        return "cpu";
    if (request.rfind("cuda", 0) == 0) {
        if (!torch::cuda::is_available())
            return setError(
                "device '" + request
                + "': this LibTorch has no CUDA or no GPU is visible; use --device cpu");
        int index = 0;
        if (request.size() > 4) {
            if (request[4] != ':' || request.size() == 5)
                return setError("device '" + request + "': expected cuda or cuda:N");
            try {
                std::size_t used = 0;
                index = std::stoi(request.substr(5), &used);
                if (used != request.size() - 5)
                    throw std::invalid_argument("trailing");
            } catch (...) {
                return setError("device '" + request + "': expected cuda or cuda:N");
            }
        }
        const int count = static_cast<int>(torch::cuda::device_count());
        if (index < 0 || index >= count)
            return setError("device '" + request + "': there are " + std::to_string(count)
                            + " CUDA devices (cuda:0 .. cuda:" + std::to_string(count - 1) + ")");
        return "cuda:" + std::to_string(index);
    }
    return setError("device '" + request + "': expected auto, cpu, cuda or cuda:N");
}

} // namespace lw
