// Stage step efficiency: forward + backward + SGD step of block j + head j on synthetic input of
// the stage's shape, against the machine's fp32 matmul ceiling. Prints one table.
//   bench_stage [--steps N] [--batch B] [preset:stage ...]

#include "model/model.h"
#include "util/runtime.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

namespace {

double cpuSeconds()
{
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

struct Timing
{
    double wallMs = 0, cpuMs = 0;
};

Timing timeSteps(const lw::Spec &spec, int stage, int batch, int steps, bool channelsLast)
{
    auto summary = lw::summarizeSpec(spec);
    const auto in = summary->stages[stage].in;
    torch::manual_seed(0);
    lw::model::StageBlock block(spec.stages[stage], in);
    lw::model::AuxHead head(spec.stages[stage].head, summary->stages[stage].out,
                            spec.input.classes);
    std::vector<torch::Tensor> params = block->parameters();
    for (auto &p : head->parameters())
        params.push_back(p);
    auto fmt = channelsLast ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    {
        torch::NoGradGuard g;
        for (auto &p : params)
            if (p.dim() == 4)
                p.set_data(p.contiguous(fmt));
    }
    torch::optim::SGD sgd(params, torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(5e-4));
    auto x = torch::randn({batch, in.c, in.h, in.w}).contiguous(fmt);
    auto y = torch::randint(0, spec.input.classes, {batch}, torch::kInt64);
    auto step = [&] {
        sgd.zero_grad();
        auto loss = torch::nn::functional::cross_entropy(head->forward(block->forward(x)), y);
        loss.backward();
        sgd.step();
        (void)loss.item<float>();
    };
    for (int i = 0; i < 3; ++i)
        step();
    const auto w0 = std::chrono::steady_clock::now();
    const double c0 = cpuSeconds();
    for (int i = 0; i < steps; ++i)
        step();
    Timing t;
    t.wallMs
        = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - w0).count()
          / steps;
    t.cpuMs = (cpuSeconds() - c0) * 1000.0 / steps;
    return t;
}

} // namespace

int main(int argc, char **argv)
{
    lw::preferPassiveOpenMpWait(argv);
    int steps = 20, batch = 128;
    std::vector<std::string> cases;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--steps" && i + 1 < argc)
            steps = std::stoi(argv[++i]);
        else if (a == "--batch" && i + 1 < argc)
            batch = std::stoi(argv[++i]);
        else
            cases.push_back(a);
    }
    if (cases.empty())
        cases = {"fmnist-k1:0", "fmnist-k1:1", "fmnist-k1:2", "cifar10-k2:0", "cifar10-k2:3"};
    lw::configureRuntime(0);
    const double ceiling = lw::measureMatmulGflops(2048, 2.0);
    const auto info = lw::runtimeInfo();
    std::printf("machine ceiling: %.1f GFLOP/s fp32 matmul (%d threads, %s)\n", ceiling,
                info.threads, info.allocator.c_str());
    std::printf("%-14s %3s %10s %10s %10s %10s %9s %8s\n", "stage", "CL", "ms/step", "cpu-ms",
                "img/s", "GFLOP/s", "fraction", "MMAC/img");
    for (const auto &c : cases) {
        const auto colon = c.find(':');
        auto spec = lw::loadPreset(c.substr(0, colon));
        if (!spec) {
            std::fprintf(stderr, "%s\n", spec.message().c_str());
            return 2;
        }
        const int stage = colon == std::string::npos ? 0 : std::stoi(c.substr(colon + 1));
        auto summary = lw::summarizeSpec(*spec);
        const auto &cost = summary->stages[stage];
        const double macs = double(cost.blockMacs + cost.headMacs);
        for (bool cl : {false, true}) {
            auto t = timeSteps(*spec, stage, batch, steps, cl);
            // fwd + bwd (data and weight gradients) = 3x the forward multiply-accumulates.
            const double gflops = 2.0 * 3.0 * macs * batch / (t.wallMs / 1000.0) / 1e9;
            std::printf("%-14s %3s %10.2f %10.2f %10.0f %10.1f %9.3f %8.2f\n", c.c_str(),
                        cl ? "yes" : "no", t.wallMs, t.cpuMs, batch / (t.wallMs / 1000.0), gflops,
                        gflops / ceiling, macs / 1e6);
        }
    }
    return 0;
}
