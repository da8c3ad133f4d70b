#pragma once
// The IDX and CIFAR targets: the dataset opened from the scratch folder the input was written
// to, both the quick probe and the full read, whose sizes must agree.
#include "core/data/loader_p.h"
#include "tests/fuzz/fuzz_util.h"

namespace lw::fuzz {

inline void openDataset(const DatasetOptions &options)
{
    const auto probed = probeDataset(options);
    const auto dataset = data::Dataset::open(options);
    if (!dataset)
        return;
    if (!probed)
        broken("Dataset::open accepts what probeDataset refused: " + probed.message());
    const auto &info = (*dataset)->info();
    for (const auto &split : {(*dataset)->train(), (*dataset)->test()}) {
        check(split->size() > 0, "an opened split is empty");
        for (const std::int64_t i : {std::int64_t(0), split->size() - 1}) {
            const auto label = split->label(i);
            check(label >= 0 && label < info.classes, "a label is out of range");
            const auto image = split->image(i, 0);
            check(image && image->numel() == std::int64_t(info.channels) * info.height * info.width,
                  "an image's size disagrees with the dataset's");
        }
    }
}

} // namespace lw::fuzz
