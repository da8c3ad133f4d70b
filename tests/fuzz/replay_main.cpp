// The replay driver of the normal build: feeds every file named on the command line (folders:
// every regular file below them, except those under a folder named "open", the crashes not
// fixed yet) to the target's LLVMFuzzerTestOneInput once. libFuzzer builds have their own main.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size);

namespace fs = std::filesystem;

int main(int argc, char **argv)
{
    std::vector<fs::path> files;
    for (int i = 1; i < argc; ++i) {
        const fs::path arg = argv[i];
        if (!fs::is_directory(arg)) {
            files.push_back(arg);
            continue;
        }
        for (auto it = fs::recursive_directory_iterator(arg); it != fs::end(it); ++it) {
            if (it->is_directory() && it->path().filename() == "open")
                it.disable_recursion_pending();
            else if (it->is_regular_file() && it->path().filename() != "README.md")
                files.push_back(it->path());
        }
    }
    std::sort(files.begin(), files.end());
    for (const auto &file : files) {
        std::ifstream in(file, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "cannot read %s\n", file.c_str());
            return 1;
        }
        const std::vector<char> bytes{std::istreambuf_iterator<char>(in), {}};
        std::printf("replaying %s (%zu bytes)\n", file.c_str(), bytes.size());
        std::fflush(stdout);
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t *>(bytes.data()), bytes.size());
    }
    std::printf("replayed %zu inputs\n", files.size());
    return files.empty() ? 1 : 0;
}
