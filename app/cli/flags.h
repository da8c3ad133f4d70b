#pragma once

// The checks every flag of layerwise-cli shares, so that `train`, `resume`, `probe`, `data info`,
// `doctor` and `runs` refuse the same bad values the same way (exit 2, naming the flag): numbers
// that are not finite decimal numbers, that overflow their type or leave their range (CLI11's own
// conversion clamps 99999999999999999999 and its range checks pass NaN), and empty paths.

#include <CLI/CLI.hpp>

#include <cstdint>
#include <limits>

namespace lw::cli {

/// A decimal integer from `lo` to `hi`.
CLI::Validator integerIn(std::int64_t lo,
                         std::int64_t hi = std::numeric_limits<std::int64_t>::max());

/// A finite decimal number from `lo` (excluded when `lowOpen`) to `hi`.
CLI::Validator numberIn(double lo, double hi, bool lowOpen = false);

/// The most `--threads` accepted: 4 x the hardware threads, at most 1024 (10,000 threads spent
/// 258 s of CPU where 4 took 4.6).
int maxThreads();

/// `--threads`: 0 (all cores) to maxThreads().
CLI::Validator threadCount();

/// Adds the shared checks to every option of `app` and its subcommands; call it once every
/// command is registered. Integer options take decimal integers within their type (int64 or
/// uint64; narrower types are range-checked by CLI11's conversion), floating-point options
/// finite numbers, and the path options (--db, --data, --spec, --out, --init-from) a non-empty
/// path.
void checkEveryOption(CLI::App &app);

} // namespace lw::cli
