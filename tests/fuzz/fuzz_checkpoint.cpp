// A checkpoint (.pt, LibTorch's zip archive) loaded into the network of tiny-spec.json as a
// resumed run loads it (every module) and as a branch does (the first stage only).
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/trainer_access_p.h"

#include <zlib.h>

#include <exception>
#include <random>
#include <vector>

namespace {

const lw::Spec &tinySpec()
{
    static const lw::Spec spec = [] {
        auto s = lw::loadSpecFile(LW_FUZZ_TINY_SPEC);
        if (!s)
            lw::fuzz::broken("tiny-spec.json: " + s.message());
        torch::set_num_threads(1);
        return *s;
    }();
    return spec;
}

#ifdef LW_LIBFUZZER

std::uint32_t le32(const std::uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | std::uint32_t(p[3]) << 24;
}

std::uint16_t le16(const std::uint8_t *p)
{
    return std::uint16_t(p[0] | p[1] << 8);
}

void putLe32(std::uint8_t *p, std::uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        p[i] = std::uint8_t(v >> (8 * i));
}

/// A stored (uncompressed) zip entry: where its bytes are and where its two CRC-32s are kept.
struct Entry
{
    std::size_t data = 0, size = 0, localCrc = 0, centralCrc = 0;
};

/// The stored entries of a zip archive (LibTorch writes checkpoints uncompressed), found through
/// its central directory; empty when the bytes are no such archive.
std::vector<Entry> storedEntries(const std::uint8_t *d, std::size_t n)
{
    std::vector<Entry> out;
    if (n < 22)
        return out;
    std::size_t eocd = n - 22;
    while (eocd > 0 && le32(d + eocd) != 0x06054b50)
        --eocd;
    if (le32(d + eocd) != 0x06054b50)
        return out;
    std::size_t at = le32(d + eocd + 16);
    for (int i = 0, count = le16(d + eocd + 10); i < count; ++i) {
        if (at + 46 > n || le32(d + at) != 0x02014b50)
            break;
        const std::size_t local = le32(d + at + 42), size = le32(d + at + 20);
        const bool stored = le16(d + at + 10) == 0 && size == le32(d + at + 24);
        if (stored && local + 30 <= n && le32(d + local) == 0x04034b50) {
            const std::size_t data = local + 30 + le16(d + local + 26) + le16(d + local + 28);
            if (data + size <= n && size > 0)
                out.push_back({data, size, local + 14, at + 16});
        }
        at += 46 + le16(d + at + 28) + le16(d + at + 30) + le16(d + at + 32);
    }
    return out;
}

#endif

} // namespace

#ifdef LW_LIBFUZZER
extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t *data, std::size_t size, std::size_t maxSize);

/// Most of the time mutates one entry of the archive in place and fixes its CRC-32s, so that the
/// mutation reaches LibTorch's unpickler and tensor readers instead of failing the zip's checks.
extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t *data, std::size_t size,
                                               std::size_t maxSize, unsigned int seed)
{
    std::minstd_rand rng(seed);
    const auto entries = storedEntries(data, size);
    if (entries.empty() || rng() % 4 == 0)
        return LLVMFuzzerMutate(data, size, maxSize);
    const Entry &e = entries[rng() % entries.size()];
    LLVMFuzzerMutate(data + e.data, e.size, e.size);
    const auto crc = std::uint32_t(crc32(0, data + e.data, uInt(e.size)));
    putLe32(data + e.localCrc, crc);
    putLe32(data + e.centralCrc, crc);
    return size;
}
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const auto &spec = tinySpec();
    const auto dir = lw::fuzz::scratch();
    lw::fuzz::writeFile(dir / "ckpt.pt", lw::fuzz::text(data, size));
    for (const int stages : {-1, 1}) {
        auto impl = lw::detail::TrainerTestAccess::engine(spec, dir.string());
        impl->net = lw::model::Network(spec);
        // Trainer::resume and probeRun call it inside a catch of std::exception.
        try {
            (void)impl->loadNetwork(impl->folder, "ckpt.pt", stages);
        } catch (const std::exception &) {
        }
    }
    return 0;
}
