// What a stage learned, in pictures (core/events/pictures.h), from the heads' test outputs the
// evaluation already holds and the block's outputs on a seeded subset of the test images (read
// from the feature cache during a greedy run, else one forward pass): confusion matrices, a PCA
// of the probes' pooled features, first-layer filters, feature maps and the most confident
// errors; and one test image through every stage of a stored run (RunImages).
#include "core/model/model_p.h"
#include "core/train/probe_p.h"
#include "core/train/trainer_p.h"

#include <algorithm>
#include <cmath>
#include <tuple>

namespace lw {

namespace {

constexpr std::int64_t kProjectionPoints = 2000;
constexpr int kHardErrors = 16;
constexpr int kMapsPerSample = 8;
constexpr int kImageMaps = 16; ///< channels per stage for one picked test image
constexpr int kMaxFilters = 64;
constexpr int kMaxThumbSide = 64;
constexpr int kMaxMapSide = 32;

/// Rows of `outputs` that hold a prediction: the evaluation leaves a test image that could not
/// be decoded out with a NaN row (core/train/evaluation.cpp).
torch::Tensor validRows(const torch::Tensor &outputs)
{
    return outputs.isnan().any(1).logical_not();
}

/// Counts (true class, argmax) over the rows that hold a prediction, so the matrix sums to the
/// images evaluated and its diagonal is the evaluation's accuracy.
ConfusionMatrix confusionOf(const torch::Tensor &outputs, const torch::Tensor &labels, int classes)
{
    ConfusionMatrix m;
    m.classes = classes;
    const auto keep = validRows(outputs).nonzero().squeeze(1);
    const auto predicted = outputs.index_select(0, keep).argmax(1);
    auto counts
        = torch::bincount(labels.index_select(0, keep).to(torch::kInt64) * classes + predicted, {},
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
    // The n x D product in float32 (half the time of float64, and n x D x D is most of the
    // cost); the small D x D decomposition in float64.
    auto x = features.to(torch::kFloat32);
    x = x - x.to(torch::kFloat64).mean(0, true).to(torch::kFloat32);
    const auto n = x.size(0);
    if (n < 2 || x.size(1) < 2)
        return;
    auto cov = x.t().mm(x).to(torch::kFloat64) / double(n - 1);
    torch::Tensor values, vectors;
    {
        // On one thread: at D <= a few thousand, LAPACK's threads mostly wait on each other
        // (measured 4 to 8 times slower with 2 threads on a busy 2-core machine).
        struct OneThread
        {
            int threads = at::get_num_threads();
            OneThread() { at::set_num_threads(1); }
            ~OneThread() { at::set_num_threads(threads); }
        } oneThread;
        std::tie(values, vectors) = torch::linalg::eigh(cov, "L"); // ascending
    }
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
    auto pts = x.mm(axes.to(torch::kFloat32)).contiguous();
    const float *data = pts.data_ptr<float>();
    p.x.resize(std::size_t(n));
    p.y.resize(std::size_t(n));
    for (std::int64_t i = 0; i < n; ++i) {
        p.x[std::size_t(i)] = data[2 * i];
        p.y[std::size_t(i)] = data[2 * i + 1];
    }
}

/// The `per` most active channels (by mean) of one image's block output `f` (C x H x W):
/// their indices and the maps as per x 1 x H' x W' floats, pooled to at most kMaxMapSide.
std::pair<std::vector<int>, torch::Tensor> topChannels(const torch::Tensor &f, int per)
{
    c10::InferenceMode guard;
    auto x = f.to(torch::kCPU, torch::kFloat32);
    const auto k = std::min<std::int64_t>(per, x.size(0));
    auto top = std::get<1>(x.mean({1, 2}).topk(k)).contiguous();
    std::vector<int> channels(top.data_ptr<std::int64_t>(), top.data_ptr<std::int64_t>() + k);
    auto maps = x.index_select(0, top).unsqueeze(1);
    if (std::max(maps.size(2), maps.size(3)) > kMaxMapSide)
        maps
            = torch::adaptive_avg_pool2d(maps, {std::min<std::int64_t>(maps.size(2), kMaxMapSide),
                                                std::min<std::int64_t>(maps.size(3), kMaxMapSide)});
    return {channels, maps};
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

const std::vector<std::int64_t> &Trainer::Impl::pictureSubset()
{
    const auto n = testLabels.size(0);
    if (pictureRows.empty() && n > 0) {
        const auto perm = data::epochPermutation(n, spec.recipe.seed, 0);
        pictureRows.assign(perm.begin(),
                           perm.begin() + std::min<std::int64_t>(n, kProjectionPoints));
    }
    return pictureRows;
}

const torch::Tensor &Trainer::Impl::pictureSlots()
{
    if (!pictureSlotOf.defined()) {
        const auto &rows = pictureSubset();
        pictureSlotOf = torch::full({testLabels.size(0)}, -1, torch::kInt64);
        if (!rows.empty())
            pictureSlotOf.index_copy_(
                0, torch::tensor(rows, torch::kInt64),
                torch::arange(static_cast<std::int64_t>(rows.size()), torch::kInt64));
    }
    return pictureSlotOf;
}

torch::Tensor Trainer::Impl::testFeatures(int stage, std::vector<std::int64_t> &rows)
{
    // The folded copy is made (once) outside inference mode: its weights are ordinary tensors.
    model::StageBlock block{nullptr};
    if (useCache && cacheStage == stage)
        block = frozenBlock(stage);
    c10::InferenceMode guard;
    detail::AutocastScope ac(amp, ampType, cuda);
    // A greedy run's cache holds every test image's inputs of block `cacheStage` (one process):
    // block `stage`'s outputs themselves right after the next stage's cache was built, or its
    // inputs at the last stage. Either way no image is decoded and the prefix does not run.
    if (useCache && !distributed() && testCache
        && (cacheStage == stage + 1 || cacheStage == stage)) {
        auto x = toDevice(testCache->tensor().index_select(0, torch::tensor(rows, torch::kInt64)));
        if (cacheStage == stage)
            x = block->forward(x);
        return x.to(torch::kFloat32);
    }
    const auto topts = transformOptions(false);
    std::vector<torch::Tensor> batch;
    std::vector<std::int64_t> kept;
    for (auto i : rows) {
        torch::Tensor img;
        try {
            img = testImage(i);
        } catch (const detail::Stop &) {
            continue; // left out, as the evaluation leaves it out
        }
        batch.push_back(data::transformImage(img, topts, spec.recipe.seed, 0, i));
        kept.push_back(i);
    }
    rows = kept;
    if (batch.empty())
        return {};
    net->blocks[stage]->eval();
    return net->blocks[stage]
        ->forward(prefix(toDevice(torch::stack(batch)), stage))
        .to(torch::kFloat32);
}

StagePictures Trainer::Impl::computePictures(int stage, const std::vector<torch::Tensor> &outputs,
                                             bool ensembleOfHeads)
{
    const auto t0 = Clock::now();
    StagePictures pics;
    pics.stage = stage;
    pics.classNames = dataset->info().classNames;
    const int classes = spec.input.classes;
    const auto labels = testLabels.contiguous();
    const std::int64_t *label = labels.data_ptr<std::int64_t>();
    const bool softmax = spec.recipe.ensemble == EnsembleMode::Softmax;
    const int stages = static_cast<int>(outputs.size());

    // Confusion matrices and hard errors: from the heads' test outputs, no new forward pass.
    if (stage < stages && outputs[stage].defined()) {
        const auto &out = outputs[stage];
        pics.head = confusionOf(out, labels, classes);
        if (ensembleOfHeads) {
            auto w = detail::ensembleWeights(stage + 1);
            auto ens = out * w[stage];
            for (int i = 0; i < stage; ++i)
                ens = ens + outputs[i] * w[i];
            pics.ensemble = confusionOf(ens, labels, classes);
        } else {
            pics.ensemble = pics.head;
        }
        auto probs = softmax ? out : torch::softmax(out, 1);
        auto [conf, pred] = probs.max(1);
        auto wrong = pred.ne(labels).logical_and(validRows(out));
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
                e.trueClass = static_cast<int>(label[i]);
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

    // Projection and feature maps: block `stage`'s outputs on a seeded subset of the test
    // images, pooled 2x2 for the PCA (kept by the stage's last evaluation when it ran in this
    // process, else one pass); the first image of each class in the subset shows its maps.
    const auto &all = pictureSubset();
    const auto m = static_cast<std::int64_t>(all.size());
    const bool fromEval
        = evalPooledStage == stage && evalPooled.defined() && evalPooled.size(0) == m;
    std::vector<torch::Tensor> pooled;
    std::vector<std::int64_t> subset;
    std::vector<torch::Tensor> mapFeatures, mapInputs;
    std::vector<std::int64_t> mapSamples;
    std::vector<bool> classSeen(std::size_t(std::max(classes, 0)), false);
    for (std::int64_t s = 0; s < m; s += 256) {
        const auto e = std::min(m, s + 256);
        std::vector<std::int64_t> rows(all.begin() + s, all.begin() + e);
        torch::Tensor f;
        if (fromEval) {
            // Rows the evaluation left out (an image that no longer decodes) are NaN.
            auto chunk = evalPooled.slice(0, s, e);
            auto valid = validRows(chunk).contiguous();
            const bool *ok = valid.data_ptr<bool>();
            std::vector<std::int64_t> kept;
            for (std::size_t r = 0; r < rows.size(); ++r)
                if (ok[r])
                    kept.push_back(rows[r]);
            if (std::int64_t(kept.size()) < chunk.size(0))
                chunk = chunk.index_select(0, valid.nonzero().squeeze(1));
            rows = kept;
            if (!rows.empty())
                pooled.push_back(chunk);
        } else {
            f = testFeatures(stage, rows);
            if (!rows.empty()) {
                c10::InferenceMode guard;
                pooled.push_back(torch::adaptive_avg_pool2d(f, {2, 2}).flatten(1).to(torch::kCPU));
            }
        }
        subset.insert(subset.end(), rows.begin(), rows.end());
        for (std::size_t r = 0; r < rows.size(); ++r) {
            const auto c = label[rows[r]];
            if (c < 0 || c >= classes || classSeen[std::size_t(c)])
                continue;
            torch::Tensor img;
            try {
                img = testImage(rows[r]);
            } catch (const detail::Stop &) {
                continue; // another image of its class
            }
            classSeen[std::size_t(c)] = true;
            mapSamples.push_back(rows[r]);
            mapInputs.push_back(img);
            if (f.defined())
                mapFeatures.push_back(f[std::int64_t(r)].to(torch::kCPU).clone());
        }
    }
    if (fromEval && !mapSamples.empty()) {
        // A small pass for the few images whose whole maps are shown.
        auto rows = mapSamples;
        auto f = testFeatures(stage, rows).to(torch::kCPU);
        if (rows.size() != mapSamples.size()) // decoded a moment ago; changed since?
            throw detail::Stop{RunStatus::Failed, "pictures: a test image stopped decoding"};
        for (std::int64_t r = 0; r < f.size(0); ++r)
            mapFeatures.push_back(f[r]);
    }
    auto &p = pics.projection;
    p.seed = spec.recipe.seed;
    p.samples = subset;
    for (auto i : subset)
        p.labels.push_back(static_cast<int>(label[i]));
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
            fm.labels.push_back(static_cast<int>(label[i]));
        fm.inputs = imageTiles(mapInputs);
        std::vector<torch::Tensor> maps;
        for (const auto &f : mapFeatures) {
            auto [chans, tiles] = topChannels(f, kMapsPerSample);
            fm.perSample = static_cast<int>(chans.size());
            fm.channels.push_back(chans);
            maps.push_back(tiles);
        }
        fm.maps = scaledTiles(torch::cat(maps));
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

namespace lw {

ImageThroughStages Trainer::Impl::imageThroughStages(std::int64_t sample, int stages)
{
    ImageThroughStages out;
    out.sample = sample;
    out.testImages = testLabels.size(0);
    out.trueClass = static_cast<int>(testLabels[sample].item<std::int64_t>());
    out.classNames = dataset->info().classNames;
    const auto img = testImage(sample);
    out.image = imageTiles({img});
    c10::InferenceMode guard;
    net->eval();
    detail::AutocastScope ac(amp, ampType, cuda);
    auto x = net->stem->forward(
        toDevice(data::transformImage(img, transformOptions(false), spec.recipe.seed, 0, sample)
                     .unsqueeze(0)));
    for (int j = 0; j < stages; ++j) {
        x = net->blocks[j]->forward(x);
        ImageThroughStages::Stage st;
        st.stage = j;
        auto [chans, maps] = topChannels(x[0], kImageMaps);
        st.channels = chans;
        st.maps = scaledTiles(maps);
        // An end-to-end run trains its last head only: the inner ones predict nothing.
        if (opt.mode != TrainMode::EndToEnd || j == net->stages() - 1) {
            auto probs = torch::softmax(net->heads[j]->forward(x).to(torch::kFloat32), 1)[0];
            auto [conf, pred] = probs.max(0);
            st.predicted = static_cast<int>(pred.item<std::int64_t>());
            st.confidence = conf.item<double>();
        }
        out.stages.push_back(std::move(st));
    }
    return out;
}

RunImages::RunImages() = default;
RunImages::~RunImages() = default;

Result<std::unique_ptr<RunImages>> RunImages::open(const std::string &runDir, const Spec &spec,
                                                   TrainMode mode, const std::string &device)
{
    std::unique_ptr<RunImages> images(new RunImages);
    auto impl = Trainer::Impl::openStoredRun(runDir, spec, mode, device, nullptr,
                                             "show a test image", images->m_stages);
    if (!impl)
        return impl.error();
    images->d = std::move(*impl);
    return Result<std::unique_ptr<RunImages>>(std::move(images));
}

std::int64_t RunImages::testImages() const
{
    return d->testLabels.size(0);
}

int RunImages::stages() const
{
    return m_stages;
}

Result<ImageThroughStages> RunImages::image(std::int64_t sample)
{
    const auto n = testImages();
    if (sample < 0 || sample >= n)
        return fail("test image " + std::to_string(sample) + ": the run's test set has "
                    + std::to_string(n) + " images, numbered 0.." + std::to_string(n - 1));
    try {
        return d->imageThroughStages(sample, m_stages);
    } catch (const detail::Stop &stop) {
        return fail(stop.message);
    } catch (const c10::Error &e) {
        return fail("test image " + std::to_string(sample) + ": " + e.what_without_backtrace());
    } catch (const std::exception &e) {
        return fail("test image " + std::to_string(sample) + ": " + e.what());
    }
}

} // namespace lw
