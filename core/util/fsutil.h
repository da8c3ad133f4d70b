#pragma once

#include "core/util/result.h"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace lw {

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename, fsync of the
/// folder. Either the old or the new content is there after a crash, never a mix.
Result<void> writeFileAtomic(const std::string &path, std::string_view bytes);

/// The same, written in chunks of a few MiB, each pushed to the disk before the next, asking
/// `cancelled` between them: when it answers true the temporary file is removed, `path` is left
/// as it was and the result is an error saying the write was cancelled. A large checkpoint thus
/// stops within about one chunk's write time of Ctrl+C.
Result<void> writeFileAtomic(const std::string &path, std::string_view bytes,
                             const std::function<bool()> &cancelled);

/// Reads a whole file; fails with the path and the reason (missing, unreadable, larger than
/// `maxBytes`).
Result<std::string> readFile(const std::string &path, std::uint64_t maxBytes = 64ull << 20);

/// $XDG_DATA_HOME/layerwise (default ~/.local/share/layerwise); not created.
std::string defaultDataDir();

} // namespace lw
