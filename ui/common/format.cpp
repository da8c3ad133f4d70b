#include "ui/common/format.h"

#include <cmath>

namespace lw {

QString formatGrouped(std::int64_t value)
{
    const bool negative = value < 0;
    QString digits = QString::number(negative ? -value : value);
    for (int i = digits.size() - 3; i > 0; i -= 3)
        digits.insert(i, QLatin1Char(','));
    return negative ? QLatin1Char('-') + digits : digits;
}

static QString threeSignificant(double v)
{
    if (v >= 100.0)
        return QString::number(v, 'f', 0);
    if (v >= 10.0)
        return QString::number(v, 'f', 1);
    return QString::number(v, 'f', 2);
}

QString formatCompact(double value)
{
    static const char *const suffixes[] = {"", " k", " M", " G", " T", " P"};
    double v = std::abs(value);
    int i = 0;
    while (v >= 999.5 && i < 5) {
        v /= 1000.0;
        ++i;
    }
    QString text = i == 0 ? QString::number(std::llround(v)) : threeSignificant(v);
    text += QLatin1String(suffixes[i]);
    return value < 0 ? QLatin1Char('-') + text : text;
}

QString formatBytes(std::int64_t bytes)
{
    static const char *const units[] = {" KiB", " MiB", " GiB", " TiB"};
    if (bytes < 1024)
        return QString::number(bytes) + QLatin1String(" B");
    double v = double(bytes) / 1024.0;
    int i = 0;
    while (v >= 1023.5 && i < 3) {
        v /= 1024.0;
        ++i;
    }
    return threeSignificant(v) + QLatin1String(units[i]);
}

QString formatRatio(double ratio)
{
    return QString::number(ratio, 'f', 2) + QLatin1Char('x');
}

} // namespace lw
