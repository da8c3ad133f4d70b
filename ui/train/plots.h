#pragma once

#include "core/events/events.h"
#include "ui/common/plotexport.h"
#include "ui/common/smoothing.h"

#include <qcustomplot.h>

#include <QString>
#include <QStringList>
#include <QTimer>
#include <QVector>

#include <map>
#include <vector>

namespace lw {

/// The stage timeline: x = cumulative epochs; each stage's test accuracy and the ensemble's
/// accuracy (percent) in the top panel, the training loss (including the running loss within
/// an epoch) in a panel below on the same x; stage boundaries and learning-rate decays as
/// labelled vertical lines; the legend under the panels lists the series that have data.
/// New points are buffered and drawn at most every 40 ms (addData + rpQueuedReplot). Zoom and
/// pan (mouse drag and wheel) are kept while points arrive; a double click resets the view.
class TimelinePlot : public QCustomPlot
{
    Q_OBJECT

public:
    explicit TimelinePlot(QWidget *parent = nullptr);

    /// Clears everything; `plannedEpochs` sets the x range (the whole run) until the user zooms.
    void reset(int plannedEpochs);
    /// A stage begins at `x`; `marker` draws its labelled boundary (greedy runs).
    void stageStarted(int stage, double x, bool marker = true);
    void addEpoch(const EpochMetrics &epoch);
    void addBatch(const BatchProgress &batch, double x);

    /// A thin smoothed trend (TensorBoard's EMA) over the bold recorded values.
    void setSmoothing(bool on);
    bool smoothing() const { return m_smoothing; }
    /// Back to the automatic range (the whole run, all values).
    void resetView();
    bool userView() const { return m_userView; }

    /// Test-accuracy points drawn for `stage` (after the pending ones were flushed).
    int pointCount(int stage) const;
    int stageCount() const { return static_cast<int>(m_stages.size()); }
    /// The labels of the vertical markers, left to right as added: "stage 2", "lr 0.01", ...
    QStringList markerLabels() const;
    /// Draws buffered points now (tests; normally a 40 ms timer does it).
    void flush();
    /// The epochs behind the plot: stage,epoch,step,train_loss,train_acc,test_loss,test_acc,
    /// ensemble_acc,lr,images_per_second,seconds.
    QString toCsv() const;

private:
    struct Series
    {
        QCPGraph *main = nullptr;     ///< the recorded values
        QCPGraph *smoothed = nullptr; ///< the smoothed trend over them (when smoothing is on)
        QVector<double> x, y, smooth;
        DebiasedEma ema{0.6}; ///< TensorBoard's default weight
        int flushed = 0;      ///< points handed to the graphs
    };
    Series makeSeries(const QString &name, const QColor &color, QCPAxis *valueAxis,
                      Qt::PenStyle style = Qt::SolidLine, bool scatter = true);
    void push(Series &s, double x, double y);
    void drawSeries(Series &s);
    void schedule();
    void autoRange();
    void addVerticalMarker(double x, const QString &label, const QColor &color, bool top);

    QCPAxisRect *m_lossRect = nullptr; ///< the loss panel under the accuracy
    QCPAxis *m_lossX = nullptr;
    QCPAxis *m_lossAxis = nullptr;
    std::vector<Series> m_stages; ///< test accuracy per stage
    Series m_ensemble;
    Series m_loss;
    std::vector<EpochMetrics> m_epochs;
    std::map<int, double> m_lastLr; ///< by stage
    QTimer m_timer;
    int m_planned = 0;
    double m_maxX = 0;
    bool m_smoothing = false;
    bool m_userView = false;
};

/// Accuracy by depth: after each stage, its head's final test accuracy, the ensemble's and the
/// linear probe's of every layer so far, as grouped bars by layer from 0 %.
class DepthPlot : public QCustomPlot
{
    Q_OBJECT

public:
    explicit DepthPlot(QWidget *parent = nullptr);

    void reset(int stages);
    void setStage(const StageFinished &stage);
    /// A later probe of the same layer replaces the earlier one.
    void setProbe(const ProbeResult &probe);
    /// Layers with a head accuracy.
    int layerCount() const { return static_cast<int>(m_head.size()); }
    int probeCount() const { return static_cast<int>(m_probe.size()); }
    /// layer,head_test_acc,ensemble_acc,probe_train_acc,probe_test_acc (empty when absent).
    QString toCsv() const;

private:
    void rebuild();

    int m_stages = 0;
    std::map<int, StageFinished> m_head;
    std::map<int, ProbeResult> m_probe;
    QCPBars *m_headBars = nullptr;
    QCPBars *m_ensembleBars = nullptr;
    QCPBars *m_probeBars = nullptr;
    QTimer m_timer;
};

} // namespace lw
