// Stage step efficiency: forward + backward + SGD step of block j + head j on synthetic input of
// the stage's shape, against the machine's fp32 matmul ceiling; and the frozen prefix's forward
// pass as PyTorch scripts run it (NCHW, BN unfolded) against Layerwise's (channels-last, BN folded
// into the convs, inference mode). Variants are interleaved repetition by repetition; medians.
// On a CPU with bf16 instructions (AMX, AVX512-BF16), or with --bf16 on, the step also runs
// channels-last under bf16 autocast (`precision: bf16`), against the bf16 matmul ceiling.
//   bench_stage [--steps N] [--reps N] [--batch B] [--malloc plain] [--bf16 auto|on|off]
//   [--json FILE] [preset:stage ...]
// bench_stage_glibc is the same program without tcmalloc (the allocator lever); `--malloc plain`
// also skips Layerwise's mallopt tuning so glibc trims and unmaps as it does by default.

#include "core/model/model_p.h"
#include "core/runtime/runtime.h"
#include "core/train/engine_p.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

double cpuSeconds()
{
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

/// A whole non-negative number, or exit 2 naming the argument.
int parseCount(const std::string &text, const char *what)
{
    std::size_t used = 0;
    int value = -1;
    try {
        value = std::stoi(text, &used);
    } catch (const std::exception &) {
    }
    if (value < 0 || used != text.size()) {
        std::fprintf(stderr, "bench_stage: %s must be a whole number >= 0, got '%s'\n", what,
                     text.c_str());
        std::exit(2);
    }
    return value;
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

struct Timing
{
    double wallMs = 0, cpuMs = 0;
};

/// Runs `fn` `steps` times after it was warmed up; wall and CPU milliseconds per call.
Timing timeCalls(int steps, const std::function<void()> &fn)
{
    const auto w0 = std::chrono::steady_clock::now();
    const double c0 = cpuSeconds();
    for (int i = 0; i < steps; ++i)
        fn();
    Timing t;
    t.wallMs
        = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - w0).count()
          / steps;
    t.cpuMs = (cpuSeconds() - c0) * 1000.0 / steps;
    return t;
}

void toFormat(torch::nn::Module &m, at::MemoryFormat fmt)
{
    torch::NoGradGuard g;
    for (auto &p : m.parameters())
        if (p.dim() == 4)
            p.set_data(p.contiguous(fmt));
}

/// One training step of block j + head j (what a greedy stage does per batch with the cache on).
struct StageStep
{
    lw::model::StageBlock block{nullptr};
    lw::model::AuxHead head{nullptr};
    std::unique_ptr<torch::optim::SGD> sgd;
    torch::Tensor x, y;

    bool bf16 = false;

    StageStep(const lw::Spec &spec, const lw::SpecSummary &summary, int stage, int batch, bool cl,
              bool bf16Autocast = false)
        : bf16(bf16Autocast)
    {
        const auto in = summary.stages[stage].in;
        torch::manual_seed(0);
        block = lw::model::StageBlock(spec.stages[stage], in);
        head = lw::model::AuxHead(spec.stages[stage].head, summary.stages[stage].out,
                                  spec.input.classes);
        const auto fmt = cl ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
        toFormat(*block, fmt);
        toFormat(*head, fmt);
        std::vector<torch::Tensor> params = block->parameters();
        for (auto &p : head->parameters())
            params.push_back(p);
        sgd = std::make_unique<torch::optim::SGD>(
            params, torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(5e-4));
        x = torch::randn({batch, in.c, in.h, in.w}).contiguous(fmt);
        y = torch::randint(0, spec.input.classes, {batch}, torch::kInt64);
        for (int i = 0; i < 3; ++i)
            step();
    }
    void step()
    {
        sgd->zero_grad();
        torch::Tensor logits;
        {
            lw::detail::AutocastScope ac(bf16, torch::kBFloat16, false);
            logits = head->forward(block->forward(x));
        }
        auto loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), y);
        loss.backward();
        sgd->step();
        (void)loss.item<float>();
    }
};

/// The frozen prefix (blocks 0..stage-1) forward on one batch: as a plain PyTorch script runs it
/// (NCHW, BN in eval mode, no_grad) or as Layerwise does (BN folded, channels-last, inference).
struct PrefixPass
{
    std::vector<lw::model::StageBlock> blocks;
    torch::Tensor x;
    bool layerwise;

    PrefixPass(const lw::Spec &spec, const lw::SpecSummary &summary, int stage, int batch,
               bool layerwiseWay)
        : layerwise(layerwiseWay)
    {
        torch::manual_seed(0);
        for (int j = 0; j < stage; ++j) {
            lw::model::StageBlock b(spec.stages[j], summary.stages[j].in);
            b->eval();
            if (layerwise) {
                b = lw::model::foldBatchNorm(b, spec.stages[j], summary.stages[j].in);
                toFormat(*b, at::MemoryFormat::ChannelsLast);
            }
            blocks.push_back(b);
        }
        const auto in = summary.stages[0].in;
        x = torch::randn({batch, in.c, in.h, in.w});
        if (layerwise)
            x = x.contiguous(at::MemoryFormat::ChannelsLast);
        for (int i = 0; i < 2; ++i)
            run();
    }
    void run()
    {
        auto forward = [&] {
            auto h = x;
            for (auto &b : blocks)
                h = b->forward(h);
            (void)h.sum().item<float>();
        };
        if (layerwise) {
            c10::InferenceMode guard;
            forward();
        } else {
            torch::NoGradGuard guard;
            forward();
        }
    }
};

} // namespace

int main(int argc, char **argv)
{
    lw::preferPassiveOpenMpWait(argv);
    int steps = 10, reps = 5, batch = 128;
    bool plainMalloc = false;
    std::string jsonPath, bf16Mode = "auto";
    std::vector<std::string> cases;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "bench_stage: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--steps")
            steps = std::max(1, parseCount(next(), "--steps"));
        else if (a == "--reps")
            reps = std::max(1, parseCount(next(), "--reps"));
        else if (a == "--batch")
            batch = std::max(1, parseCount(next(), "--batch"));
        else if (a == "--malloc")
            plainMalloc = next() == "plain";
        else if (a == "--json")
            jsonPath = next();
        else if (a == "--bf16") {
            bf16Mode = next();
            if (bf16Mode != "auto" && bf16Mode != "on" && bf16Mode != "off") {
                std::fprintf(stderr, "bench_stage: --bf16 must be auto, on or off, got '%s'\n",
                             bf16Mode.c_str());
                return 2;
            }
        } else
            cases.push_back(a);
    }
    if (cases.empty())
        cases = {"fmnist-k1:0", "fmnist-k1:2", "cifar10-k2:0", "cifar10-k2:3"};
    if (plainMalloc)
        torch::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    else
        lw::configureRuntime(0);
    const auto info = lw::runtimeInfo();
    const std::string allocator = plainMalloc && info.allocator != "tcmalloc"
                                      ? std::string("glibc malloc (defaults)")
                                      : info.allocator;
    std::vector<double> ceilings;
    for (int r = 0; r < std::min(reps, 3); ++r)
        ceilings.push_back(lw::measureMatmulGflops(2048, 1.0));
    const double ceiling = median(ceilings);
    std::printf("machine ceiling: %.1f GFLOP/s fp32 matmul, median of %zu (%d threads, %s)\n",
                ceiling, ceilings.size(), torch::get_num_threads(), allocator.c_str());
    const bool bf16 = bf16Mode == "on" || (bf16Mode == "auto" && !info.cpuBf16.empty());
    double ceilingBf16 = 0;
    if (bf16) {
        std::vector<double> rates;
        for (int r = 0; r < std::min(reps, 3); ++r)
            rates.push_back(lw::measureMatmulGflops(2048, 1.0, true));
        ceilingBf16 = median(rates);
        std::printf("bf16 ceiling: %.1f GFLOP/s bf16 matmul (CPU bf16 instructions: %s)\n",
                    ceilingBf16, info.cpuBf16.empty() ? "none" : info.cpuBf16.c_str());
    }

    nlohmann::json out = {{"ceiling_gflops", ceiling},
                          {"threads", torch::get_num_threads()},
                          {"allocator", allocator},
                          {"batch", batch},
                          {"ceiling_bf16_gflops", ceilingBf16},
                          {"cpu_bf16", info.cpuBf16},
                          {"stages", nlohmann::json::array()},
                          {"prefix", nlohmann::json::array()}};
    std::printf("useful FLOPs per image = 2 x (forward + weight-gradient MACs of block and head + "
                "input-gradient MACs of the head)\n");
    std::printf("%-14s %9s %10s %10s %10s %10s %9s %8s\n", "stage", "layout", "ms/step", "cpu-ms",
                "img/s", "GFLOP/s", "fraction", "MMAC/img");
    for (const auto &c : cases) {
        const auto colon = c.find(':');
        auto spec = lw::loadPreset(c.substr(0, colon));
        if (!spec) {
            std::fprintf(stderr, "%s\n", spec.message().c_str());
            return 2;
        }
        const int stage
            = colon == std::string::npos ? 0 : parseCount(c.substr(colon + 1), "preset:stage");
        auto summary = lw::summarizeSpec(*spec);
        if (!summary || stage < 0 || stage >= static_cast<int>(summary->stages.size())) {
            std::fprintf(stderr, "bench_stage: %s: no such stage\n", c.c_str());
            return 2;
        }
        const auto &cost = summary->stages[stage];
        const double macs = double(cost.blockMacs + cost.headMacs);
        // The work a step needs: forward and weight gradients of every layer, input gradients of
        // the head's layers only (the block's input comes from the frozen prefix: no gradient).
        const double usefulMacs = 2.0 * macs + double(cost.headMacs);

        // Step: NCHW, channels-last and (where bf16 pays) channels-last bf16, interleaved.
        std::vector<std::unique_ptr<StageStep>> variants;
        variants.push_back(std::make_unique<StageStep>(*spec, *summary, stage, batch, false));
        variants.push_back(std::make_unique<StageStep>(*spec, *summary, stage, batch, true));
        if (bf16)
            variants.push_back(
                std::make_unique<StageStep>(*spec, *summary, stage, batch, true, true));
        const int nv = static_cast<int>(variants.size());
        std::vector<std::vector<double>> wall(nv), cpu(nv);
        for (int r = 0; r < reps; ++r)
            for (int v = 0; v < nv; ++v) {
                auto &s = *variants[v];
                auto t = timeCalls(steps, [&] { s.step(); });
                wall[v].push_back(t.wallMs);
                cpu[v].push_back(t.cpuMs);
            }
        for (int v = 0; v < nv; ++v) {
            const double ms = median(wall[v]);
            const double gflops = 2.0 * usefulMacs * batch / (ms / 1000.0) / 1e9;
            const double ceil = v == 2 ? ceilingBf16 : ceiling;
            std::printf("%-14s %9s %10.2f %10.2f %10.0f %10.1f %9.3f %8.2f\n", c.c_str(),
                        v == 0   ? "NCHW"
                        : v == 1 ? "CL"
                                 : "CL bf16",
                        ms, median(cpu[v]), batch / (ms / 1000.0), gflops, gflops / ceil,
                        macs / 1e6);
            out["stages"].push_back({{"case", c},
                                     {"channels_last", v >= 1},
                                     {"precision", v == 2 ? "bf16" : "fp32"},
                                     {"ms_per_step", ms},
                                     {"cpu_ms_per_step", median(cpu[v])},
                                     {"images_per_second", batch / (ms / 1000.0)},
                                     {"gflops", gflops},
                                     {"fraction_of_ceiling", gflops / ceil},
                                     {"mmac_per_image", macs / 1e6}});
        }
    }

    // The frozen prefix's forward (what recomputing costs per batch when augmentation is on).
    std::printf("\nfrozen prefix forward, batch %d: PyTorch way (NCHW, BN, no_grad) vs Layerwise "
                "(channels-last, BN folded, inference mode)\n",
                batch);
    std::printf("%-14s %12s %12s %8s\n", "prefix of", "pytorch ms", "layerwise ms", "ratio");
    for (const auto &c : cases) {
        const auto colon = c.find(':');
        const int stage
            = colon == std::string::npos ? 0 : parseCount(c.substr(colon + 1), "preset:stage");
        if (stage == 0)
            continue;
        auto spec = lw::loadPreset(c.substr(0, colon));
        auto summary = lw::summarizeSpec(*spec);
        PrefixPass plain(*spec, *summary, stage, batch, false),
            ours(*spec, *summary, stage, batch, true);
        std::vector<double> wall[2];
        for (int r = 0; r < reps; ++r)
            for (int v = 0; v < 2; ++v) {
                auto &p = v ? ours : plain;
                wall[v].push_back(timeCalls(steps, [&] { p.run(); }).wallMs);
            }
        const double a = median(wall[0]), b = median(wall[1]);
        std::printf("%-14s %12.2f %12.2f %8.2f\n", c.c_str(), a, b, b / a);
        out["prefix"].push_back(
            {{"case", c}, {"pytorch_ms", a}, {"layerwise_ms", b}, {"ratio", b / a}});
    }
    if (!jsonPath.empty()) {
        std::ofstream f(jsonPath);
        f << out.dump(1) << '\n';
        if (!f) {
            std::fprintf(stderr, "bench_stage: cannot write %s\n", jsonPath.c_str());
            return 1;
        }
    }
    return 0;
}
