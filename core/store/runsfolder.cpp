// The folder a store keeps its runs' files in, named after the store so that two stores in one
// folder never share it (a.sqlite: a.runs/; the default runs.sqlite keeps runs/), the marker that
// says which store owns it, and the adoption of the runs/ folder older versions used for every
// store, when it can only be this store's.
#include "core/store/runstore_p.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>

namespace fs = std::filesystem;

namespace lw {

namespace {

constexpr const char *kMarker = ".layerwise-store";

/// The first 100 bytes of `path` are an SQLite header whose application id is a run store's.
bool isRunStoreFile(const fs::path &path)
{
    std::ifstream f(path, std::ios::binary);
    char header[100] = {};
    if (!f.read(header, sizeof header))
        return false;
    if (std::string(header, 16) != std::string("SQLite format 3\0", 16))
        return false;
    std::uint32_t id = 0;
    for (int k = 0; k < 4; ++k)
        id = (id << 8) | static_cast<unsigned char>(header[68 + k]);
    return id == static_cast<std::uint32_t>(kApplicationId);
}

bool isNumber(const std::string &s)
{
    return !s.empty() && s.size() < 19 && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
    });
}

/// The store file the folder's marker names; empty when there is no marker.
std::string markedOwner(const fs::path &root)
{
    std::error_code ec;
    if (!fs::is_regular_file(fs::symlink_status(root / kMarker, ec)))
        return {};
    std::ifstream f(root / kMarker);
    std::string owner;
    std::getline(f, owner);
    return owner;
}

} // namespace

std::string runsFolderName(const std::string &storeFile)
{
    std::string name = fs::path(storeFile).filename().string();
    const std::string ext = ".sqlite";
    if (name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0)
        name.resize(name.size() - ext.size());
    return name == "runs" ? name : name + ".runs";
}

Result<void> RunStore::Impl::checkRunsFolderOwner() const
{
    const fs::path root = runsRoot();
    const std::string mine = fs::path(path).filename().string();
    const std::string owner = markedOwner(root);
    // A marker naming a store that is not here (the pair was renamed or copied together) gives
    // way; one naming a store beside this one is that store's folder.
    std::error_code ec;
    if (owner.empty() || owner == mine || owner.find('/') != std::string::npos
        || !fs::exists(fs::path(absDir) / owner, ec))
        return {};
    // Appended piece by piece: GCC 12 warns (-Wrestrict) on "literal" + std::string here.
    std::string message = "'";
    message += root.string();
    message += "' belongs to the run store '" + owner + "' in the same folder (its ";
    message += kMarker;
    message += " says so), not to '" + mine + "'; rename one of the two stores";
    return fail(message);
}

Result<void> RunStore::Impl::claimRunsFolder() const
{
    if (auto owner = checkRunsFolderOwner(); !owner)
        return owner;
    const fs::path root = runsRoot();
    const std::string mine = fs::path(path).filename().string();
    if (markedOwner(root) == mine)
        return {};
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec)
        return fail("cannot create the runs folder '" + root.string() + "': " + ec.message());
    std::ofstream(root / kMarker, std::ios::trunc) << mine << "\n";
    return {};
}

void RunStore::Impl::adoptLegacyRunsFolder()
{
    const fs::path dir = absDir;
    const fs::path own = runsRoot(), legacy = dir / "runs";
    std::error_code ec;
    if (own == legacy || fs::exists(fs::symlink_status(own, ec))
        || !fs::is_directory(fs::symlink_status(legacy, ec)))
        return; // nothing to adopt, or this store has its folder already
    // runs/ belongs by name to a runs.sqlite, or is claimed by a store.
    if (fs::exists(dir / "runs.sqlite", ec) || fs::exists(legacy / kMarker, ec))
        return;
    // Another run store in this folder may own it: then it is not this one's to take.
    const std::string mine = fs::path(path).filename().string();
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        if (it->path().filename() != mine && it->is_regular_file(ec) && isRunStoreFile(it->path()))
            return;
    // Every entry is the folder of one of this store's runs, none of them running now.
    std::set<std::string> ids;
    try {
        SQLite::Statement q(*db, "SELECT id, status FROM runs");
        while (q.executeStep()) {
            if (q.getColumn(1).getString() == "running")
                return;
            ids.insert(std::to_string(q.getColumn(0).getInt64()));
        }
    } catch (const std::exception &) {
        return;
    }
    for (fs::directory_iterator it(legacy, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!isNumber(name) || !ids.count(name) || it->is_symlink(ec) || !it->is_directory(ec))
            return;
    }
    if (ec)
        return;
    // A rename within one folder: atomic, and it never replaces a folder that holds anything.
    fs::rename(legacy, own, ec);
    if (!ec)
        std::ofstream(own / kMarker) << mine << "\n";
}

} // namespace lw
