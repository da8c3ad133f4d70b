#include "core/events/pictures.h"

#include <limits>

namespace lw {

std::int64_t ConfusionMatrix::total() const
{
    std::int64_t n = 0;
    for (auto c : counts)
        n += c;
    return n;
}

std::int64_t ConfusionMatrix::correct() const
{
    std::int64_t n = 0;
    for (int c = 0; c < classes; ++c)
        n += at(c, c);
    return n;
}

double ConfusionMatrix::accuracy() const
{
    const auto n = total();
    return n > 0 ? double(correct()) / double(n) : 0.0;
}

std::vector<double> ConfusionMatrix::perClassAccuracy() const
{
    std::vector<double> acc(std::size_t(classes), std::numeric_limits<double>::quiet_NaN());
    for (int t = 0; t < classes; ++t) {
        std::int64_t row = 0;
        for (int p = 0; p < classes; ++p)
            row += at(t, p);
        if (row > 0)
            acc[std::size_t(t)] = double(at(t, t)) / double(row);
    }
    return acc;
}

std::string className(const std::vector<std::string> &names, int c)
{
    if (c >= 0 && std::size_t(c) < names.size() && !names[std::size_t(c)].empty())
        return names[std::size_t(c)];
    return "class " + std::to_string(c);
}

} // namespace lw
