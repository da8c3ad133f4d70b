// Dataset::open and probeDataset: dataset names, the fingerprint of what was read, and the
// in-memory split and class-balanced limits every reader applies. The readers are in idx.cpp,
// cifar.cpp, imagefolder.cpp and synthetic.cpp; every file is untrusted: sizes are checked before
// anything is allocated.

#include "core/data/readers_p.h"
#include "core/spec/spec.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <numeric>
#include <sstream>

namespace lw {

namespace data::detail {

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

} // namespace data::detail

namespace {

using data::detail::Fnv;
using data::detail::openCifar;
using data::detail::Opened;
using data::detail::openFolder;
using data::detail::openIdx;
using data::detail::openSynthetic;

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

Result<void> checkInputShape(const DatasetInfo &info, int height, int width, bool resizes)
{
    if (resizes || info.name == "imagefolder" || info.name == "synthetic"
        || (info.height == height && info.width == width))
        return {};
    return fail((info.trainFile.empty() ? info.root : info.trainFile) + ": the images are "
                + std::to_string(info.height) + " x " + std::to_string(info.width)
                + " but the spec's input is " + std::to_string(height) + " x "
                + std::to_string(width)
                + " (input.height x input.width); set the input to the data's size, or resize "
                  "explicitly in the recipe (augment.random_resized_crop or eval_resize)");
}

std::string defaultFashionMnistPath()
{
    return "/usr/share/datasets/fashion-mnist";
}

DatasetOptions datasetOptionsFor(const Spec &spec)
{
    DatasetOptions o;
    o.name = spec.recipe.dataset.name;
    o.path = spec.recipe.dataset.path;
    o.trainLimit = spec.recipe.dataset.trainLimit;
    o.testLimit = spec.recipe.dataset.testLimit;
    o.seed = spec.recipe.seed;
    o.imageSide = spec.input.height;
    if (o.name == "synthetic") {
        o.channels = spec.input.channels;
        o.classes = spec.input.classes;
        o.syntheticTrain = o.trainLimit;
        o.syntheticTest = o.testLimit;
    }
    return o;
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
