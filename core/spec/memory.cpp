// Whether training a spec can fit this machine: a lower bound of the memory it needs, checked
// before the network is built (a width of 65,536 would otherwise try to allocate 772 GB).

#include "core/spec/spec.h"

#include "core/util/format.h"

#include <unistd.h>

#include <algorithm>
#include <limits>
#include <string>

namespace lw {

namespace {

std::int64_t mulSat(std::int64_t a, std::int64_t b)
{
    std::int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r))
        return std::numeric_limits<std::int64_t>::max();
    return r;
}

} // namespace

std::int64_t MemoryEstimate::totalBytes() const
{
    std::int64_t r = 0;
    if (__builtin_add_overflow(parameterBytes, activationBytes, &r))
        return std::numeric_limits<std::int64_t>::max();
    return r;
}

MemoryEstimate estimateTrainingMemory(const Spec &spec, const SpecSummary &summary)
{
    MemoryEstimate m;
    m.parameterBytes = mulSat(summary.totalParams, 4);
    for (std::size_t i = 0; i < summary.stages.size(); ++i) {
        const std::int64_t batch
            = mulSat(summary.stages[i].activationBytes, std::max(spec.recipe.batchSize, 1));
        if (batch > m.activationBytes) {
            m.activationBytes = batch;
            m.largestStage = static_cast<int>(i);
        }
    }
    return m;
}

std::int64_t physicalMemoryBytes()
{
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long pageSize = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || pageSize <= 0)
        return 0;
    return mulSat(pages, pageSize);
}

Result<void> checkTrainingFits(const Spec &spec, std::int64_t availableBytes,
                               const std::string &device)
{
    auto summary = summarizeSpec(spec);
    if (!summary)
        return summary.error();
    if (availableBytes <= 0)
        availableBytes = physicalMemoryBytes();
    if (availableBytes <= 0)
        return {}; // unknown: the allocator will say
    const MemoryEstimate m = estimateTrainingMemory(spec, *summary);
    if (m.totalBytes() <= availableBytes)
        return {};
    // Stages are numbered from 1 in prose.
    return fail("this network cannot be trained on this machine: it needs at least "
                + formatBytes(m.totalBytes()) + " of memory (" + formatBytes(m.parameterBytes)
                + " for " + formatGrouped(summary->totalParams) + " fp32 parameters, "
                + formatBytes(m.activationBytes) + " for one batch of "
                + std::to_string(spec.recipe.batchSize) + " at the output of stage "
                + std::to_string(m.largestStage + 1) + "), and "
                + (device.empty()
                       ? "this machine has " + formatBytes(availableBytes) + " of RAM"
                       : device + " has " + formatBytes(availableBytes) + " of GPU memory"));
}

CheckpointEstimate estimateCheckpointDisk(const SpecSummary &summary, int stageFiles)
{
    CheckpointEstimate e;
    std::int64_t params = summary.trunkParams;
    for (const auto &st : summary.stages)
        if (__builtin_add_overflow(params, st.headParams, &params))
            params = std::numeric_limits<std::int64_t>::max();
    e.networkBytes = mulSat(params, 4);
    e.stageFiles = std::max(stageFiles, 0);
    e.peakBytes = mulSat(e.networkBytes, std::int64_t(e.stageFiles) + 2);
    return e;
}

Result<void> checkCheckpointsFit(const Spec &spec, int stageFiles, std::int64_t freeBytes,
                                 const std::string &folder, std::int64_t alreadyThere)
{
    if (freeBytes < 0)
        return {}; // unknown: the writes will say
    auto summary = summarizeSpec(spec);
    if (!summary)
        return summary.error();
    const CheckpointEstimate e = estimateCheckpointDisk(*summary, stageFiles);
    const std::int64_t needed
        = std::max<std::int64_t>(e.peakBytes - std::max<std::int64_t>(alreadyThere, 0), 0);
    if (needed <= freeBytes)
        return {};
    std::string what = std::to_string(e.stageFiles) + " stage checkpoint"
                       + (e.stageFiles == 1 ? "" : "s")
                       + " and two rolling ones while one replaces the other, "
                       + formatBytes(e.networkBytes) + " each";
    if (alreadyThere > 0)
        what += "; " + formatBytes(alreadyThere) + " of them already written";
    return fail("this run's checkpoints would not fit on the disk: they need at least "
                + formatBytes(needed) + " more (" + what + "), and '" + folder + "' has "
                + formatBytes(freeBytes)
                + " free; free some space or store the runs elsewhere (--db)");
}

} // namespace lw
