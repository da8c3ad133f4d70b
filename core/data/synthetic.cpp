// The synthetic dataset: seeded class templates (oriented sinusoids) plus brightness and pixel
// noise, generated in memory; the same seed gives the same images everywhere.

#include "core/data/readers_p.h"

#include <algorithm>
#include <cmath>

namespace lw::data::detail {

Result<Opened> openSynthetic(const DatasetOptions &o)
{
    const int c = o.channels > 0 ? o.channels : 3;
    const int side = o.imageSide > 0 ? o.imageSide : 32;
    const int classes = o.classes > 0 ? o.classes : 10;
    const std::int64_t nTrain = o.syntheticTrain > 0 ? o.syntheticTrain : 2048;
    const std::int64_t nTest = o.syntheticTest > 0 ? o.syntheticTest : 512;
    if (c > 64 || side > 1024 || classes > 100000)
        return fail("synthetic: " + std::to_string(c) + " x " + std::to_string(side) + " x "
                    + std::to_string(side) + " with " + std::to_string(classes)
                    + " classes is outside the supported range (channels <= 64, side <= 1024)");
    const std::uint64_t per = std::uint64_t(c) * side * side;
    if (per * std::uint64_t(nTrain + nTest) > (std::uint64_t(2) << 30))
        return fail("synthetic: " + std::to_string(nTrain + nTest) + " images of "
                    + std::to_string(per) + " bytes would exceed 2 GiB");
    // Class templates: a few oriented sinusoids per channel, in [-1, 1].
    std::vector<float> templ(std::size_t(classes) * per);
    for (int k = 0; k < classes; ++k) {
        Rng rng(o.seed, Stream::SyntheticClass, std::uint64_t(k));
        for (int ch = 0; ch < c; ++ch) {
            float *t = templ.data() + std::size_t(k) * per + std::size_t(ch) * side * side;
            for (int comp = 0; comp < 3; ++comp) {
                const double fx = rng.uniform(-3, 3), fy = rng.uniform(-3, 3);
                const double phase = rng.uniform(0, 6.283185307179586);
                for (int y = 0; y < side; ++y)
                    for (int x = 0; x < side; ++x)
                        t[y * side + x] += float(
                            std::sin(6.283185307179586 * (fx * x + fy * y) / side + phase) / 3);
            }
        }
    }
    Opened out;
    for (int s = 0; s < 2; ++s) {
        const std::int64_t n = s == 0 ? nTrain : nTest;
        torch::Tensor images = torch::empty({n, c, side, side}, torch::kUInt8);
        std::uint8_t *dst = images.data_ptr<std::uint8_t>();
        std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i) {
            Rng rng(o.seed, s == 0 ? Stream::SyntheticTrain : Stream::SyntheticTest,
                    std::uint64_t(i));
            const int k = int(i % classes);
            labels[std::size_t(i)] = k;
            const double brightness = rng.uniform(-20, 20);
            const float *t = templ.data() + std::size_t(k) * per;
            for (std::uint64_t p = 0; p < per; ++p) {
                const double v = 128 + brightness + 70 * t[p] + 30 * rng.normal();
                dst[std::uint64_t(i) * per + p]
                    = std::uint8_t(std::lround(std::clamp(v, 0.0, 255.0)));
            }
        }
        const auto subset = balancedSubset(labels, classes, s == 0 ? o.trainLimit : o.testLimit,
                                           o.seed, s == 0 ? Stream::LimitTrain : Stream::LimitTest);
        (s == 0 ? out.train : out.test)
            = memorySplit(o.log, images, std::move(labels), classes, subset);
    }
    out.info.name = "synthetic";
    out.info.root = "";
    out.info.channels = c;
    out.info.height = out.info.width = side;
    out.info.classes = classes;
    for (int k = 0; k < classes; ++k)
        out.info.classNames.push_back("class " + std::to_string(k));
    out.info.description = "synthetic (seed " + std::to_string(o.seed) + ", "
                           + std::to_string(classes) + " classes of sinusoid patterns + noise)";
    return out;
}

} // namespace lw::data::detail
