// Typed history: the store's tidy metric rows turned back into the engine's EpochMetrics, in
// one place, so that no view, export or command reshapes rows itself.
#include "core/store/runstore.h"

#include <cmath>
#include <limits>
#include <string_view>

namespace lw {

namespace {

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

EpochMetrics emptyEpoch(const MetricRow &row)
{
    EpochMetrics e;
    e.stage = row.stage;
    e.epoch = row.epoch;
    e.step = row.step;
    e.trainLoss = e.trainAcc = e.testLoss = e.testAcc = e.ensembleAcc = kMissing;
    e.lr = e.imagesPerSecond = e.seconds = kMissing;
    e.testTop5 = e.trainImages = e.trainSteps = kMissing;
    return e;
}

/// The field of EpochMetrics a (split, metric) row holds; null for one this version does not know.
/// lr and images_per_second are written under "train"; "epoch" is read too (older notes).
double *field(EpochMetrics &e, std::string_view split, std::string_view metric)
{
    if (metric == "top5")
        return split == "test" ? &e.testTop5 : nullptr;
    if (metric == "loss")
        return split == "train" ? &e.trainLoss : split == "test" ? &e.testLoss : nullptr;
    if (metric == "acc")
        return split == "train"      ? &e.trainAcc
               : split == "test"     ? &e.testAcc
               : split == "ensemble" ? &e.ensembleAcc
                                     : nullptr;
    if (split != "train" && split != "epoch")
        return nullptr;
    if (metric == "lr")
        return &e.lr;
    if (metric == "images_per_second")
        return &e.imagesPerSecond;
    if (metric == "seconds")
        return &e.seconds;
    if (metric == "images")
        return &e.trainImages;
    if (metric == "steps")
        return &e.trainSteps;
    return nullptr;
}

} // namespace

std::vector<EpochMetrics> RunHistory::epochsOf(int stage) const
{
    std::vector<EpochMetrics> out;
    for (const auto &e : epochs)
        if (e.stage == stage)
            out.push_back(e);
    return out;
}

Result<EpochHistory> RunStore::epochsSince(std::int64_t id, std::int64_t cursor) const
{
    auto rows = metrics(id, cursor);
    if (!rows)
        return rows.error();
    EpochHistory out;
    out.cursor = cursor;
    for (const MetricRow &row : *rows) {
        // The rows of one epoch are written together, one after another.
        if (out.epochs.empty() || out.epochs.back().stage != row.stage
            || out.epochs.back().epoch != row.epoch || out.epochs.back().step != row.step)
            out.epochs.push_back(emptyEpoch(row));
        if (double *f = field(out.epochs.back(), row.split, row.metric))
            *f = row.value;
        out.cursor = row.rowId;
    }
    return out;
}

Result<RunHistory> RunStore::history(std::int64_t id) const
{
    auto detail = getRun(id);
    if (!detail)
        return detail.error();
    auto epochs = epochsSince(id, 0);
    if (!epochs)
        return epochs.error();
    RunHistory h;
    h.epochs = std::move(epochs->epochs);
    h.cursor = epochs->cursor;
    h.stages = std::move(detail->stages);
    h.probes = std::move(detail->probes);
    return h;
}

} // namespace lw
