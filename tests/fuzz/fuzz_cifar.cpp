// The CIFAR binary reader: the input's first byte picks CIFAR-10 (0), CIFAR-100 fine (1) or
// coarse (2); the rest holds its files cut at "LWFZ": data_batch_1..5, test_batch and
// batches.meta.txt, or train.bin, test.bin and the label names.
#include "tests/fuzz/fuzz_data.h"

#include <array>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    static const std::array<std::vector<std::string>, 2> kFiles{
        std::vector<std::string>{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                 "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin",
                                 "batches.meta.txt"},
        std::vector<std::string>{"train.bin", "test.bin", "fine_label_names.txt",
                                 "coarse_label_names.txt"}};
    if (size == 0)
        return 0;
    const int kind = data[0] % 3;
    const auto &files = kFiles[kind == 0 ? 0 : 1];
    const auto dir = lw::fuzz::scratch();
    const auto parts = lw::fuzz::splitParts(lw::fuzz::text(data + 1, size - 1), files.size());
    for (std::size_t i = 0; i < parts.size(); ++i)
        lw::fuzz::writeFile(dir / files[i], parts[i]);
    lw::DatasetOptions options;
    options.name = kind == 0 ? "cifar10" : "cifar100";
    options.cifar100Coarse = kind == 2;
    options.path = dir.string();
    lw::fuzz::openDataset(options);
    return 0;
}
