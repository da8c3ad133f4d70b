#pragma once

// Internal to lw_data: what the dataset readers (idx.cpp, cifar.cpp, imagefolder.cpp,
// synthetic.cpp) share with Dataset::open and probeDataset (dataset.cpp): the fingerprint, the
// in-memory split, class-balanced limits and each reader's entry point.

#include "core/data/dataset.h"
#include "core/data/internal_p.h"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace lw::data::detail {

namespace fs = std::filesystem;

inline constexpr std::uint64_t kMaxInMemoryBytes = std::uint64_t(8) << 30;

/// FNV-1a, 64 bits: the fingerprint of what was read.
struct Fnv
{
    std::uint64_t h = 0xcbf29ce484222325ull;
    void add(const void *data, std::size_t n)
    {
        const auto *p = static_cast<const std::uint8_t *>(data);
        for (std::size_t i = 0; i < n; ++i) {
            h ^= p[i];
            h *= 0x100000001b3ull;
        }
    }
    void add(const std::string &s) { add(s.data(), s.size() + 1); }
    void add(std::int64_t v) { add(&v, sizeof v); }
    std::string hex() const
    {
        char buf[17];
        std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
        return buf;
    }
};

inline bool isDir(const fs::path &p)
{
    std::error_code ec;
    return fs::is_directory(p, ec);
}

inline bool isFile(const fs::path &p)
{
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

inline std::string joinPaths(const std::vector<fs::path> &paths)
{
    std::string s;
    for (std::size_t i = 0; i < paths.size(); ++i)
        s += (i ? ", " : "") + paths[i].string();
    return s;
}

/// A split held in memory as one uint8 tensor (IDX, CIFAR, synthetic).
class MemorySplit : public SplitBase
{
public:
    MemorySplit(LogFn log, torch::Tensor images, std::vector<std::int64_t> labels, int classes)
        : SplitBase(std::move(log))
        , m_images(std::move(images))
        , m_labels(std::move(labels))
        , m_classes(classes)
    {}
    std::int64_t size() const override { return std::int64_t(m_labels.size()); }
    int classes() const override { return m_classes; }
    std::int64_t label(std::int64_t i) const override { return m_labels[std::size_t(i)]; }
    Result<torch::Tensor> image(std::int64_t i, int) const override
    {
        if (i < 0 || i >= size())
            return fail("sample " + std::to_string(i) + " is out of range (0.."
                        + std::to_string(size() - 1) + ")");
        return m_images[i];
    }
    torch::Tensor allImages() const override { return m_images; }
    const std::vector<std::int64_t> &labels() const { return m_labels; }

private:
    torch::Tensor m_images; // uint8 N x C x H x W, contiguous
    std::vector<std::int64_t> m_labels;
    int m_classes;
};

/// Indices (ascending) of a fixed, seeded subset of `limit` samples with classes as equal as the
/// data allows; empty when no limit applies.
std::vector<std::int64_t> balancedSubset(const std::vector<std::int64_t> &labels, int classes,
                                         std::int64_t limit, std::uint64_t seed, Stream stream);

/// The split of `images` and `labels`, reduced to `subset` (balancedSubset's) when not empty.
std::shared_ptr<MemorySplit> memorySplit(const LogFn &log, torch::Tensor images,
                                         std::vector<std::int64_t> labels, int classes,
                                         const std::vector<std::int64_t> &subset);

/// What a reader found: both splits and their description.
struct Opened
{
    DatasetInfo info;
    std::shared_ptr<data::Split> train;
    std::shared_ptr<data::Split> test;
};

/// fashion-mnist, mnist, kmnist: the four IDX files (plain or gzip) under the usual folders.
Result<Opened> openIdx(const DatasetOptions &o, const std::string &name, Fnv &fnv);
/// cifar10, cifar100: the binary batches.
Result<Opened> openCifar(const DatasetOptions &o, const std::string &name, Fnv &fnv);
/// imagefolder: train/<class>/ and val/<class>/ (or test/<class>/) of JPEG and PNG files.
Result<Opened> openFolder(const DatasetOptions &o, Fnv &fnv);
/// synthetic: seeded class templates plus noise, generated in memory.
Result<Opened> openSynthetic(const DatasetOptions &o);

} // namespace lw::data::detail
