// CIFAR-10 and CIFAR-100 binary batches: record sizes and labels checked, class names from the
// batches' meta files when present.

#include "core/data/readers_p.h"
#include "core/util/fsutil.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>

namespace lw::data::detail {

namespace {

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

} // namespace

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
                    + (o.path.empty() ? "; give the dataset's folder" : ""));
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
    out.info.trainFile = trainFiles.front().string();
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

} // namespace lw::data::detail
