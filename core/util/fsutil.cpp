#include "core/util/fsutil.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace lw {

namespace {

std::string errnoText(const std::string &what, const std::string &path)
{
    return what + " '" + path + "': " + std::strerror(errno);
}

} // namespace

Result<void> writeFileAtomic(const std::string &path, std::string_view bytes)
{
    return writeFileAtomic(path, bytes, {});
}

Result<void> writeFileAtomic(const std::string &path, std::string_view bytes,
                             const std::function<bool()> &cancelled)
{
    namespace fs = std::filesystem;
    const fs::path target(path);
    // Renaming over a device node, FIFO or socket would replace it (as root: /dev/null).
    std::error_code ec;
    const auto st = fs::symlink_status(target, ec);
    if (!ec && fs::exists(st) && !fs::is_regular_file(st) && !fs::is_symlink(st))
        return fail("'" + path + "' exists and is not a regular file; choose another path");
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    // Built by appending: GCC 12 warns falsely (-Wrestrict) on "." + std::string&&.
    std::string name(".");
    name += target.filename().string();
    name += ".tmpXXXXXX";
    std::string tmp = (dir / name).string();
    int fd = ::mkstemp(tmp.data());
    if (fd < 0)
        return fail(errnoText("cannot create a temporary file for", path));
    // Chunks of 8 MiB: each is handed to the disk as soon as it is written and the one before
    // waited for, so the dirty pages stay few, the final fsync is short, and `cancelled` is
    // asked every chunk (a 1.7 GB checkpoint used to sit minutes in write and fsync).
    constexpr std::size_t kChunk = 8u << 20;
    std::size_t done = 0, synced = 0;
    while (done < bytes.size()) {
        if (cancelled && cancelled()) {
            ::close(fd);
            ::unlink(tmp.c_str());
            return fail("writing '" + path + "' was cancelled; the file is as it was");
        }
        const std::size_t end = std::min(bytes.size(), done + kChunk);
        while (done < end) {
            ssize_t n = ::write(fd, bytes.data() + done, end - done);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                auto err = errnoText("cannot write", path);
                ::close(fd);
                ::unlink(tmp.c_str());
                return fail(err);
            }
            done += static_cast<std::size_t>(n);
        }
#ifdef SYNC_FILE_RANGE_WRITE
        if (cancelled) {
            // Start this chunk's writeback, then wait for the previous chunk's: at most two
            // chunks in flight.
            ::sync_file_range(fd, off_t(synced), off_t(done - synced), SYNC_FILE_RANGE_WRITE);
            if (synced > 0)
                ::sync_file_range(fd, off_t(synced - std::min(synced, kChunk)),
                                  off_t(std::min(synced, kChunk)),
                                  SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE
                                      | SYNC_FILE_RANGE_WAIT_AFTER);
            synced = done;
        }
#endif
    }
    (void)synced;
    if (::fsync(fd) != 0) {
        auto err = errnoText("cannot flush", path);
        ::close(fd);
        ::unlink(tmp.c_str());
        return fail(err);
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        auto err = errnoText("cannot rename the temporary file onto", path);
        ::unlink(tmp.c_str());
        return fail(err);
    }
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return {};
}

Result<std::string> readFile(const std::string &path, std::uint64_t maxBytes)
{
    std::error_code ec;
    auto status = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(status))
        return fail("'" + path + "': no such file");
    if (std::filesystem::is_directory(status))
        return fail("'" + path + "': is a folder, expected a file");
    auto size = std::filesystem::file_size(path, ec);
    if (ec)
        return fail("'" + path + "': cannot read its size: " + ec.message());
    if (size > maxBytes)
        return fail("'" + path + "': " + std::to_string(size) + " bytes, more than the "
                    + std::to_string(maxBytes) + " expected for this kind of file");
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return fail(errnoText("cannot open", path));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad())
        return fail(errnoText("cannot read", path));
    return ss.str();
}

std::string defaultDataDir()
{
    if (const char *xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg)
        return std::string(xdg) + "/layerwise";
    if (const char *home = std::getenv("HOME"); home && *home)
        return std::string(home) + "/.local/share/layerwise";
    return ".layerwise";
}

} // namespace lw
