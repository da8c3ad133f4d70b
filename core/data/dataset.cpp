// Readers (IDX, CIFAR binary, image folders, synthetic), class-balanced limits, Dataset::open and
// probeDataset. Every file is untrusted: sizes are checked before anything is allocated.

#include "core/data/codec.h"
#include "core/data/internal_p.h"
#include "core/util/fsutil.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <sstream>
#include <unordered_set>

namespace fs = std::filesystem;

namespace lw {

namespace {

using data::detail::Rng;
using data::detail::SplitBase;
using data::detail::Stream;

constexpr std::uint64_t kMaxInMemoryBytes = std::uint64_t(8) << 30;

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

std::string canonicalName(const std::string &name)
{
    std::string key;
    for (char c : name)
        if (c != '-' && c != '_' && c != ' ')
            key += char(std::tolower(static_cast<unsigned char>(c)));
    static const std::map<std::string, std::string> names = {{"fashionmnist", "fashion-mnist"},
                                                             {"fmnist", "fashion-mnist"},
                                                             {"mnist", "mnist"},
                                                             {"kmnist", "kmnist"},
                                                             {"cifar10", "cifar10"},
                                                             {"cifar100", "cifar100"},
                                                             {"imagefolder", "imagefolder"},
                                                             {"synthetic", "synthetic"}};
    auto it = names.find(key);
    return it == names.end() ? std::string() : it->second;
}

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

bool isDir(const fs::path &p)
{
    std::error_code ec;
    return fs::is_directory(p, ec);
}

bool isFile(const fs::path &p)
{
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

std::string joinPaths(const std::vector<fs::path> &paths)
{
    std::string s;
    for (std::size_t i = 0; i < paths.size(); ++i)
        s += (i ? ", " : "") + paths[i].string();
    return s;
}

// ---- In-memory split ---------------------------------------------------------------------------

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

// ---- Image-folder split ------------------------------------------------------------------------

class FolderSplit : public SplitBase
{
public:
    FolderSplit(LogFn log, fs::path root, std::string names, std::vector<std::uint64_t> offsets,
                std::vector<std::int32_t> labels, int classes)
        : SplitBase(std::move(log))
        , m_root(std::move(root))
        , m_names(std::move(names))
        , m_offsets(std::move(offsets))
        , m_labels(std::move(labels))
        , m_classes(classes)
    {}
    std::int64_t size() const override { return std::int64_t(m_labels.size()); }
    int classes() const override { return m_classes; }
    std::int64_t label(std::int64_t i) const override { return m_labels[std::size_t(i)]; }
    std::string relativePath(std::int64_t i) const
    {
        const auto b = m_offsets[std::size_t(i)], e = m_offsets[std::size_t(i) + 1];
        return m_names.substr(b, e - b);
    }
    Result<torch::Tensor> image(std::int64_t i, int targetSide) const override
    {
        if (i < 0 || i >= size())
            return fail("sample " + std::to_string(i) + " is out of range (0.."
                        + std::to_string(size() - 1) + ")");
        const std::string path = (m_root / relativePath(i)).string();
        auto decoded = data::readImageFile(path, targetSide);
        if (!decoded) {
            bool first = false;
            {
                std::lock_guard lock(m_mutex);
                first = m_reported.insert(i).second;
            }
            if (first)
                log(LogLevel::Warning,
                    "skipping an image that cannot be decoded: " + decoded.message());
            return decoded.error();
        }
        auto *raw = new data::RawImage(std::move(decoded.value()));
        const std::int64_t h = raw->height, w = raw->width;
        torch::Tensor hwc = torch::from_blob(
            raw->pixels.data(), {h, w, 3}, [raw](void *) { delete raw; }, torch::kUInt8);
        return hwc.permute({2, 0, 1}); // C x H x W view of the interleaved pixels
    }
    const std::vector<std::int32_t> &labels() const { return m_labels; }

private:
    fs::path m_root;
    std::string m_names;                  // relative paths, concatenated
    std::vector<std::uint64_t> m_offsets; // size() + 1 offsets into m_names
    std::vector<std::int32_t> m_labels;
    int m_classes;
    mutable std::mutex m_mutex;
    mutable std::unordered_set<std::int64_t> m_reported;
};

// ---- Class-balanced limits ---------------------------------------------------------------------

/// Indices (ascending) of a fixed, seeded subset of `limit` samples with classes as equal as the
/// data allows; empty when no limit applies.
std::vector<std::int64_t> balancedSubset(const std::vector<std::int64_t> &labels, int classes,
                                         std::int64_t limit, std::uint64_t seed, Stream stream)
{
    const std::int64_t n = std::int64_t(labels.size());
    if (limit <= 0 || limit >= n)
        return {};
    std::vector<std::vector<std::int64_t>> groups(std::size_t(std::max(classes, 1)));
    for (std::int64_t i = 0; i < n; ++i)
        groups[std::size_t(labels[std::size_t(i)])].push_back(i);
    for (std::size_t k = 0; k < groups.size(); ++k) {
        Rng rng(seed, stream, k);
        auto &g = groups[k];
        for (std::int64_t i = std::int64_t(g.size()) - 1; i > 0; --i)
            std::swap(g[std::size_t(i)], g[std::size_t(rng.below(i + 1))]);
    }
    std::vector<std::size_t> byCount(groups.size());
    std::iota(byCount.begin(), byCount.end(), 0);
    std::stable_sort(byCount.begin(), byCount.end(),
                     [&](auto a, auto b) { return groups[a].size() < groups[b].size(); });
    std::vector<std::int64_t> take(groups.size(), 0);
    std::int64_t remaining = limit;
    std::int64_t left = std::int64_t(groups.size());
    for (std::size_t k : byCount) {
        take[k] = std::min<std::int64_t>(std::int64_t(groups[k].size()), remaining / left);
        remaining -= take[k];
        --left;
    }
    for (std::size_t k = 0; remaining > 0 && k < groups.size(); ++k) {
        if (take[k] < std::int64_t(groups[k].size())) {
            ++take[k];
            --remaining;
        }
    }
    std::vector<std::int64_t> subset;
    subset.reserve(std::size_t(limit));
    for (std::size_t k = 0; k < groups.size(); ++k)
        subset.insert(subset.end(), groups[k].begin(), groups[k].begin() + take[k]);
    std::sort(subset.begin(), subset.end());
    return subset;
}

std::shared_ptr<MemorySplit> memorySplit(const LogFn &log, torch::Tensor images,
                                         std::vector<std::int64_t> labels, int classes,
                                         const std::vector<std::int64_t> &subset)
{
    if (!subset.empty()) {
        auto index = torch::from_blob(const_cast<std::int64_t *>(subset.data()),
                                      {std::int64_t(subset.size())}, torch::kInt64);
        images = images.index_select(0, index).contiguous();
        std::vector<std::int64_t> picked(subset.size());
        for (std::size_t i = 0; i < subset.size(); ++i)
            picked[i] = labels[std::size_t(subset[i])];
        labels = std::move(picked);
    }
    return std::make_shared<MemorySplit>(log, std::move(images), std::move(labels), classes);
}

// ---- IDX ---------------------------------------------------------------------------------------

struct IdxFile
{
    std::vector<std::int64_t> dims;
    std::vector<std::uint8_t> payload;
    std::uint8_t header[16] = {};
    bool gzip = false;
    std::uint64_t fileSize = 0;
};

/// Reads an IDX file of unsigned bytes with `wantDims` dimensions, plain or gzip, streaming
/// through zlib. Checks the magic, that the header's counts match the data exactly, and gzip
/// integrity; memory grows only with the data actually present.
Result<IdxFile> readIdx(const fs::path &path, int wantDims)
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
    const std::uint64_t want = std::uint64_t(payload);
    out.payload.reserve(std::size_t(std::min<std::uint64_t>(want, 64u << 20)));
    constexpr std::uint64_t chunk = 4u << 20;
    while (out.payload.size() < want) {
        const std::size_t have = out.payload.size();
        const std::size_t n = std::size_t(std::min<std::uint64_t>(chunk, want - have));
        out.payload.resize(have + n);
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

struct Opened
{
    DatasetInfo info;
    std::shared_ptr<data::Split> train;
    std::shared_ptr<data::Split> test;
};

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
                    + (o.path.empty() ? "; pass the folder with --data" : ""));
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
        auto images = readIdx(imgPath, 3);
        if (!images)
            return images.error();
        auto labels = readIdx(lblPath, 1);
        if (!labels)
            return labels.error();
        const auto &dims = images->dims;
        if (dims[0] == 0)
            return fail(imgPath.string() + ": holds no images (count 0 at byte offset 4)");
        if (dims[1] <= 0 || dims[2] <= 0 || dims[1] > 65535 || dims[2] > 65535)
            return fail(imgPath.string() + ": image size " + std::to_string(dims[1]) + " x "
                        + std::to_string(dims[2])
                        + " at byte offset 8 is not plausible (expected 1..65535 each)");
        if (labels->dims[0] != dims[0])
            return fail("image and label counts disagree: " + imgPath.string() + " has "
                        + std::to_string(dims[0]) + " images, " + lblPath.string() + " has "
                        + std::to_string(labels->dims[0]) + " labels");
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

// ---- CIFAR -------------------------------------------------------------------------------------

std::vector<std::string> readNames(const fs::path &file, std::size_t want)
{
    std::vector<std::string> names;
    std::ifstream in(file);
    std::string line;
    while (in && std::getline(in, line) && names.size() <= want) {
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
            line.pop_back();
        if (!line.empty())
            names.push_back(line);
    }
    return names.size() == want ? names : std::vector<std::string>{};
}

const std::vector<std::string> &cifar100Fine()
{
    static const std::vector<std::string> names = {
        "apple",       "aquarium_fish", "baby",      "bear",       "beaver",       "bed",
        "bee",         "beetle",        "bicycle",   "bottle",     "bowl",         "boy",
        "bridge",      "bus",           "butterfly", "camel",      "can",          "castle",
        "caterpillar", "cattle",        "chair",     "chimpanzee", "clock",        "cloud",
        "cockroach",   "couch",         "crab",      "crocodile",  "cup",          "dinosaur",
        "dolphin",     "elephant",      "flatfish",  "forest",     "fox",          "girl",
        "hamster",     "house",         "kangaroo",  "keyboard",   "lamp",         "lawn_mower",
        "leopard",     "lion",          "lizard",    "lobster",    "man",          "maple_tree",
        "motorcycle",  "mountain",      "mouse",     "mushroom",   "oak_tree",     "orange",
        "orchid",      "otter",         "palm_tree", "pear",       "pickup_truck", "pine_tree",
        "plain",       "plate",         "poppy",     "porcupine",  "possum",       "rabbit",
        "raccoon",     "ray",           "road",      "rocket",     "rose",         "sea",
        "seal",        "shark",         "shrew",     "skunk",      "skyscraper",   "snail",
        "snake",       "spider",        "squirrel",  "streetcar",  "sunflower",    "sweet_pepper",
        "table",       "tank",          "telephone", "television", "tiger",        "tractor",
        "train",       "trout",         "tulip",     "turtle",     "wardrobe",     "whale",
        "willow_tree", "wolf",          "woman",     "worm"};
    return names;
}

const std::vector<std::string> &cifar100Coarse()
{
    static const std::vector<std::string> names = {"aquatic_mammals",
                                                   "fish",
                                                   "flowers",
                                                   "food_containers",
                                                   "fruit_and_vegetables",
                                                   "household_electrical_devices",
                                                   "household_furniture",
                                                   "insects",
                                                   "large_carnivores",
                                                   "large_man-made_outdoor_things",
                                                   "large_natural_outdoor_scenes",
                                                   "large_omnivores_and_herbivores",
                                                   "medium_mammals",
                                                   "non-insect_invertebrates",
                                                   "people",
                                                   "reptiles",
                                                   "small_mammals",
                                                   "trees",
                                                   "vehicles_1",
                                                   "vehicles_2"};
    return names;
}

/// Reads CIFAR binary batches: records of `labelBytes` label bytes then 3 x 32 x 32 pixels.
Result<std::pair<torch::Tensor, std::vector<std::int64_t>>>
readCifar(const std::vector<fs::path> &files, int labelBytes, int labelIndex, int classes, Fnv &fnv)
{
    constexpr std::uint64_t pixels = 3 * 32 * 32;
    const std::uint64_t record = pixels + std::uint64_t(labelBytes);
    std::uint64_t total = 0;
    std::vector<std::uint64_t> sizes;
    for (const auto &f : files) {
        std::error_code ec;
        const std::uint64_t size = fs::file_size(f, ec);
        if (ec)
            return fail(f.string() + ": cannot read: " + ec.message());
        if (size == 0 || size % record != 0)
            return fail(f.string() + ": size " + std::to_string(size)
                        + " bytes is not a multiple of the " + std::to_string(record)
                        + "-byte record (" + std::to_string(labelBytes) + " label byte"
                        + (labelBytes > 1 ? "s" : "")
                        + " + 3072 pixels): " + std::to_string(size / record) + " records and "
                        + std::to_string(size % record) + " bytes left over");
        sizes.push_back(size);
        total += size / record;
    }
    if (total * pixels > kMaxInMemoryBytes)
        return fail(files.front().string() + ": " + std::to_string(total)
                    + " records are more than this reader holds in memory");
    torch::Tensor images = torch::empty({std::int64_t(total), 3, 32, 32}, torch::kUInt8);
    std::vector<std::int64_t> labels(static_cast<std::size_t>(total));
    std::uint8_t *dst = images.data_ptr<std::uint8_t>();
    std::vector<char> buffer;
    std::size_t n = 0;
    for (std::size_t fi = 0; fi < files.size(); ++fi) {
        const auto &f = files[fi];
        std::ifstream in(f, std::ios::binary);
        buffer.resize(std::size_t(sizes[fi]));
        if (!in.read(buffer.data(), std::streamsize(buffer.size())))
            return fail(f.string() + ": read error after byte offset "
                        + std::to_string(in.gcount()));
        const std::uint64_t records = sizes[fi] / record;
        for (std::uint64_t r = 0; r < records; ++r, ++n) {
            const auto *rec = reinterpret_cast<const std::uint8_t *>(buffer.data()) + r * record;
            const int v = rec[labelIndex];
            if (v >= classes)
                return fail(f.string() + ": label " + std::to_string(v) + " at byte offset "
                            + std::to_string(r * record + std::uint64_t(labelIndex)) + " (record "
                            + std::to_string(r) + ") is out of range (expected 0.."
                            + std::to_string(classes - 1) + ")");
            labels[n] = v;
            std::memcpy(dst + n * pixels, rec + labelBytes, pixels);
        }
        fnv.add(f.filename().string());
        fnv.add(std::int64_t(sizes[fi]));
        fnv.add(buffer.data(), std::min<std::size_t>(buffer.size(), std::size_t(record)));
    }
    return std::make_pair(images, std::move(labels));
}

Result<Opened> openCifar(const DatasetOptions &o, const std::string &name, Fnv &fnv)
{
    const bool c100 = name == "cifar100";
    const std::string sub = c100 ? "cifar-100-binary" : "cifar-10-batches-bin";
    std::vector<fs::path> candidates;
    if (!o.path.empty())
        candidates = {fs::path(o.path), fs::path(o.path) / sub};
    else
        candidates = {fs::path(defaultDataDir()) / "datasets" / sub,
                      fs::path(defaultDataDir()) / "datasets" / name / sub};
    const std::string probeFile = c100 ? "train.bin" : "data_batch_1.bin";
    fs::path dir;
    for (const auto &c : candidates)
        if (isFile(c / probeFile)) {
            dir = c;
            break;
        }
    if (dir.empty())
        return fail(std::string(c100 ? "CIFAR-100" : "CIFAR-10") + ": no " + probeFile
                    + " found in " + joinPaths(candidates)
                    + (o.path.empty() ? "; pass the folder with --data" : ""));
    std::vector<fs::path> trainFiles, testFiles;
    if (c100) {
        trainFiles = {dir / "train.bin"};
        testFiles = {dir / "test.bin"};
    } else {
        for (int i = 1; i <= 5; ++i)
            trainFiles.push_back(dir / ("data_batch_" + std::to_string(i) + ".bin"));
        testFiles = {dir / "test_batch.bin"};
    }
    for (const auto &f : trainFiles)
        if (!isFile(f))
            return fail(f.string() + " is missing (expected beside " + probeFile + ")");
    for (const auto &f : testFiles)
        if (!isFile(f))
            return fail(f.string() + " is missing (expected beside " + probeFile + ")");
    const int classes = c100 ? (o.cifar100Coarse ? 20 : 100) : 10;
    const int labelBytes = c100 ? 2 : 1;
    const int labelIndex = c100 && !o.cifar100Coarse ? 1 : 0;
    Opened out;
    for (int s = 0; s < 2; ++s) {
        auto read
            = readCifar(s == 0 ? trainFiles : testFiles, labelBytes, labelIndex, classes, fnv);
        if (!read)
            return read.error();
        const auto subset
            = balancedSubset(read->second, classes, s == 0 ? o.trainLimit : o.testLimit, o.seed,
                             s == 0 ? Stream::LimitTrain : Stream::LimitTest);
        (s == 0 ? out.train : out.test)
            = memorySplit(o.log, read->first, std::move(read->second), classes, subset);
    }
    out.info.name = name;
    out.info.root = dir.string();
    out.info.channels = 3;
    out.info.height = out.info.width = 32;
    out.info.classes = classes;
    if (c100) {
        out.info.classNames = readNames(
            dir / (o.cifar100Coarse ? "coarse_label_names.txt" : "fine_label_names.txt"),
            std::size_t(classes));
        if (out.info.classNames.empty())
            out.info.classNames = o.cifar100Coarse ? cifar100Coarse() : cifar100Fine();
    } else {
        out.info.classNames = readNames(dir / "batches.meta.txt", 10);
        if (out.info.classNames.empty())
            out.info.classNames = {"airplane", "automobile", "bird",  "cat",  "deer",
                                   "dog",      "frog",       "horse", "ship", "truck"};
    }
    out.info.description
        = std::string(c100 ? "CIFAR-100" : "CIFAR-10") + " (binary"
          + (c100 ? (o.cifar100Coarse ? ", 20 coarse labels" : ", 100 fine labels") : "") + ") at "
          + dir.string();
    return out;
}

// ---- Image folders -----------------------------------------------------------------------------

bool isImageName(const fs::path &p)
{
    std::string ext = p.extension().string();
    for (auto &c : ext)
        c = char(std::tolower(static_cast<unsigned char>(c)));
    return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

struct Listing
{
    std::string names;
    std::vector<std::uint64_t> offsets{0};
    std::vector<std::int32_t> labels;
    std::vector<std::int64_t> perClass;
};

/// Lists `splitDir`/<class>/**/*.{jpg,jpeg,png} (case-insensitive), sorted within each class.
Result<Listing> listFolder(const fs::path &splitDir, const std::vector<std::string> &classes,
                           bool requireEveryClass, Fnv &fnv)
{
    Listing out;
    out.perClass.assign(classes.size(), 0);
    std::vector<std::string> files;
    for (std::size_t k = 0; k < classes.size(); ++k) {
        const fs::path classDir = splitDir / classes[k];
        files.clear();
        if (isDir(classDir)) {
            std::error_code ec;
            fs::recursive_directory_iterator it(classDir,
                                                fs::directory_options::follow_directory_symlink
                                                    | fs::directory_options::skip_permission_denied,
                                                ec);
            if (ec)
                return fail(classDir.string() + ": cannot list: " + ec.message());
            for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
                if (ec)
                    return fail(classDir.string() + ": cannot list: " + ec.message());
                if (isImageName(it->path()) && it->is_regular_file(ec))
                    files.push_back(fs::relative(it->path(), splitDir, ec).string());
                if (ec)
                    return fail(it->path().string() + ": " + ec.message());
            }
        }
        if (files.empty() && requireEveryClass)
            return fail(classDir.string() + ": a folder with no images (expected *.jpg, "
                        + "*.jpeg or *.png files; every class folder needs at least one)");
        std::sort(files.begin(), files.end());
        for (const auto &f : files) {
            out.names += f;
            out.offsets.push_back(out.names.size());
            out.labels.push_back(std::int32_t(k));
            fnv.add(f);
        }
        out.perClass[k] = std::int64_t(files.size());
    }
    if (out.labels.empty())
        return fail(splitDir.string() + ": a folder with no images (expected <class>/*.jpg, "
                    + "*.jpeg or *.png under it)");
    return out;
}

std::shared_ptr<FolderSplit> folderSplit(const LogFn &log, const fs::path &root, Listing listing,
                                         int classes, std::int64_t limit, std::uint64_t seed,
                                         Stream stream)
{
    std::vector<std::int64_t> lbl(listing.labels.begin(), listing.labels.end());
    const auto subset = balancedSubset(lbl, classes, limit, seed, stream);
    if (!subset.empty()) {
        Listing picked;
        for (auto i : subset) {
            const auto b = listing.offsets[std::size_t(i)], e = listing.offsets[std::size_t(i) + 1];
            picked.names.append(listing.names, b, e - b);
            picked.offsets.push_back(picked.names.size());
            picked.labels.push_back(listing.labels[std::size_t(i)]);
        }
        listing = std::move(picked);
    }
    return std::make_shared<FolderSplit>(log, root, std::move(listing.names),
                                         std::move(listing.offsets), std::move(listing.labels),
                                         classes);
}

Result<Opened> openFolder(const DatasetOptions &o, Fnv &fnv)
{
    if (o.path.empty())
        return fail("imagefolder: no folder given; pass --data ROOT where ROOT holds "
                    "train/<class>/ and val/<class>/");
    const fs::path root = o.path;
    if (!isDir(root))
        return fail(root.string() + ": no such folder");
    const fs::path trainDir = root / "train";
    fs::path valDir = root / "val";
    if (!isDir(valDir) && isDir(root / "test"))
        valDir = root / "test";
    if (!isDir(trainDir) || !isDir(valDir))
        return fail(root.string() + ": expected an image folder with train/<class>/ and "
                    + "val/<class>/ (or test/<class>/) subfolders; missing "
                    + (!isDir(trainDir) ? trainDir.string() : valDir.string()));
    std::vector<std::string> classes;
    std::error_code ec;
    for (fs::directory_iterator it(trainDir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string n = it->path().filename().string();
        if (!n.empty() && n[0] != '.' && it->is_directory(ec))
            classes.push_back(n);
    }
    if (ec)
        return fail(trainDir.string() + ": cannot list: " + ec.message());
    if (classes.empty())
        return fail(trainDir.string() + ": no class folders (expected train/<class>/*.jpg)");
    std::sort(classes.begin(), classes.end());
    for (fs::directory_iterator it(valDir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string n = it->path().filename().string();
        if (!n.empty() && n[0] != '.' && it->is_directory(ec)
            && !std::binary_search(classes.begin(), classes.end(), n))
            return fail((valDir / n).string() + ": class folder not present in " + trainDir.string()
                        + " (the class list comes from train/)");
    }
    for (const auto &c : classes)
        fnv.add(c);
    auto train = listFolder(trainDir, classes, true, fnv);
    if (!train)
        return train.error();
    auto val = listFolder(valDir, classes, false, fnv);
    if (!val)
        return val.error();
    const int k = int(classes.size());
    Opened out;
    out.train = folderSplit(o.log, trainDir, std::move(train.value()), k, o.trainLimit, o.seed,
                            Stream::LimitTrain);
    out.test = folderSplit(o.log, valDir, std::move(val.value()), k, o.testLimit, o.seed,
                           Stream::LimitTest);
    out.info.name = "imagefolder";
    out.info.root = root.string();
    out.info.channels = 3;
    out.info.height = out.info.width = o.imageSide > 0 ? o.imageSide : 224;
    out.info.classes = k;
    out.info.classNames = classes;
    out.info.description = "image folder (JPEG/PNG, " + std::to_string(k) + " classes, "
                           + valDir.filename().string() + "/ as test split) at " + root.string();
    return out;
}

// ---- Synthetic ---------------------------------------------------------------------------------

Result<Opened> openSynthetic(const DatasetOptions &o)
{
    const int c = o.channels > 0 ? o.channels : 3;
    const int side = o.imageSide > 0 ? o.imageSide : 32;
    const int classes = o.classes > 0 ? o.classes : 10;
    const std::int64_t nTrain = o.syntheticTrain > 0 ? o.syntheticTrain : 2048;
    const std::int64_t nTest = o.syntheticTest > 0 ? o.syntheticTest : 512;
    if (c > 64 || side > 1024 || classes > 100000)
        return fail("synthetic: " + std::to_string(c) + " x " + std::to_string(side) + " x "
                    + std::to_string(side) + " with " + std::to_string(classes)
                    + " classes is outside the supported range (channels <= 64, side <= 1024)");
    const std::uint64_t per = std::uint64_t(c) * side * side;
    if (per * std::uint64_t(nTrain + nTest) > (std::uint64_t(2) << 30))
        return fail("synthetic: " + std::to_string(nTrain + nTest) + " images of "
                    + std::to_string(per) + " bytes would exceed 2 GiB");
    // Class templates: a few oriented sinusoids per channel, in [-1, 1].
    std::vector<float> templ(std::size_t(classes) * per);
    for (int k = 0; k < classes; ++k) {
        Rng rng(o.seed, Stream::SyntheticClass, std::uint64_t(k));
        for (int ch = 0; ch < c; ++ch) {
            float *t = templ.data() + std::size_t(k) * per + std::size_t(ch) * side * side;
            for (int comp = 0; comp < 3; ++comp) {
                const double fx = rng.uniform(-3, 3), fy = rng.uniform(-3, 3);
                const double phase = rng.uniform(0, 6.283185307179586);
                for (int y = 0; y < side; ++y)
                    for (int x = 0; x < side; ++x)
                        t[y * side + x] += float(
                            std::sin(6.283185307179586 * (fx * x + fy * y) / side + phase) / 3);
            }
        }
    }
    Opened out;
    for (int s = 0; s < 2; ++s) {
        const std::int64_t n = s == 0 ? nTrain : nTest;
        torch::Tensor images = torch::empty({n, c, side, side}, torch::kUInt8);
        std::uint8_t *dst = images.data_ptr<std::uint8_t>();
        std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i) {
            Rng rng(o.seed, s == 0 ? Stream::SyntheticTrain : Stream::SyntheticTest,
                    std::uint64_t(i));
            const int k = int(i % classes);
            labels[std::size_t(i)] = k;
            const double brightness = rng.uniform(-20, 20);
            const float *t = templ.data() + std::size_t(k) * per;
            for (std::uint64_t p = 0; p < per; ++p) {
                const double v = 128 + brightness + 70 * t[p] + 30 * rng.normal();
                dst[std::uint64_t(i) * per + p]
                    = std::uint8_t(std::lround(std::clamp(v, 0.0, 255.0)));
            }
        }
        const auto subset = balancedSubset(labels, classes, s == 0 ? o.trainLimit : o.testLimit,
                                           o.seed, s == 0 ? Stream::LimitTrain : Stream::LimitTest);
        (s == 0 ? out.train : out.test)
            = memorySplit(o.log, images, std::move(labels), classes, subset);
    }
    out.info.name = "synthetic";
    out.info.root = "";
    out.info.channels = c;
    out.info.height = out.info.width = side;
    out.info.classes = classes;
    for (int k = 0; k < classes; ++k)
        out.info.classNames.push_back("class " + std::to_string(k));
    out.info.description = "synthetic (seed " + std::to_string(o.seed) + ", "
                           + std::to_string(classes) + " classes of sinusoid patterns + noise)";
    return out;
}

class OpenedDataset : public data::Dataset
{
public:
    explicit OpenedDataset(Opened o)
        : m(std::move(o))
    {}
    const DatasetInfo &info() const override { return m.info; }
    std::shared_ptr<data::Split> train() const override { return m.train; }
    std::shared_ptr<data::Split> test() const override { return m.test; }

private:
    Opened m;
};

Result<Opened> openAny(const DatasetOptions &options)
{
    const std::string name = canonicalName(options.name);
    if (name.empty()) {
        std::string list;
        for (const auto &n : datasetNames())
            list += (list.empty() ? "" : ", ") + n;
        return fail("unknown dataset \"" + options.name + "\" (expected one of " + list + ")");
    }
    if (options.trainLimit < 0 || options.testLimit < 0)
        return fail("dataset limits must be >= 0 (0: all)");
    Fnv fnv;
    fnv.add(name);
    Result<Opened> opened = fail("");
    if (name == "cifar10" || name == "cifar100")
        opened = openCifar(options, name, fnv);
    else if (name == "imagefolder")
        opened = openFolder(options, fnv);
    else if (name == "synthetic") {
        opened = openSynthetic(options);
        for (std::int64_t v : {std::int64_t(options.channels), std::int64_t(options.imageSide),
                               std::int64_t(options.classes), options.syntheticTrain,
                               options.syntheticTest, std::int64_t(options.seed)})
            fnv.add(v);
    } else
        opened = openIdx(options, name, fnv);
    if (!opened)
        return opened;
    Opened &o = opened.value();
    o.info.trainSize = o.train->size();
    o.info.testSize = o.test->size();
    fnv.add(std::int64_t(o.info.height));
    fnv.add(options.trainLimit);
    fnv.add(options.testLimit);
    fnv.add(std::int64_t(options.cifar100Coarse));
    if (options.trainLimit > 0 || options.testLimit > 0)
        fnv.add(std::int64_t(options.seed));
    o.info.fingerprint = fnv.hex();
    if (options.log) {
        std::ostringstream s;
        s << o.info.description << ": " << o.info.trainSize << " train / " << o.info.testSize
          << " test images, " << o.info.channels << "x" << o.info.height << "x" << o.info.width
          << ", " << o.info.classes << " classes";
        if (options.trainLimit > 0 || options.testLimit > 0)
            s << " (class-balanced limits, seed " << options.seed << ")";
        options.log(LogLevel::Info, s.str());
    }
    return opened;
}

} // namespace

std::vector<std::string> datasetNames()
{
    return {"fashion-mnist", "mnist", "kmnist", "cifar10", "cifar100", "imagefolder", "synthetic"};
}

std::string defaultFashionMnistPath()
{
    return "/usr/share/datasets/fashion-mnist";
}

Result<DatasetInfo> probeDataset(const DatasetOptions &options)
{
    try {
        auto opened = openAny(options);
        if (!opened)
            return opened.error();
        return opened->info;
    } catch (const std::exception &e) {
        return fail(std::string("dataset: ") + e.what());
    }
}

namespace data {

Result<std::shared_ptr<Dataset>> Dataset::open(const DatasetOptions &options)
{
    try {
        auto opened = openAny(options);
        if (!opened)
            return opened.error();
        return std::shared_ptr<Dataset>(std::make_shared<OpenedDataset>(std::move(opened.value())));
    } catch (const std::exception &e) {
        return fail(std::string("dataset: ") + e.what());
    }
}

} // namespace data

} // namespace lw
