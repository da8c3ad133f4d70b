#pragma once

#include <QVector>

namespace lw {

/// TensorBoard's debiased exponential moving average: s_n = w s_{n-1} + (1 - w) y_n divided by
/// (1 - w^n), so the first points are not pulled towards zero. NaN values pass through as NaN and
/// do not advance the average. The one smoothing of the Train and Runs views.
class DebiasedEma
{
public:
    explicit DebiasedEma(double weight = 0.6)
        : m_weight(weight)
    {}
    /// Adds y and returns the smoothed value at it.
    double push(double y);
    /// Starts over (a new stage, a new run).
    void reset();
    double weight() const { return m_weight; }

private:
    double m_weight;
    double m_last = 0;
    int m_count = 0;
};

/// The smoothed series of v, restarted wherever stage[i] differs from stage[i - 1] (pass an empty
/// stage vector for one segment).
QVector<double> smoothSeries(const QVector<double> &v, const QVector<int> &stage, double weight);

} // namespace lw
