// The IDX reader (MNIST-style, plain or gzip): the input holds the four files train-images,
// train-labels, t10k-images, t10k-labels, cut at "LWFZ" (see splitParts).
#include "tests/fuzz/fuzz_data.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    static const char *const kFiles[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    const auto dir = lw::fuzz::scratch();
    const auto parts = lw::fuzz::splitParts(lw::fuzz::text(data, size), 4);
    for (std::size_t i = 0; i < parts.size(); ++i)
        lw::fuzz::writeFile(
            dir / (std::string(kFiles[i]) + (lw::fuzz::isGzip(parts[i]) ? ".gz" : "")), parts[i]);
    lw::DatasetOptions options;
    options.name = "mnist";
    options.path = dir.string();
    lw::fuzz::openDataset(options);
    return 0;
}
