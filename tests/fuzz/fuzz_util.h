#pragma once
// What the fuzz targets share: a scratch folder of this process for readers that take paths,
// inputs cut into the several files a reader wants, and a check that stops on a broken promise
// (a crash for libFuzzer and for the replay test alike).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <unistd.h>

namespace lw::fuzz {

namespace fs = std::filesystem;

/// The input as text.
inline std::string_view text(const std::uint8_t *data, std::size_t size)
{
    return {reinterpret_cast<const char *>(data), size};
}

/// An empty scratch folder of this process, emptied on every call and removed at exit.
inline fs::path scratch()
{
    struct Dir
    {
        fs::path path = fs::temp_directory_path() / ("lw-fuzz-" + std::to_string(::getpid()));
        ~Dir()
        {
            std::error_code ec;
            fs::remove_all(path, ec);
        }
    };
    static const Dir dir;
    std::error_code ec;
    fs::remove_all(dir.path, ec);
    fs::create_directories(dir.path, ec);
    return dir.path;
}

inline void writeFile(const fs::path &path, std::string_view bytes)
{
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size()));
}

/// Readers that open several files get one input cut at every "LWFZ" (at most `maxParts`
/// parts; the last one keeps the rest), so that the fuzzer mutates all of them together.
inline std::vector<std::string_view> splitParts(std::string_view input, std::size_t maxParts)
{
    static constexpr std::string_view kSeparator = "LWFZ";
    std::vector<std::string_view> parts;
    while (parts.size() + 1 < maxParts) {
        const auto at = input.find(kSeparator);
        if (at == std::string_view::npos)
            break;
        parts.push_back(input.substr(0, at));
        input.remove_prefix(at + kSeparator.size());
    }
    parts.push_back(input);
    return parts;
}

inline bool isGzip(std::string_view bytes)
{
    return bytes.size() >= 2 && bytes[0] == '\x1f' && bytes[1] == '\x8b';
}

/// A promise the code under test made was broken: report and stop like a crash would.
[[noreturn]] inline void broken(const std::string &what)
{
    std::fprintf(stderr, "fuzz check failed: %s\n", what.c_str());
    std::abort();
}

inline void check(bool ok, const char *what)
{
    if (!ok)
        broken(what);
}

} // namespace lw::fuzz
