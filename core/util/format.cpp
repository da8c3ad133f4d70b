#include "core/util/format.h"

#include <cmath>
#include <cstdio>

namespace lw {

namespace {

std::string printf1(const char *format, double v)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

std::string threeSignificant(double v)
{
    if (v >= 99.95)
        return printf1("%.0f", v);
    if (v >= 9.995)
        return printf1("%.1f", v);
    return printf1("%.2f", v);
}

} // namespace

std::string formatDuration(double seconds)
{
    if (!(seconds >= 0))
        return "-";
    char buf[64];
    if (seconds < 59.95) {
        std::snprintf(buf, sizeof buf, "%.1f s", seconds);
    } else if (seconds < 3599.5) {
        const long s = std::lround(seconds);
        std::snprintf(buf, sizeof buf, "%ld min %02ld s", s / 60, s % 60);
    } else {
        const long m = std::lround(seconds / 60.0);
        std::snprintf(buf, sizeof buf, "%ld h %02ld min", m / 60, m % 60);
    }
    return buf;
}

std::string formatBytes(std::int64_t bytes)
{
    static const char *const units[] = {" KiB", " MiB", " GiB", " TiB", " PiB"};
    if (bytes < 1024)
        return std::to_string(bytes) + " B";
    double v = double(bytes) / 1024.0;
    int i = 0;
    while (v >= 1023.5 && i < 4) {
        v /= 1024.0;
        ++i;
    }
    return threeSignificant(v) + units[i];
}

std::string formatGrouped(std::int64_t value)
{
    const bool negative = value < 0;
    std::string digits = std::to_string(negative ? -(value + 1) + 1ull : std::uint64_t(value));
    for (int i = int(digits.size()) - 3; i > 0; i -= 3)
        digits.insert(std::size_t(i), 1, ',');
    return negative ? "-" + digits : digits;
}

std::string formatCompact(double value)
{
    if (std::isnan(value))
        return "-";
    static const char *const suffixes[] = {"", " k", " M", " G", " T", " P"};
    double v = std::fabs(value);
    int i = 0;
    while (v >= 999.5 && i < 5) {
        v /= 1000.0;
        ++i;
    }
    std::string text = i == 0 ? printf1("%.0f", v) : threeSignificant(v);
    text += suffixes[i];
    return value < 0 ? "-" + text : text;
}

std::string formatPercent(double fraction, int decimals)
{
    if (std::isnan(fraction))
        return "-";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f %%", decimals, fraction * 100.0);
    return buf;
}

} // namespace lw
