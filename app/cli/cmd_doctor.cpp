// layerwise-cli doctor: what this machine gives LibTorch (threads, BLAS, allocator, CUDA), a
// measured matmul rate, and where the run store and the default dataset live.

#include "app/cli/commands.h"
#include "app/cli/flags.h"
#include "app/cli/table.h"
#include "core/util/format.h"

#include "core/data/dataset.h"
#include "core/runtime/runtime.h"
#include "core/store/runstore.h"
#include "core/util/fsutil.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

namespace lw::cli {

namespace {

struct DoctorOptions
{
    bool json = false;
    int threads = 0;
    double benchSeconds = 1.0;
};

/// Findings that need the user's attention. Fatal ones make doctor exit 1.
struct Findings
{
    std::vector<std::string> warnings;
    std::vector<std::string> fatal;
};

struct StoreReport
{
    std::string path;
    bool fromEnvironment = false;
    bool exists = false;
    bool writable = false; ///< the file (or, when absent, its nearest existing folder)
    std::int64_t runs = -1;
    std::string error;
};

struct DatasetReport
{
    std::string path;
    bool usable = false;
    std::int64_t train = 0;
    std::int64_t test = 0;
    std::string error;
};

bool writableHere(const std::filesystem::path &path)
{
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path p = path;
    while (!p.empty() && !fs::exists(p, ec))
        p = p.parent_path();
    return !p.empty() && ::access(p.c_str(), W_OK) == 0;
}

StoreReport inspectStore()
{
    StoreReport r;
    r.path = RunStore::defaultPath();
    const char *env = std::getenv("LAYERWISE_DB");
    r.fromEnvironment = env && *env;
    std::error_code ec;
    r.exists = std::filesystem::exists(r.path, ec);
    r.writable = writableHere(r.path);
    if (r.exists) {
        auto store = RunStore::open(r.path, OpenMode::ReadOnly);
        if (!store) {
            r.error = store.message();
        } else {
            auto count = (*store)->countRuns();
            if (count)
                r.runs = *count;
            else
                r.error = count.message();
        }
    }
    return r;
}

DatasetReport inspectFashionMnist()
{
    DatasetReport r;
    r.path = defaultFashionMnistPath();
    DatasetOptions options;
    options.name = "fashion-mnist";
    options.path = r.path;
    auto info = probeDataset(options);
    if (info) {
        r.usable = true;
        r.train = info->trainSize;
        r.test = info->testSize;
    } else {
        r.error = info.message();
    }
    return r;
}

std::string yesNo(bool b)
{
    return b ? "yes" : "no";
}

/// " (OpenBLAS)", " (reference BLAS: slow)", ... from the library's path.
std::string blasFamily(const RuntimeInfo &info)
{
    if (info.referenceBlas)
        return " (reference BLAS: slow)";
    const std::string &p = info.blasLibrary;
    for (const auto &[needle, name] :
         {std::pair<const char *, const char *>{"openblas", "OpenBLAS"},
          {"blis", "BLIS"},
          {"atlas", "ATLAS"},
          {"mkl", "MKL"}})
        if (p.find(needle) != std::string::npos)
            return std::string(" (") + name + ")";
    return {};
}

std::string formatRate(double gflops)
{
    char text[64];
    std::snprintf(text, sizeof text, "%.1f GFLOP/s", gflops);
    return text;
}

int runDoctor(const DoctorOptions &opt)
{
    Findings findings;
    RuntimeInfo info;
    double gflops = 0;
    bool torchOk = true;
    try {
        configureRuntime(opt.threads);
        info = runtimeInfo();
        gflops = measureMatmulGflops(2048, opt.benchSeconds);
        if (!std::isfinite(gflops) || gflops <= 0)
            findings.fatal.push_back("LibTorch's matmul did not run (measured "
                                     + std::to_string(gflops) + " GFLOP/s)");
    } catch (const std::exception &e) {
        torchOk = false;
        findings.fatal.push_back(std::string("LibTorch is unusable: ") + e.what());
    }

    if (torchOk) {
        if (info.referenceBlas)
            findings.warnings.push_back(
                "libblas.so.3 is Netlib's reference BLAS (" + info.blasLibrary
                + "): matrix products run many times slower. Install OpenBLAS (apt install "
                  "libopenblas0) or select it with update-alternatives --config "
                  "libblas.so.3-x86_64-linux-gnu");
        if (info.blasLibrary.empty())
            findings.warnings.push_back("could not tell which BLAS library LibTorch uses");
        if (info.threads == 1 && info.cores > 1 && opt.threads != 1)
            findings.warnings.push_back("LibTorch runs on 1 thread while "
                                        + std::to_string(info.cores)
                                        + " cores are available (check OMP_NUM_THREADS and "
                                          "--threads): training will be slow");
        else if (opt.threads <= 0 && info.threads < info.cores)
            findings.warnings.push_back("LibTorch uses " + std::to_string(info.threads)
                                        + " threads of " + std::to_string(info.cores)
                                        + " available cores");
        if (info.allocator.rfind("tcmalloc", 0) != 0)
            findings.warnings.push_back(
                "the allocator is glibc malloc (" + info.allocator
                + "): training is 1.3 to 2.3x slower than with tcmalloc. Install "
                  "libgoogle-perftools-dev and rebuild Layerwise");
    }

    const StoreReport store = inspectStore();
    if (!store.error.empty())
        findings.warnings.push_back("the run store '" + store.path
                                    + "' cannot be read: " + store.error);
    else if (!store.writable)
        findings.warnings.push_back("the run store '" + store.path
                                    + "' is not writable: runs cannot be recorded");
    const DatasetReport fmnist = inspectFashionMnist();
    if (!fmnist.usable)
        findings.warnings.push_back("the default dataset (Fashion-MNIST) is not usable: "
                                    + fmnist.error
                                    + " (Debian: apt install dataset-fashion-mnist)");

    if (opt.json) {
        using Json = nlohmann::ordered_json;
        Json j;
        j["layerwise"] = LW_VERSION;
        j["hostname"] = info.hostname;
        j["torch_usable"] = torchOk && findings.fatal.empty();
        j["torch_version"] = info.torchVersion;
        j["cuda"] = {{"available", info.cudaAvailable},
                     {"device_count", info.cudaDeviceCount},
                     {"devices", info.cudaDevices}};
        j["cores"] = info.cores;
        j["threads"] = info.threads;
        j["onednn"] = info.mkldnn;
        j["cpu_bf16"] = info.cpuBf16;
        j["blas"] = {{"library", info.blasLibrary}, {"reference", info.referenceBlas}};
        j["matmul_gflops"] = gflops;
        j["allocator"] = info.allocator;
        j["data_dir"] = defaultDataDir();
        Json s = {{"path", store.path},
                  {"from_environment", store.fromEnvironment},
                  {"exists", store.exists},
                  {"writable", store.writable}};
        if (store.runs >= 0)
            s["runs"] = store.runs;
        if (!store.error.empty())
            s["error"] = store.error;
        j["run_store"] = s;
        Json d = {{"path", fmnist.path}, {"usable", fmnist.usable}};
        if (fmnist.usable) {
            d["train"] = fmnist.train;
            d["test"] = fmnist.test;
        } else {
            d["error"] = fmnist.error;
        }
        j["fashion_mnist"] = d;
        j["warnings"] = findings.warnings;
        j["fatal"] = findings.fatal;
        std::printf("%s\n", j.dump(2).c_str());
    } else {
        Table table({"check", "result"});
        table.addRow(
            {"Layerwise",
             LW_VERSION + (info.hostname.empty() ? std::string() : " on " + info.hostname)});
        table.addRow({"LibTorch", torchOk ? info.torchVersion : "unusable"});
        std::string cuda = info.cudaAvailable ? std::to_string(info.cudaDeviceCount) + " device(s)"
                                              : "not available (CPU only)";
        table.addRow({"CUDA", cuda});
        for (const auto &device : info.cudaDevices)
            table.addRow({"", device});
        table.addRow({"CPU cores", std::to_string(info.cores) + " usable"});
        table.addRow({"Threads", std::to_string(info.threads) + " (LibTorch intra-op)"});
        table.addRow({"oneDNN", yesNo(info.mkldnn)});
        table.addRow({"CPU bf16", info.cpuBf16.empty()
                                      ? std::string("no bf16 instructions (keep precision fp32)")
                                      : info.cpuBf16 + " (precision bf16 trains faster)"});
        table.addRow({"BLAS", (info.blasLibrary.empty() ? std::string("unknown") : info.blasLibrary)
                                  + blasFamily(info)});
        table.addRow({"Matmul", torchOk ? formatRate(gflops) + " (fp32 2048x2048, "
                                              + std::to_string(info.threads) + " threads)"
                                        : "not measured"});
        table.addRow({"Allocator", info.allocator});
        table.addRow({"Data folder", defaultDataDir()});
        std::string storeText = store.path + (store.fromEnvironment ? " (LAYERWISE_DB)" : "");
        table.addRow({"Run store", storeText});
        std::string storeState;
        if (!store.exists)
            storeState = std::string("not created yet") + (store.writable ? "" : ", not writable");
        else if (!store.error.empty())
            storeState = "unreadable";
        else
            storeState
                = formatGrouped(store.runs) + " run(s)" + (store.writable ? "" : ", read-only");
        table.addRow({"", storeState});
        table.addRow({"Fashion-MNIST", fmnist.path});
        table.addRow({"", fmnist.usable ? formatGrouped(fmnist.train) + " train / "
                                              + formatGrouped(fmnist.test) + " test images"
                                        : "not usable"});
        std::printf("%s", table.render().c_str());
    }

    for (const auto &w : findings.warnings)
        std::fprintf(stderr, "WARNING: %s\n", printable(w, /*multiline=*/true).c_str());
    for (const auto &f : findings.fatal)
        std::fprintf(stderr, "ERROR: %s\n", printable(f, /*multiline=*/true).c_str());
    return findings.fatal.empty() ? ExitOk : ExitFailure;
}

} // namespace

void registerDoctor(CLI::App &app, Context &ctx)
{
    auto opt = std::make_shared<DoctorOptions>();
    CLI::App *cmd = app.add_subcommand(
        "doctor", "Check this machine for training: LibTorch, CUDA, threads, BLAS speed, "
                  "allocator, run store and default dataset. Exits 1 when LibTorch is unusable.");
    cmd->add_flag("--json", opt->json, "Print the findings as JSON (warnings still go to stderr)");
    cmd->add_option("--threads", opt->threads, "Intra-op threads to configure (0: all cores)")
        ->check(threadCount());
    cmd->add_option("--bench-seconds", opt->benchSeconds,
                    "How long to measure the matmul rate, in seconds")
        ->check(numberIn(0.05, 60.0));
    cmd->callback([opt, &ctx] { ctx.exitCode = runDoctor(*opt); });
}

} // namespace lw::cli
