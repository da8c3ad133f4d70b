// Image folders (ImageNet layout): train/<class>/ and val/<class>/ listed up front, JPEG and PNG
// decoded on demand by the split; an image that cannot be decoded is logged once and skipped.

#include "core/data/codec.h"
#include "core/data/readers_p.h"

#include <algorithm>
#include <cctype>
#include <mutex>
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

} // namespace

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

} // namespace lw::data::detail
