// Image folders (ImageNet layout): train/<class>/ and val/<class>/ listed up front, each file
// checked to decode when listed (bad ones are left out and counted), JPEG and PNG decoded on
// demand by the split. An image that stops decoding later (changed during a run) is logged once
// and dropped from its batch by the loader.

#include "core/data/codec.h"
#include "core/data/readers_p.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

namespace lw::data::detail {

namespace {

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

/// A file or folder by device and inode: what tells a link loop or a second link apart.
using NodeId = std::pair<std::uint64_t, std::uint64_t>;

struct NodeHash
{
    std::size_t operator()(const NodeId &n) const
    {
        return std::hash<std::uint64_t>()(n.first * 31 + n.second);
    }
};

/// The image files under `classDir`, relative to `splitDir`. Directory links are followed (a
/// class folder assembled from links elsewhere is common), except one into this split outside
/// the class folder (it would relabel another class's images), and every folder and file is
/// taken once by (device, inode): a link loop ends where it closes and a second link to the same
/// folder or file adds nothing.
Result<std::vector<std::string>> collectImages(const fs::path &classDir, const fs::path &splitDir)
{
    constexpr int kMaxDepth = 64; // deeper trees are not image datasets; bounds the path length
    std::vector<std::string> files;
    std::unordered_set<NodeId, NodeHash> seenDirs, seenFiles;
    auto nodeOf = [](const fs::path &p, bool &dir, bool &file) {
        struct stat st
        {};
        if (::stat(p.c_str(), &st) != 0)
            return std::optional<NodeId>();
        dir = S_ISDIR(st.st_mode);
        file = S_ISREG(st.st_mode);
        return std::optional<NodeId>(NodeId(std::uint64_t(st.st_dev), std::uint64_t(st.st_ino)));
    };
    std::error_code ec;
    const fs::path splitReal = fs::weakly_canonical(splitDir, ec);
    const fs::path classReal = fs::weakly_canonical(classDir, ec);
    auto within = [](const fs::path &p, const fs::path &base) {
        const fs::path rel = p.lexically_relative(base);
        return !rel.empty() && *rel.begin() != "..";
    };
    auto relabels = [&](const fs::path &link) {
        std::error_code e;
        const fs::path target = fs::weakly_canonical(link, e);
        return e || (within(target, splitReal) && !within(target, classReal));
    };
    std::vector<std::pair<fs::path, int>> stack;
    bool dir = false, file = false;
    if (auto id = nodeOf(classDir, dir, file); id && dir) {
        seenDirs.insert(*id);
        stack.emplace_back(classDir, 0);
    }
    while (!stack.empty()) {
        const auto [folder, depth] = stack.back();
        stack.pop_back();
        fs::directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec);
        for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
            const fs::path &p = it->path();
            const auto id = nodeOf(p, dir, file); // dangling links and races: skipped
            if (!id)
                continue;
            if (dir) {
                std::error_code e;
                if (depth < kMaxDepth && !(it->is_symlink(e) && relabels(p))
                    && seenDirs.insert(*id).second)
                    stack.emplace_back(p, depth + 1);
            }
            if (file && isImageName(p) && seenFiles.insert(*id).second)
                files.push_back(p.lexically_relative(splitDir).string());
        }
        if (ec)
            return fail(folder.string() + ": cannot list: " + ec.message());
    }
    return files;
}

/// Lists `splitDir`/<class>/**/*.{jpg,jpeg,png} (case-insensitive), sorted within each class.
Result<Listing> listFolder(const fs::path &splitDir, const std::vector<std::string> &classes,
                           bool requireEveryClass)
{
    Listing out;
    out.perClass.assign(classes.size(), 0);
    for (std::size_t k = 0; k < classes.size(); ++k) {
        const fs::path classDir = splitDir / classes[k];
        auto files = collectImages(classDir, splitDir);
        if (!files)
            return files.error();
        if (files->empty() && requireEveryClass)
            return fail(classDir.string() + ": a folder with no images (expected *.jpg, "
                        + "*.jpeg or *.png files; every class folder needs at least one)");
        std::sort(files->begin(), files->end());
        for (const auto &f : *files) {
            out.names += f;
            out.offsets.push_back(out.names.size());
            out.labels.push_back(std::int32_t(k));
        }
        out.perClass[k] = std::int64_t(files->size());
    }
    if (out.labels.empty())
        return fail(splitDir.string() + ": a folder with no images (expected <class>/*.jpg, "
                    + "*.jpeg or *.png under it)");
    return out;
}

std::string nameAt(const Listing &l, std::size_t i)
{
    return l.names.substr(l.offsets[i], l.offsets[i + 1] - l.offsets[i]);
}

/// The one policy for images that cannot be decoded, on every path (train and test split, with
/// or without the feature cache, data info): each file is decoded once here, when the folder is
/// listed, and a bad one is left out of the split, so every later pass sees the same samples.
/// The count and the first bad file are logged; a class or split left empty is an error.
/// Returns how many were skipped.
Result<std::int64_t> dropUndecodable(const fs::path &splitDir, Listing &l,
                                     const std::vector<std::string> &classes, const LogFn &log)
{
    const std::size_t n = l.labels.size();
    std::vector<std::string> errors(n);
    std::atomic<std::size_t> next{0};
    auto work = [&] {
        for (std::size_t i; (i = next.fetch_add(1)) < n;) {
            auto r = data::checkImageFile((splitDir / nameAt(l, i)).string());
            if (!r)
                errors[i] = r.message();
        }
    };
    const std::size_t threads
        = std::min<std::size_t>(n, std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
    std::vector<std::thread> pool;
    for (std::size_t t = 1; t < threads; ++t)
        pool.emplace_back(work);
    work();
    for (auto &t : pool)
        t.join();
    Listing kept;
    kept.perClass.assign(classes.size(), 0);
    std::vector<std::string> firstBad(classes.size());
    std::string first;
    std::int64_t skipped = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const auto k = std::size_t(l.labels[i]);
        if (!errors[i].empty()) {
            ++skipped;
            if (first.empty())
                first = errors[i];
            if (firstBad[k].empty())
                firstBad[k] = errors[i];
            continue;
        }
        kept.names += nameAt(l, i);
        kept.offsets.push_back(kept.names.size());
        kept.labels.push_back(l.labels[i]);
        ++kept.perClass[k];
    }
    for (std::size_t k = 0; k < classes.size(); ++k)
        if (l.perClass[k] > 0 && kept.perClass[k] == 0)
            return fail((splitDir / classes[k]).string() + ": none of its "
                        + std::to_string(l.perClass[k])
                        + " images can be decoded, so the class would be empty (first: "
                        + firstBad[k] + ")");
    if (skipped > 0 && log)
        log(LogLevel::Warning, splitDir.string() + ": skipped " + std::to_string(skipped) + " of "
                                   + std::to_string(n)
                                   + " images that cannot be decoded (first: " + first + ")");
    l = std::move(kept);
    return skipped;
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

} // namespace

Result<Opened> openFolder(const DatasetOptions &o, Fnv &fnv)
{
    if (o.path.empty())
        return fail("imagefolder: no folder given; give the dataset's folder, the one that "
                    "holds train/<class>/ and val/<class>/");
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
    auto train = listFolder(trainDir, classes, true);
    if (!train)
        return train.error();
    auto val = listFolder(valDir, classes, false);
    if (!val)
        return val.error();
    auto trainSkipped = dropUndecodable(trainDir, *train, classes, o.log);
    if (!trainSkipped)
        return trainSkipped.error();
    auto valSkipped = dropUndecodable(valDir, *val, classes, o.log);
    if (!valSkipped)
        return valSkipped.error();
    for (const Listing *l : {&train.value(), &val.value()})
        for (std::size_t i = 0; i + 1 < l->offsets.size(); ++i)
            fnv.add(nameAt(*l, i));
    const int k = int(classes.size());
    Opened out;
    out.info.trainSkipped = *trainSkipped;
    out.info.testSkipped = *valSkipped;
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
                           + valDir.filename().string() + "/ as test split";
    if (*trainSkipped + *valSkipped > 0)
        out.info.description
            += ", " + std::to_string(*trainSkipped + *valSkipped) + " undecodable images skipped";
    out.info.description += ") at " + root.string();
    return out;
}

} // namespace lw::data::detail
