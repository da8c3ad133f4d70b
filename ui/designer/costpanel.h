#pragma once

#include "core/spec/spec.h"
#include "ui/designer/trainingcost.h"

#include <QWidget>

#include <optional>

class QCustomPlot;
class QCPBars;
class QLabel;
class QTableWidget;

namespace lw {

/// Costs of the designed network: per stage and cumulative parameters, MACs and activation
/// memory per sample, and the greedy-versus-end-to-end training cost estimate (trainingcost.h),
/// as a table, a totals line and a bar chart of each stage's greedy epoch cost.
class CostPanel : public QWidget
{
    Q_OBJECT

public:
    explicit CostPanel(QWidget *parent = nullptr);

    /// `summary` covers the stages whose shapes are known (all of them when the spec is valid);
    /// nullopt when none are.
    void showCosts(const Spec &spec, const std::optional<SpecSummary> &summary, bool valid);

    QTableWidget *table() const { return m_table; }
    QCustomPlot *chart() const { return m_chart; }
    QString totalsText() const;
    /// The last estimate shown (empty when the spec is invalid).
    const std::optional<TrainingCost> &trainingCost() const { return m_cost; }

private:
    QLabel *m_totals = nullptr;
    QTableWidget *m_table = nullptr;
    QCustomPlot *m_chart = nullptr;
    QCPBars *m_uncached = nullptr;
    QCPBars *m_cached = nullptr;
    std::optional<TrainingCost> m_cost;
};

} // namespace lw
