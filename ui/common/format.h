#pragma once

#include "core/events/events.h"

#include <QString>

#include <cstdint>

namespace lw {

// The core formatters (core/util/format.h) and mode labels (core/events/events.h) as QStrings
// for widgets, so that the GUI, the CLI and the log lines print the same text.

/// Exact integer with thousands separators: 33668106 -> "33,668,106".
QString groupedText(std::int64_t value);
/// Compact count with an SI suffix: 1234567 -> "1.23 M".
QString compactText(double value);
/// Bytes in binary units: 1536 -> "1.50 KiB".
QString bytesText(std::int64_t bytes);
/// 12.3 -> "12.3 s", 185 -> "3 min 05 s"; "-" for a negative or NaN value.
QString durationText(double seconds);
/// 0.9123 -> "91.23 %"; "-" for NaN.
QString percentText(double fraction);
/// "greedy layerwise", "end-to-end", "decoupled (DGL)".
QString modeText(TrainMode mode);
/// "running", "paused", "finished", "failed", "stopped", "interrupted" (statusLabel).
QString statusText(RunStatus status, bool paused = false);
/// A ratio such as 0.304 -> "0.30x".
QString formatRatio(double ratio);

} // namespace lw
