#include "ui/common/smoothing.h"

#include <cmath>
#include <limits>

namespace lw {

double DebiasedEma::push(double y)
{
    if (std::isnan(y))
        return std::numeric_limits<double>::quiet_NaN();
    m_last = m_last * m_weight + (1.0 - m_weight) * y;
    ++m_count;
    return m_last / (1.0 - std::pow(m_weight, m_count));
}

void DebiasedEma::reset()
{
    m_last = 0;
    m_count = 0;
}

QVector<double> smoothSeries(const QVector<double> &v, const QVector<int> &stage, double weight)
{
    QVector<double> out(v.size());
    DebiasedEma ema(weight);
    for (int i = 0; i < v.size(); ++i) {
        if (i > 0 && i < stage.size() && stage[i] != stage[i - 1])
            ema.reset();
        out[i] = ema.push(v[i]);
    }
    return out;
}

} // namespace lw
