#pragma once

#include <functional>
#include <string>

namespace lw {

enum class LogLevel { Info, Warning, Error };

/// Receives the engine's messages (what a reader found, decisions such as the feature cache, and
/// warnings). May be called from worker threads; implementations must be thread-safe.
using LogFn = std::function<void(LogLevel, const std::string &)>;

inline const char *logLevelName(LogLevel level)
{
    switch (level) {
    case LogLevel::Info: return "info";
    case LogLevel::Warning: return "warning";
    case LogLevel::Error: return "error";
    }
    return "info";
}

} // namespace lw
