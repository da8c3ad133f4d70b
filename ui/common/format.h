#pragma once

#include <QString>

#include <cstdint>

namespace lw {

/// Exact integer with thousands separators: 33668106 -> "33,668,106" (locale independent).
QString formatGrouped(std::int64_t value);

/// Compact count with an SI suffix and three significant digits: 1234567 -> "1.23 M",
/// 950 -> "950", 3.63e9 -> "3.63 G".
QString formatCompact(double value);

/// Bytes in binary units: 1536 -> "1.50 KiB", 3 -> "3 B".
QString formatBytes(std::int64_t bytes);

/// A ratio such as 0.304 -> "0.30x".
QString formatRatio(double ratio);

} // namespace lw
