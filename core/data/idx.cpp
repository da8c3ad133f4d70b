// IDX readers (Fashion-MNIST, MNIST, KMNIST): plain or gzip files found in the usual folders;
// every header count is checked against the data before anything is allocated.

#include "core/data/readers_p.h"
#include "core/util/format.h"
#include "core/util/fsutil.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>

namespace lw::data::detail {

namespace {

std::string hexBytes(const std::uint8_t *p, std::size_t n)
{
    std::string s;
    char buf[4];
    for (std::size_t i = 0; i < n; ++i) {
        std::snprintf(buf, sizeof buf, i ? " %02x" : "%02x", p[i]);
        s += buf;
    }
    return s;
}

struct IdxFile
{
    std::vector<std::int64_t> dims;
    std::vector<std::uint8_t> payload;
    std::uint8_t header[16] = {};
    bool gzip = false;
    std::uint64_t fileSize = 0;
};

/// Bytes of memory the system could give now (MemAvailable), or physical memory when unknown.
std::uint64_t availableMemory()
{
    if (std::FILE *f = std::fopen("/proc/meminfo", "r")) {
        char line[256];
        unsigned long long kb = 0;
        bool found = false;
        while (!found && std::fgets(line, sizeof line, f))
            found = std::sscanf(line, "MemAvailable: %llu kB", &kb) == 1;
        std::fclose(f);
        if (found)
            return std::uint64_t(kb) << 10;
    }
    const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? std::uint64_t(pages) * std::uint64_t(size) : ~std::uint64_t(0);
}

/// Real image data deflates by a few times at most; beyond this ratio a large gzip is a bomb or
/// its header is forged, and is refused before anything is decompressed.
constexpr std::uint64_t kMaxGzipRatio = 64;
constexpr std::uint64_t kGzipRatioFloor = std::uint64_t(64) << 20; // small files: any ratio

/// Reads an IDX file of unsigned bytes with `wantDims` dimensions, plain or gzip, streaming
/// through zlib. Checks the magic, that the header's counts match the data exactly (and the
/// first count equals `expectCount` when >= 0: the labels' count, checked before the images are
/// read), that the size is plausible for the file and fits the machine's memory, and gzip
/// integrity; memory grows only with the data actually present.
Result<IdxFile> readIdx(const fs::path &path, int wantDims, std::int64_t expectCount = -1,
                        const fs::path &countFrom = {})
{
    const std::string name = path.string();
    IdxFile out;
    std::error_code ec;
    out.fileSize = fs::file_size(path, ec);
    if (ec)
        return fail(name + ": cannot read: " + ec.message());
    gzFile f = gzopen(name.c_str(), "rb");
    if (!f)
        return fail(name + ": cannot open for reading");
    struct Closer
    {
        gzFile f;
        ~Closer() { gzclose(f); }
    } closer{f};
    gzbuffer(f, 1 << 18);
    auto zError = [&](const std::string &what) -> std::string {
        int err = Z_OK;
        const char *msg = gzerror(f, &err);
        if (err == Z_OK || err == Z_STREAM_END)
            return {};
        return name + ": truncated or corrupt gzip data (" + (msg ? msg : "zlib error")
               + ") while reading " + what;
    };
    const int headerSize = 4 + 4 * wantDims;
    int got = gzread(f, out.header, 4);
    out.gzip = !gzdirect(f);
    if (got < 4) {
        if (auto e = zError("the IDX magic"); !e.empty())
            return fail(e);
        return fail(name + ": file ends at byte offset " + std::to_string(std::max(got, 0))
                    + ", before the 4-byte IDX magic");
    }
    if (out.header[0] != 0 || out.header[1] != 0 || out.header[2] != 0x08
        || out.header[3] != wantDims) {
        return fail(name + ": wrong IDX magic at byte offset 0: expected 00 00 08 0"
                    + std::to_string(wantDims) + " (unsigned bytes, " + std::to_string(wantDims)
                    + (wantDims == 1 ? " dimension: labels" : " dimensions: images") + "), found "
                    + hexBytes(out.header, 4));
    }
    got = gzread(f, out.header + 4, unsigned(4 * wantDims));
    if (got < 4 * wantDims) {
        if (auto e = zError("the IDX header"); !e.empty())
            return fail(e);
        return fail(name + ": file ends at byte offset " + std::to_string(4 + std::max(got, 0))
                    + ", inside the " + std::to_string(headerSize) + "-byte IDX header");
    }
    unsigned __int128 payload = 1;
    std::string dimText;
    for (int d = 0; d < wantDims; ++d) {
        const std::uint8_t *p = out.header + 4 + 4 * d;
        const std::int64_t v = (std::int64_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
        out.dims.push_back(v);
        payload *= std::uint64_t(v);
        dimText += (d ? " x " : "") + std::to_string(v);
    }
    const std::uint64_t expectedTotal
        = std::uint64_t(std::min<unsigned __int128>(payload + headerSize, ~std::uint64_t(0)));
    if (!out.gzip && expectedTotal != out.fileSize) {
        return fail(name + ": header counts disagree with the file size: the header (byte offset "
                    + "4) says " + dimText + ", so " + std::to_string(expectedTotal)
                    + " bytes with the " + std::to_string(headerSize)
                    + "-byte header, but the file has " + std::to_string(out.fileSize) + " bytes");
    }
    if (payload > kMaxInMemoryBytes) {
        return fail(name + ": the header (byte offset 4) says " + dimText + ", "
                    + std::to_string(expectedTotal) + " bytes, more than the "
                    + std::to_string(kMaxInMemoryBytes >> 30) + " GiB an IDX file may hold");
    }
    if (expectCount >= 0 && out.dims[0] != expectCount)
        return fail("image and label counts disagree: " + name + " has "
                    + std::to_string(out.dims[0]) + " images, " + countFrom.string() + " has "
                    + std::to_string(expectCount) + " labels");
    const std::uint64_t want = std::uint64_t(payload);
    if (out.gzip && want > kGzipRatioFloor && want > kMaxGzipRatio * out.fileSize)
        return fail(name + ": the header (byte offset 4) says " + dimText + ", "
                    + formatBytes(std::int64_t(want)) + " uncompressed, from a "
                    + formatBytes(std::int64_t(out.fileSize)) + " gzip file: more than "
                    + std::to_string(kMaxGzipRatio)
                    + " times its compressed size, which image data does not reach (a gzip bomb "
                      "or a forged header); if it is genuine, decompress it (gunzip) and its size "
                      "is checked exactly");
    if (const std::uint64_t avail = availableMemory(); want > avail)
        return fail(name + ": the header (byte offset 4) says " + dimText + ", "
                    + formatBytes(std::int64_t(want)) + " in memory, but this machine has "
                    + formatBytes(std::int64_t(avail)) + " available");
    out.payload.reserve(std::size_t(std::min<std::uint64_t>(want, 64u << 20)));
    constexpr std::uint64_t chunk = 4u << 20;
    while (out.payload.size() < want) {
        const std::size_t have = out.payload.size();
        const std::size_t n = std::size_t(std::min<std::uint64_t>(chunk, want - have));
        try {
            out.payload.resize(have + n);
        } catch (const std::bad_alloc &) {
            return fail(name + ": out of memory after " + formatBytes(std::int64_t(have))
                        + " of the " + formatBytes(std::int64_t(want)) + " its header declares ("
                        + dimText + ")");
        }
        const int r = gzread(f, out.payload.data() + have, unsigned(n));
        const std::size_t read = r > 0 ? std::size_t(r) : 0;
        out.payload.resize(have + read);
        if (read < n) {
            const std::string where = std::to_string(headerSize + out.payload.size());
            if (auto e = zError("the data"); !e.empty())
                return fail(e + ": the data ends at uncompressed byte offset " + where
                            + ", expected " + std::to_string(expectedTotal) + " bytes (" + dimText
                            + ")");
            return fail(name + ": header counts disagree with the data: the header says " + dimText
                        + " (" + std::to_string(expectedTotal)
                        + " bytes in all), but the data ends at byte offset " + where);
        }
    }
    std::uint8_t extra = 0;
    if (gzread(f, &extra, 1) == 1) {
        return fail(name + ": header counts disagree with the data: the header says " + dimText
                    + ", so the data should end at byte offset " + std::to_string(expectedTotal)
                    + ", but there is more after it");
    }
    if (auto e = zError("the end of the stream"); !e.empty())
        return fail(e);
    return out;
}

struct IdxKind
{
    const char *title;
    const char *torchvisionFolder;
    std::vector<std::string> classNames;
};

const IdxKind &idxKind(const std::string &name)
{
    static const IdxKind fashion{"Fashion-MNIST",
                                 "FashionMNIST",
                                 {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                  "Shirt", "Sneaker", "Bag", "Ankle boot"}};
    static const IdxKind mnist{
        "MNIST", "MNIST", {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}};
    static const IdxKind kmnist{
        "KMNIST", "KMNIST", {"o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"}};
    if (name == "fashion-mnist")
        return fashion;
    if (name == "kmnist")
        return kmnist;
    return mnist;
}

/// The IDX file of `prefix` ("train-images", "t10k-labels", ...) in `dir`, in any of the usual
/// spellings; empty when absent.
fs::path findIdx(const fs::path &dir, const std::string &prefix, int dims)
{
    const std::string d = std::to_string(dims);
    for (const std::string &base : {prefix + "-idx" + d + "-ubyte", prefix + ".idx" + d + "-ubyte"})
        for (const char *ext : {"", ".gz"})
            if (isFile(dir / (base + ext)))
                return dir / (base + ext);
    return {};
}

std::vector<fs::path> idxCandidates(const std::string &name, const std::string &path)
{
    std::vector<fs::path> bases;
    if (!path.empty())
        bases.push_back(path);
    else {
        if (name == "fashion-mnist")
            bases.push_back(defaultFashionMnistPath());
        bases.push_back(fs::path(defaultDataDir()) / "datasets" / name);
    }
    const std::string tv = idxKind(name).torchvisionFolder;
    std::vector<fs::path> out;
    for (const auto &b : bases)
        for (const fs::path &p : {b, b / "raw", b / tv / "raw", b / tv, b / name})
            out.push_back(p);
    return out;
}

} // namespace

Result<Opened> openIdx(const DatasetOptions &o, const std::string &name, Fnv &fnv)
{
    const IdxKind &kind = idxKind(name);
    fs::path dir;
    const auto candidates = idxCandidates(name, o.path);
    for (const auto &c : candidates) {
        if (!findIdx(c, "train-images", 3).empty()) {
            dir = c;
            break;
        }
    }
    if (dir.empty())
        return fail(std::string(kind.title) + ": no train-images-idx3-ubyte[.gz] found in "
                    + joinPaths(candidates)
                    + (o.path.empty() ? "; give the dataset's folder" : ""));
    Opened out;
    bool anyGzip = false;
    for (int s = 0; s < 2; ++s) {
        const std::string split = s == 0 ? "train" : "t10k";
        const fs::path imgPath = findIdx(dir, split + "-images", 3);
        const fs::path lblPath = findIdx(dir, split + "-labels", 1);
        if (imgPath.empty() || lblPath.empty())
            return fail(
                std::string(kind.title) + ": "
                + (dir / (split + (imgPath.empty() ? "-images-idx3-ubyte" : "-labels-idx1-ubyte")))
                      .string()
                + "[.gz] is missing (the four IDX files train-images, train-labels, "
                  "t10k-images, t10k-labels are needed)");
        // Labels first: they are small, and their count bounds the images read after them.
        auto labels = readIdx(lblPath, 1);
        if (!labels)
            return labels.error();
        auto images = readIdx(imgPath, 3, labels->dims[0], lblPath);
        if (!images)
            return images.error();
        const auto &dims = images->dims;
        if (dims[0] == 0)
            return fail(imgPath.string() + ": holds no images (count 0 at byte offset 4)");
        if (dims[1] <= 0 || dims[2] <= 0 || dims[1] > 65535 || dims[2] > 65535)
            return fail(imgPath.string() + ": image size " + std::to_string(dims[1]) + " x "
                        + std::to_string(dims[2])
                        + " at byte offset 8 is not plausible (expected 1..65535 each)");
        if (s == 1 && (dims[1] != out.info.height || dims[2] != out.info.width))
            return fail(imgPath.string() + ": images are " + std::to_string(dims[1]) + " x "
                        + std::to_string(dims[2]) + " but the training images are "
                        + std::to_string(out.info.height) + " x " + std::to_string(out.info.width));
        std::vector<std::int64_t> lbl(labels->payload.size());
        for (std::size_t i = 0; i < lbl.size(); ++i) {
            const int v = labels->payload[i];
            if (v >= 10)
                return fail(lblPath.string() + ": label " + std::to_string(v) + " at byte offset "
                            + std::to_string(8 + i) + " is out of range (expected 0..9)");
            lbl[i] = v;
        }
        anyGzip = anyGzip || images->gzip || labels->gzip;
        for (const IdxFile *f : {&images.value(), &labels.value()}) {
            fnv.add(std::int64_t(f->payload.size()));
            fnv.add(f->header, 16);
        }
        if (s == 0)
            out.info.trainFile = imgPath.string();
        out.info.height = int(dims[1]);
        out.info.width = int(dims[2]);
        auto *bytes = new std::vector<std::uint8_t>(std::move(images->payload));
        torch::Tensor t = torch::from_blob(
            bytes->data(), {dims[0], 1, dims[1], dims[2]}, [bytes](void *) { delete bytes; },
            torch::kUInt8);
        const auto subset = balancedSubset(lbl, 10, s == 0 ? o.trainLimit : o.testLimit, o.seed,
                                           s == 0 ? Stream::LimitTrain : Stream::LimitTest);
        (s == 0 ? out.train : out.test) = memorySplit(o.log, t, std::move(lbl), 10, subset);
    }
    out.info.name = name;
    out.info.root = dir.string();
    out.info.channels = 1;
    out.info.classes = 10;
    out.info.classNames = kind.classNames;
    out.info.description
        = std::string(kind.title) + " (IDX" + (anyGzip ? ", gzip" : "") + ") at " + dir.string();
    return out;
}

} // namespace lw::data::detail
