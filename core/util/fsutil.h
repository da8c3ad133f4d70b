#pragma once

#include "core/util/result.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace lw {

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename, fsync of the
/// folder. Either the old or the new content is there after a crash, never a mix.
Result<void> writeFileAtomic(const std::string &path, std::string_view bytes);

/// Reads a whole file; fails with the path and the reason (missing, unreadable, larger than
/// `maxBytes`).
Result<std::string> readFile(const std::string &path, std::uint64_t maxBytes = 64ull << 20);

/// $XDG_DATA_HOME/layerwise (default ~/.local/share/layerwise); not created.
std::string defaultDataDir();

} // namespace lw
