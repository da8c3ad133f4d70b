// bench_data: loader throughput in images/s on 2 worker threads.
//  - Fashion-MNIST (Debian's, when installed) with the CIFAR-style augmentation (crop with
//    padding 4 + flip), and without augmentation (the in-RAM fast path).
//  - An image folder of 2000 generated 256x256 JPEGs: RandomResizedCrop 224 + flip (training) and
//    resize 256 + centre crop 224 (evaluation).
// The training step rates of the matching preset stages are printed beside these by the lead.

#include "core/data/codec.h"
#include "core/data/loader_p.h"
#include "core/model/model_p.h"
#include "core/runtime/runtime.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

namespace fs = std::filesystem;
using namespace lw;

namespace {

double seconds()
{
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

double cpuSeconds()
{
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

struct Rate
{
    double wall = 0; ///< images per wall-clock second
    double cpu = 0;  ///< images per CPU-second of the whole process (all threads)
};

/// Rates over `epochs` full epochs (the first batch's wait included). The CPU rate stays
/// meaningful on a loaded machine, where the wall-clock rate is what is left over.
Rate throughput(const std::shared_ptr<data::Split> &split, const data::LoaderOptions &lo,
                int epochs, std::int64_t *skipped = nullptr)
{
    data::Loader loader(split, lo);
    std::int64_t images = 0;
    const double t0 = seconds(), c0 = cpuSeconds();
    for (int e = 0; e < epochs; ++e) {
        loader.startEpoch(e);
        data::Batch b;
        while (loader.next(b))
            images += b.images.size(0);
    }
    const double dt = seconds() - t0, dc = cpuSeconds() - c0;
    if (skipped)
        *skipped += loader.skipped();
    return {images / dt, images / dc};
}

/// Training steps per second of block `stage` + head `stage` of a preset (forward, backward,
/// SGD step on a random batch of the stage's input shape), in images/s.
double stepRate(const std::string &preset, int stage, int batch, int steps)
{
    auto spec = loadPreset(preset);
    auto summary = spec ? summarizeSpec(*spec) : Result<SpecSummary>(fail("no preset"));
    if (!summary)
        return 0;
    const auto in = summary->stages[stage].in;
    model::StageBlock block(spec->stages[stage], in);
    model::AuxHead head(spec->stages[stage].head, summary->stages[stage].out, spec->input.classes);
    auto params = block->parameters();
    for (auto &p : head->parameters())
        params.push_back(p);
    torch::optim::SGD sgd(params, torch::optim::SGDOptions(0.01).momentum(0.9));
    auto x = torch::randn({batch, in.c, in.h, in.w});
    auto y = torch::randint(0, spec->input.classes, {batch}, torch::kInt64);
    auto step = [&] {
        sgd.zero_grad();
        torch::nn::functional::cross_entropy(head->forward(block->forward(x)), y).backward();
        sgd.step();
    };
    step();
    const double t0 = seconds();
    for (int i = 0; i < steps; ++i)
        step();
    return batch * steps / (seconds() - t0);
}

void reportStep(const char *what, double loaderRate, double stepImagesPerSecond)
{
    std::printf("%-58s %9.0f images/s (loader / training = %.1fx%s)\n", what, stepImagesPerSecond,
                loaderRate / stepImagesPerSecond,
                loaderRate > stepImagesPerSecond ? ", the loader keeps ahead" : ": TRAINING WAITS");
    std::fflush(stdout);
}

void report(const char *what, Rate rate)
{
    std::printf("%-58s %9.0f images/s %9.0f images/CPU-s\n", what, rate.wall, rate.cpu);
    std::fflush(stdout);
}

} // namespace

int main(int, char **argv)
{
    preferPassiveOpenMpWait(argv);
    configureRuntime();
    std::printf("bench_data: loader throughput, 2 worker threads, prefetch 4 (%u hardware "
                "threads; images/CPU-s counts every thread of the process)\n",
                std::thread::hardware_concurrency());

    // Fashion-MNIST with augmentation.
    DatasetOptions fo; // Debian's default place
    auto fm = data::Dataset::open(fo);
    if (!fm) {
        std::printf("Fashion-MNIST: skipped (%s)\n", fm.message().c_str());
    } else {
        data::LoaderOptions lo;
        lo.batchSize = 128;
        lo.threads = 2;
        lo.transform = {1, 28, 28, true, {}, {0.2860f}, {0.3530f}};
        lo.transform.augment.padding = 4;
        lo.transform.augment.flip = true;
        const Rate augmented = throughput(fm.value()->train(), lo, 2);
        report("Fashion-MNIST train, crop 28 pad 4 + flip, batch 128", augmented);
        reportStep("  beside: fmnist-k1 stage 0 training step, batch 128", augmented.wall,
                   stepRate("fmnist-k1", 0, 128, 20));
        lo.transform.augment.enabled = false;
        report("Fashion-MNIST train, no augmentation, batch 128",
               throughput(fm.value()->train(), lo, 2));
        lo.transform.train = false;
        lo.batchSize = 256;
        lo.shuffle = false;
        report("Fashion-MNIST test, batch 256", throughput(fm.value()->test(), lo, 3));
    }

    // An image folder of generated 256x256 JPEGs.
    char pattern[] = "/tmp/lw-bench-data-XXXXXX";
    if (!mkdtemp(pattern)) {
        std::perror("mkdtemp");
        return 1;
    }
    const fs::path root = pattern;
    const int classes = 10, perClass = 200, side = 256;
    const double g0 = seconds();
    std::uint64_t bytes = 0;
    for (const char *split : {"train", "val"}) {
        const int count = std::string(split) == "train" ? perClass : perClass / 10;
        for (int k = 0; k < classes; ++k) {
            fs::create_directories(root / split / ("class" + std::to_string(k)));
            for (int i = 0; i < count; ++i) {
                data::RawImage img;
                img.width = img.height = side;
                img.channels = 3;
                img.pixels.resize(std::size_t(side) * side * 3);
                std::uint32_t noise = std::uint32_t(k * 7919 + i * 104729 + 1);
                for (int y = 0; y < side; ++y)
                    for (int x = 0; x < side; ++x)
                        for (int c = 0; c < 3; ++c) {
                            noise = noise * 1664525u + 1013904223u;
                            const int v
                                = (x * (k + 1) + y * (c + 2) + i * 3) % 200 + int(noise >> 27);
                            img.pixels[std::size_t((y * side + x) * 3 + c)] = std::uint8_t(v);
                        }
                auto jpg = data::encodeJpeg(img, 90);
                if (!jpg) {
                    std::fprintf(stderr, "%s\n", jpg.message().c_str());
                    return 1;
                }
                bytes += jpg->size();
                std::ofstream(root / split / ("class" + std::to_string(k))
                                  / ("img" + std::to_string(i) + ".jpg"),
                              std::ios::binary)
                    .write(jpg->data(), std::streamsize(jpg->size()));
            }
        }
    }
    std::printf("generated %d + %d JPEGs of %dx%d (%.1f KiB on average) in %s in %.1f s\n",
                classes * perClass, classes * perClass / 10, side, side,
                bytes / 1024.0 / (classes * perClass * 1.1), root.c_str(), seconds() - g0);
    DatasetOptions io;
    io.name = "imagefolder";
    io.path = root.string();
    auto folder = data::Dataset::open(io);
    if (!folder) {
        std::fprintf(stderr, "%s\n", folder.message().c_str());
        fs::remove_all(root);
        return 1;
    }
    data::LoaderOptions lo;
    lo.batchSize = 64;
    lo.threads = 2;
    lo.transform = {3, 224, 224, true, {}, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
    lo.transform.augment.randomResizedCrop = true;
    lo.transform.augment.flip = true;
    lo.transform.augment.evalResize = 256;
    std::int64_t skipped = 0;
    const Rate crops = throughput(folder.value()->train(), lo, 1, &skipped);
    report("image folder train, RandomResizedCrop 224 + flip, batch 64", crops);
    reportStep("  beside: imagenet-k2 stage 0 training step, batch 64", crops.wall,
               stepRate("imagenet-k2", 0, 64, 3));
    lo.transform.train = false;
    report("image folder val, resize 256 + centre crop 224, batch 64",
           throughput(folder.value()->test(), lo, 3, &skipped));
    fs::remove_all(root);
    return skipped == 0 ? 0 : 1;
}
