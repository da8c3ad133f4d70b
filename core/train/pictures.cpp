// What a stage learned, in pictures (core/events/pictures.h), from the heads' test outputs the
// evaluation already holds and one forward pass over a seeded subset of the test images:
// confusion matrices, a PCA of the probes' pooled features, first-layer filters, feature maps
// and the most confident errors.
#include "core/model/model_p.h"
#include "core/train/probe_p.h"
#include "core/train/trainer_p.h"

#include <algorithm>
#include <cmath>

namespace lw {

namespace {

constexpr std::int64_t kProjectionPoints = 2000;
constexpr int kHardErrors = 16;
constexpr int kMapsPerSample = 8;
constexpr int kMaxFilters = 64;
constexpr int kMaxThumbSide = 64;
constexpr int kMaxMapSide = 32;

ConfusionMatrix confusionOf(const torch::Tensor &predicted, const torch::Tensor &labels,
                            int classes)
{
    ConfusionMatrix m;
    m.classes = classes;
    auto counts = torch::bincount(labels.to(torch::kInt64) * classes + predicted, {},
                                  std::int64_t(classes) * classes)
                      .to(torch::kInt64)
                      .contiguous();
    m.counts.assign(counts.data_ptr<std::int64_t>(),
                    counts.data_ptr<std::int64_t>() + counts.numel());
    return m;
}

/// N x C x H x W floats -> uint8 tiles, each tile scaled to its own range (C must be 1 or 3).
ImageTiles scaledTiles(torch::Tensor t)
{
    t = t.to(torch::kCPU, torch::kFloat32).contiguous();
    const auto n = t.size(0);
    auto flat = t.reshape({n, -1});
    auto lo = std::get<0>(flat.min(1, true));
    auto hi = std::get<0>(flat.max(1, true));
    flat = (flat - lo) / (hi - lo).clamp_min(1e-12) * 255.0;
    auto u8 = flat.round().clamp(0, 255).to(torch::kUInt8).reshape(t.sizes());
    u8 = u8.permute({0, 2, 3, 1}).contiguous();
    ImageTiles tiles;
    tiles.count = static_cast<int>(n);
    tiles.channels = static_cast<int>(t.size(1));
    tiles.height = static_cast<int>(t.size(2));
    tiles.width = static_cast<int>(t.size(3));
    tiles.pixels.assign(u8.data_ptr<std::uint8_t>(), u8.data_ptr<std::uint8_t>() + u8.numel());
    return tiles;
}

/// uint8 images (each C x H x W, same size) as tiles, shrunk to at most kMaxThumbSide.
ImageTiles imageTiles(const std::vector<torch::Tensor> &images)
{
    ImageTiles tiles;
    if (images.empty())
        return tiles;
    auto t = torch::stack(images);
    if (std::max(t.size(2), t.size(3)) > kMaxThumbSide) {
        const double s = double(kMaxThumbSide) / double(std::max(t.size(2), t.size(3)));
        const std::vector<std::int64_t> size
            = {std::max<std::int64_t>(1, std::llround(t.size(2) * s)),
               std::max<std::int64_t>(1, std::llround(t.size(3) * s))};
        t = torch::nn::functional::interpolate(
                t.to(torch::kFloat32),
                torch::nn::functional::InterpolateFuncOptions().size(size).mode(torch::kArea))
                .round()
                .clamp(0, 255)
                .to(torch::kUInt8);
    }
    t = t.permute({0, 2, 3, 1}).contiguous();
    tiles.count = static_cast<int>(t.size(0));
    tiles.height = static_cast<int>(t.size(1));
    tiles.width = static_cast<int>(t.size(2));
    tiles.channels = static_cast<int>(t.size(3));
    tiles.pixels.assign(t.data_ptr<std::uint8_t>(), t.data_ptr<std::uint8_t>() + t.numel());
    return tiles;
}

/// First two principal components of N x D features; each axis's sign fixed so that its largest
/// loading is positive (the same features give the same picture).
void pca(const torch::Tensor &features, Projection &p)
{
    auto x = features.to(torch::kFloat64);
    x = x - x.mean(0, true);
    const auto n = x.size(0);
    if (n < 2 || x.size(1) < 2)
        return;
    auto cov = x.t().mm(x) / double(n - 1);
    auto [values, vectors] = torch::linalg::eigh(cov, "L"); // ascending
    const auto d = values.size(0);
    const double total = values.clamp_min(0).sum().item<double>();
    auto axes = vectors.index_select(1, torch::tensor({d - 1, d - 2}, torch::kInt64));
    for (int k = 0; k < 2; ++k) {
        auto col = axes.select(1, k);
        if (col.index_select(0, col.abs().argmax().reshape({1})).item<double>() < 0)
            col.neg_();
        const double v = values[d - 1 - k].item<double>();
        p.explainedVariance[k] = total > 0 ? std::max(v, 0.0) / total : 0.0;
    }
    auto pts = x.mm(axes).to(torch::kFloat32).contiguous();
    const float *data = pts.data_ptr<float>();
    p.x.resize(std::size_t(n));
    p.y.resize(std::size_t(n));
    for (std::int64_t i = 0; i < n; ++i) {
        p.x[std::size_t(i)] = data[2 * i];
        p.y[std::size_t(i)] = data[2 * i + 1];
    }
}

} // namespace

torch::Tensor Trainer::Impl::testImage(std::int64_t sample)
{
    auto img = dataset->test()->image(sample, std::max(spec.input.height, spec.input.width));
    if (!img)
        throw detail::Stop{RunStatus::Failed, "pictures: " + img.message()};
    return *img;
}

FilterGrid Trainer::Impl::firstLayerFilters()
{
    torch::NoGradGuard guard;
    auto w = net->blocks[0]->conv->weight.detach().to(torch::kCPU, torch::kFloat32);
    w = w.slice(0, 0, std::min<std::int64_t>(w.size(0), kMaxFilters));
    const std::int64_t c = spec.input.channels;
    // Undo the space-to-depth of the stem and of the block so the filters are seen as pixels.
    while (w.size(1) > c && w.size(1) % (4 * c) == 0 && w.size(1) / 4 >= c)
        w = model::psiInverse(w.contiguous());
    if (w.size(1) != 1 && w.size(1) != 3)
        w = w.mean(1, true);
    return scaledTiles(w);
}

StagePictures Trainer::Impl::computePictures(int stage, const std::vector<torch::Tensor> &outputs,
                                             bool ensembleOfHeads)
{
    const auto t0 = Clock::now();
    StagePictures pics;
    pics.stage = stage;
    pics.classNames = dataset->info().classNames;
    const int classes = spec.input.classes;
    const auto labels = testLabels;
    const bool softmax = spec.recipe.ensemble == EnsembleMode::Softmax;
    const int stages = static_cast<int>(outputs.size());

    // Confusion matrices and hard errors: from the heads' test outputs, no new forward pass.
    if (stage < stages && outputs[stage].defined()) {
        const auto &out = outputs[stage];
        pics.head = confusionOf(out.argmax(1), labels, classes);
        if (ensembleOfHeads) {
            auto w = detail::ensembleWeights(stage + 1);
            auto ens = out * w[stage];
            for (int i = 0; i < stage; ++i)
                ens = ens + outputs[i] * w[i];
            pics.ensemble = confusionOf(ens.argmax(1), labels, classes);
        } else {
            pics.ensemble = pics.head;
        }
        auto probs = softmax ? out : torch::softmax(out, 1);
        auto [conf, pred] = probs.max(1);
        auto wrong = pred.ne(labels);
        auto score = torch::where(wrong, conf.to(torch::kFloat64),
                                  torch::full_like(conf, -1.0, torch::kFloat64));
        const auto k = std::min<std::int64_t>(kHardErrors, wrong.sum().item<std::int64_t>());
        if (k > 0) {
            auto top = std::get<1>(score.topk(k));
            std::vector<torch::Tensor> thumbs;
            for (std::int64_t r = 0; r < k; ++r) {
                const auto i = top[r].item<std::int64_t>();
                HardError e;
                e.sample = i;
                e.trueClass = static_cast<int>(labels[i].item<std::int64_t>());
                e.predicted = static_cast<int>(pred[i].item<std::int64_t>());
                e.confidence = conf[i].item<double>();
                for (int j = stage + 1; j < stages && e.fixedAtStage < 0; ++j)
                    if (outputs[j].defined()
                        && outputs[j][i].argmax().item<std::int64_t>() == e.trueClass)
                        e.fixedAtStage = j;
                pics.hardErrors.errors.push_back(e);
                thumbs.push_back(testImage(i));
            }
            pics.hardErrors.thumbnails = imageTiles(thumbs);
        }
    }

    // Projection and feature maps: block `stage`'s outputs on a seeded subset of the test images.
    const auto n = labels.size(0);
    const auto perm = data::epochPermutation(n, spec.recipe.seed, 0);
    const auto m = std::min<std::int64_t>(n, kProjectionPoints);
    std::vector<std::int64_t> subset(perm.begin(), perm.begin() + m);
    const auto topts = transformOptions(false);
    std::vector<torch::Tensor> pooled;
    std::vector<torch::Tensor> mapInputs;
    std::vector<std::int64_t> mapSamples;
    std::vector<bool> classSeen(std::size_t(std::max(classes, 0)), false);
    {
        c10::InferenceMode guard;
        net->blocks[stage]->eval();
        for (std::int64_t s = 0; s < m; s += 256) {
            std::vector<torch::Tensor> batch;
            for (std::int64_t r = s; r < std::min(m, s + 256); ++r) {
                const auto i = subset[std::size_t(r)];
                auto img = testImage(i);
                const auto label = labels[i].item<std::int64_t>();
                if (label >= 0 && label < classes && !classSeen[std::size_t(label)]) {
                    classSeen[std::size_t(label)] = true;
                    mapSamples.push_back(i);
                    mapInputs.push_back(img);
                }
                batch.push_back(data::transformImage(img, topts, spec.recipe.seed, 0, i));
            }
            auto x = toDevice(torch::stack(batch));
            detail::AutocastScope ac(amp, ampType, cuda);
            auto f = net->blocks[stage]->forward(prefix(x, stage));
            pooled.push_back(torch::adaptive_avg_pool2d(f.to(torch::kFloat32), {2, 2})
                                 .flatten(1)
                                 .to(torch::kCPU));
        }
    }
    auto &p = pics.projection;
    p.seed = spec.recipe.seed;
    p.samples = subset;
    auto subLabels = labels.index_select(0, torch::tensor(subset, torch::kInt64)).contiguous();
    p.labels.assign(subLabels.data_ptr<std::int64_t>(), subLabels.data_ptr<std::int64_t>() + m);
    if (!pooled.empty())
        pca(torch::cat(pooled), p);
    for (const auto &probe : summary.probes)
        if (probe.layer == stage)
            p.probeAccuracy = probe.testAcc; // the latest probe of this layer

    // Feature maps of one test image per class: the most active channels of block `stage`.
    if (!mapSamples.empty()) {
        auto &fm = pics.maps;
        fm.samples = mapSamples;
        for (auto i : mapSamples)
            fm.labels.push_back(static_cast<int>(labels[i].item<std::int64_t>()));
        fm.inputs = imageTiles(mapInputs);
        std::vector<torch::Tensor> batch;
        for (std::size_t r = 0; r < mapSamples.size(); ++r)
            batch.push_back(
                data::transformImage(mapInputs[r], topts, spec.recipe.seed, 0, mapSamples[r]));
        torch::Tensor f;
        {
            c10::InferenceMode guard;
            detail::AutocastScope ac(amp, ampType, cuda);
            f = net->blocks[stage]
                    ->forward(prefix(toDevice(torch::stack(batch)), stage))
                    .to(torch::kCPU, torch::kFloat32)
                    .contiguous();
        }
        const auto per = std::min<std::int64_t>(kMapsPerSample, f.size(1));
        fm.perSample = static_cast<int>(per);
        auto top = std::get<1>(f.mean({2, 3}).topk(per, 1)); // N x per channel indices
        std::vector<torch::Tensor> maps;
        for (std::int64_t r = 0; r < f.size(0); ++r) {
            std::vector<int> chans;
            for (std::int64_t q = 0; q < per; ++q)
                chans.push_back(static_cast<int>(top[r][q].item<std::int64_t>()));
            fm.channels.push_back(chans);
            maps.push_back(f[r].index_select(0, top[r]).unsqueeze(1)); // per x 1 x H x W
        }
        auto all = torch::cat(maps);
        if (std::max(all.size(2), all.size(3)) > kMaxMapSide)
            all = torch::adaptive_avg_pool2d(all,
                                             {std::min<std::int64_t>(all.size(2), kMaxMapSide),
                                              std::min<std::int64_t>(all.size(3), kMaxMapSide)});
        fm.maps = scaledTiles(all);
    }
    if (stage == 0)
        pics.filters = firstLayerFilters();
    pics.seconds = detail::secondsSince(t0);
    return pics;
}

void Trainer::Impl::reportPictures(int stage)
{
    if (!opt.pictures)
        return;
    StagePictures pics;
    try {
        pics = computePictures(stage, headTestOutputs, true);
    } catch (const detail::Stop &stop) {
        // Pictures are a view of the run, not the run: one that cannot be drawn (a test image
        // that no longer decodes) is reported and the training goes on.
        log(LogLevel::Warning, "stage " + std::to_string(stage + 1)
                                   + ": its pictures were not computed: " + stop.message);
        return;
    }
    // Errors of earlier stages that this stage's head gets right.
    const auto &out = headTestOutputs[stage];
    for (auto &earlier : hardErrors) {
        for (auto &e : earlier.second)
            if (e.fixedAtStage < 0 && out[e.sample].argmax().item<std::int64_t>() == e.trueClass) {
                e.fixedAtStage = stage;
                pics.fixes.push_back({earlier.first, e.sample, stage});
            }
    }
    hardErrors.emplace_back(stage, pics.hardErrors.errors);
    obs->picturesReady(pics);
}

std::vector<StagePictures> Trainer::Impl::picturesOfStages(int stages)
{
    std::vector<torch::Tensor> outputs(static_cast<std::size_t>(stages));
    bool ensemble = true;
    if (opt.mode == TrainMode::EndToEnd) {
        // Only the last head is trained: the inner stages get features, not confusions.
        auto [logits, losses] = evaluateHeads(stages - 1, false);
        const bool softmax = spec.recipe.ensemble == EnsembleMode::Softmax;
        outputs.back() = softmax ? torch::softmax(logits.back(), 1) : logits.back();
        ensemble = false;
    } else {
        recomputeHeadOutputs(stages);
        outputs = headTestOutputs;
    }
    std::vector<StagePictures> all;
    for (int j = 0; j < stages; ++j) {
        checkControls();
        all.push_back(computePictures(j, outputs, ensemble));
        obs->picturesReady(all.back());
    }
    return all;
}

Result<std::vector<StagePictures>> picturesOfRun(const std::string &runDir, const Spec &spec,
                                                 TrainMode mode, const std::string &device,
                                                 TrainObserver *observer)
{
    std::vector<StagePictures> pictures;
    auto r = Trainer::Impl::onStoredRun(
        runDir, spec, mode, device, observer, "pictures",
        [&](Trainer::Impl &impl, int stages) { pictures = impl.picturesOfStages(stages); });
    if (!r)
        return r.error();
    return pictures;
}

} // namespace lw
