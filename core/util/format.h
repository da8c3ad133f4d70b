#pragma once

#include <cstdint>
#include <string>

namespace lw {

// The one set of number formatters for what a person reads (CLI tables and progress, log lines,
// GUI labels). Machine output (JSON, CSV) prints plain numbers instead.

/// 12.3 -> "12.3 s", 185 -> "3 min 05 s", 3725 -> "1 h 02 min"; "-" for a negative or NaN value.
std::string formatDuration(double seconds);
/// Binary units, three significant digits: 3 -> "3 B", 1536 -> "1.50 KiB", 786432 -> "768 KiB".
std::string formatBytes(std::int64_t bytes);
/// Exact integer with thousands separators: 33668106 -> "33,668,106" (locale independent).
std::string formatGrouped(std::int64_t value);
/// Compact count with an SI suffix and three significant digits: 1234567 -> "1.23 M",
/// 950 -> "950", 3.63e9 -> "3.63 G".
std::string formatCompact(double value);
/// A fraction as a percentage: 0.9123 -> "91.23 %" (decimals 2); "-" for NaN.
std::string formatPercent(double fraction, int decimals = 2);

} // namespace lw
