// Stage inputs: the frozen prefix (stem and BN-folded finished blocks), the feature cache of its
// outputs, and StageInput, which feeds a stage from either.
#include "core/train/trainer_p.h"
#include "core/util/format.h"

#include <filesystem>
#include <unistd.h>

namespace lw {

using detail::Stop;
namespace fs = std::filesystem;

torch::Tensor Trainer::Impl::prefix(const torch::Tensor &images, int stage)
{
    torch::NoGradGuard guard;
    detail::AutocastScope ac(amp, ampType, cuda);
    auto x = net->stem->forward(images);
    for (int j = 0; j < stage; ++j)
        x = frozenBlock(j)->forward(x);
    return x;
}

model::StageBlock &Trainer::Impl::frozenBlock(int j)
{
    while (static_cast<int>(folded.size()) <= j) {
        const int k = static_cast<int>(folded.size());
        net->blocks[k]->eval();
        auto f = model::foldBatchNorm(net->blocks[k], spec.stages[k], costs.stages[k].in);
        if (channelsLast)
            toChannelsLast(*f);
        folded.push_back(f);
    }
    return folded[j];
}

std::int64_t Trainer::Impl::autoCacheBudget()
{
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long size = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || size <= 0)
        return 4ll << 30;
    return std::int64_t(pages) * size / 10 * 4;
}

std::string Trainer::Impl::spillDir() const
{
    if (!folder.empty())
        return folder.path();
    return fs::temp_directory_path().string();
}

void Trainer::Impl::buildCache(int stage)
{
    if (cacheStage == stage)
        return;
    const auto t0 = activeNow();
    auto in = costs.stages[stage].in;
    std::vector<std::int64_t> shape{in.c, in.h, in.w};
    const std::int64_t totalBudget
        = opt.cacheBudgetBytes > 0 ? opt.cacheBudgetBytes : autoCacheBudget();
    std::int64_t budget = totalBudget;
    std::unique_ptr<detail::FeatureCache> newTrain, newTest;
    // The test cache is small next to the train cache: it gets its share of the budget first.
    const auto dtype = cacheType();
    const std::int64_t perSample
        = std::int64_t(in.c) * in.h * in.w * std::int64_t(c10::elementSize(dtype));
    // A multi-process run caches this rank's rows only.
    const std::int64_t trainRows = dataParallel() ? trainShard.size(0) : trainLabels.size(0);
    const std::int64_t testRows = dataParallel() ? testShard.size(0) : testLabels.size(0);
    const std::int64_t testBytes = perSample * testRows;
    auto tc = detail::FeatureCache::create(
        testRows, shape, std::min<std::int64_t>(budget, testBytes), spillDir(), dtype);
    if (!tc)
        throw Stop{RunStatus::Failed, tc.message()};
    newTest = std::move(*tc);
    budget -= newTest->mapped() ? 0 : newTest->bytes();
    auto rc = detail::FeatureCache::create(trainRows, shape, budget, spillDir(), dtype);
    if (!rc)
        throw Stop{RunStatus::Failed, rc.message()};
    newTrain = std::move(*rc);

    // Building from the previous stage's cache runs one block instead of the whole prefix,
    // but holds both caches at once. When both would not fit the budget, free the old one
    // first and run the prefix on the images: peak memory is then the new cache alone.
    auto inRam = [](const std::unique_ptr<detail::FeatureCache> &c) {
        return c && !c->mapped() ? c->bytes() : std::int64_t(0);
    };
    if (inRam(trainCache) + inRam(testCache) + inRam(newTrain) + inRam(newTest) > totalBudget) {
        trainCache.reset();
        testCache.reset();
        cacheStage = -1;
        log(LogLevel::Info, "feature cache: the old and new caches together exceed the "
                            "budget; freeing the old one and recomputing from the images");
    }
    fillCache(*newTrain, trainCache.get(), /*train=*/true, stage);
    fillCache(*newTest, testCache.get(), /*train=*/false, stage);
    trainCache = std::move(newTrain);
    testCache = std::move(newTest);
    cacheStage = stage;
    log(LogLevel::Info,
        "feature cache: on, stage " + std::to_string(stage + 1) + " inputs " + std::to_string(in.c)
            + "x" + std::to_string(in.h) + "x" + std::to_string(in.w)
            + (cacheType() == torch::kBFloat16 ? " bf16, " : ", ")
            + formatBytes(trainCache->bytes() + testCache->bytes())
            + (trainCache->mapped() ? " (train split memory-mapped on disk)" : " in RAM")
            + ", built in " + formatDuration(activeSince(t0)));
}

torch::ScalarType Trainer::Impl::cacheType() const
{
    return amp && ampType == at::kBFloat16 ? torch::kBFloat16 : torch::kFloat32;
}

void Trainer::Impl::fillCache(detail::FeatureCache &dst, detail::FeatureCache *prev, bool train,
                              int stage)
{
    torch::NoGradGuard guard;
    detail::AutocastScope ac(amp, ampType, cuda);
    auto &out = dst.tensor();
    const std::int64_t n = out.size(0);
    const int chunk = std::max(256, spec.recipe.testBatchSize);
    if (prev && cacheStage == stage - 1) {
        auto &block = frozenBlock(stage - 1);
        for (std::int64_t s = 0; s < n; s += chunk) {
            checkControls();
            const auto e = std::min(n, s + chunk);
            auto x = toDevice(prev->tensor().slice(0, s, e));
            out.slice(0, s, e).copy_(block->forward(x).to(torch::kCPU));
        }
        return;
    }
    auto loader = makeLoader(train, /*shuffle=*/false, chunk, /*shard=*/true);
    loader->startEpoch(0);
    data::Batch b;
    for (int j = 0; j < stage; ++j)
        net->blocks[j]->eval();
    std::int64_t row = 0; // a rank's shard arrives in the order of its rows
    while (loader->next(b)) {
        checkControls();
        auto x = prefix(toDevice(b.images), stage).to(torch::kCPU);
        auto idx = dataParallel() ? torch::arange(row, row + x.size(0), torch::kInt64) : b.indices;
        row += x.size(0);
        out.index_copy_(0, idx, x.to(out.scalar_type()).contiguous());
    }
    // Undecodable images are left out when the dataset is opened; one that fails now changed
    // since. Its row would stay all zeros and be trained on as an image of its class, so stop.
    if (const auto skipped = loader->skipped(); skipped > 0)
        throw Stop{RunStatus::Failed,
                   "feature cache: " + std::to_string(skipped) + " " + (train ? "training" : "test")
                       + " image(s) that decoded when the dataset was opened cannot be decoded now "
                         "(changed during the run?; the log names them); their cached features "
                         "would be all zeros"};
}

Trainer::Impl::StageInput::StageInput(Impl &impl, int stage, bool train, int batch)
    : m_impl(impl)
    , m_stage(stage)
    , m_train(train)
    , m_batch(batch)
{
    m_cache = impl.useCache ? (train ? impl.trainCache.get() : impl.testCache.get()) : nullptr;
    if (!m_cache)
        m_loader = impl.makeLoader(train, train, batch, /*shard=*/true);
    m_labels = train ? impl.trainLabels : impl.testLabels;
    if (impl.dataParallel()) { // the cache holds this rank's rows of the split
        m_rows = train ? impl.trainShard : impl.testShard;
        m_labels = m_labels.index_select(0, m_rows);
    }
}

std::int64_t Trainer::Impl::StageInput::batches() const
{
    if (m_loader)
        return m_loader->batchesPerEpoch();
    return (m_labels.size(0) + m_batch - 1) / m_batch;
}

void Trainer::Impl::StageInput::start(int epochKey)
{
    m_pos = 0;
    if (m_loader) {
        m_loader->startEpoch(epochKey);
        return;
    }
    const auto n = m_labels.size(0);
    if (m_train) {
        auto perm = data::epochPermutation(n, m_impl.spec.recipe.seed, epochKey);
        m_order = torch::from_blob(perm.data(), {n}, torch::kInt64).clone();
    } else {
        m_order = torch::Tensor();
    }
}

bool Trainer::Impl::StageInput::next(torch::Tensor &x, torch::Tensor &y, torch::Tensor *indices)
{
    if (m_loader) {
        data::Batch b;
        if (!m_loader->next(b))
            return false;
        x = m_impl.prefix(m_impl.toDevice(b.images), m_stage);
        y = b.labels.to(m_impl.device, m_impl.cuda);
        m_indices = b.indices;
        if (indices)
            *indices = m_indices;
        return true;
    }
    const auto n = m_labels.size(0);
    if (m_pos >= n)
        return false;
    const auto e = std::min(n, m_pos + m_batch);
    if (m_order.defined()) {
        auto idx = m_order.slice(0, m_pos, e);
        x = m_cache->tensor().index_select(0, idx);
        y = m_labels.index_select(0, idx);
        m_indices = m_rows.defined() ? m_rows.index_select(0, idx) : idx;
    } else {
        x = m_cache->tensor().slice(0, m_pos, e);
        y = m_labels.slice(0, m_pos, e);
        m_indices
            = m_rows.defined() ? m_rows.slice(0, m_pos, e) : torch::arange(m_pos, e, torch::kInt64);
    }
    if (indices)
        *indices = m_indices;
    x = m_impl.toDevice(x);
    y = y.to(m_impl.device, m_impl.cuda);
    m_pos = e;
    return true;
}

} // namespace lw
