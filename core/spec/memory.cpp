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

Result<void> checkTrainingFits(const Spec &spec, std::int64_t availableBytes)
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
                + std::to_string(m.largestStage + 1) + "), and this machine has "
                + formatBytes(availableBytes) + " of RAM");
}

} // namespace lw
