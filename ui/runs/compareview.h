#pragma once

#include "core/store/runstore.h"
#include "ui/runs/comparemodel.h"
#include "ui/runs/configdiff.h"

#include <QColor>
#include <QHash>
#include <QList>
#include <QWidget>

#include <memory>

class QCPAbstractItem;
class QCPGraph;
class QCheckBox;
class QLabel;
class QComboBox;
class QSlider;
class QSplitter;
class QCustomPlot;
class QTableWidget;
class QTimer;
class QTreeWidget;
class QTreeWidgetItem;

namespace lw {

/// Compares runs side by side: curves on one stage timeline (x = step), accuracy by depth
/// (head / ensemble / probe per layer), the config fields that differ and a summary table.
/// The data come from a CompareModel; this class draws them (compareplots.h, comparetables.h)
/// and holds the display options. Each run has one colour, stored with the run (RunStore::
/// setColour): a run compared for the first time gets the first Okabe-Ito colour no other
/// compared run has, so colours stay the same across restarts; setRunColor changes it. Every
/// plot, table and legend uses it, and the curves' legend names the runs. refresh() reads only
/// epochs recorded since the last read and keeps the user's zoom. GUI thread only.
class RunCompareView : public QWidget
{
    Q_OBJECT

public:
    /// What the curves plot shows.
    enum class Curves { TestAndEnsemble, Test, Ensemble, Train, Loss };
    /// A curve of one run (raw values, not smoothed): test/ensemble/train accuracy, losses.
    using Series = CompareSeries;
    /// What the curves' x axis counts.
    using Axis = CompareAxis;

    explicit RunCompareView(QWidget *parent = nullptr);
    ~RunCompareView() override;

    void setStore(std::shared_ptr<RunStore> store);
    /// Compares these runs (in this order); runs already shown keep their data and colour.
    void setRuns(const QList<qint64> &ids);
    /// What the view says while no run is selected.
    void setEmptyText(const QString &text);
    QList<qint64> runs() const;
    /// The compared runs' data (no widgets).
    const CompareModel &model() const { return m_model; }
    /// Reads new epochs and run summaries of the compared runs; replots what changed.
    void refresh();
    /// True while the curves of newly selected runs are still being read: setRuns() reads
    /// for at most kSyncLoadMs, then goes on in small slices from the event loop so that the
    /// view stays responsive with many long runs.
    bool isLoading() const;
    /// Reads every pending curve now.
    void finishLoading();
    static constexpr int kSyncLoadMs = 150;

    QColor runColor(qint64 id) const;
    /// Changes run `id`'s colour here and in the store (when writable).
    void setRunColor(qint64 id, const QColor &color);

    void setCurves(Curves curves);
    void setAxis(Axis axis);
    Axis axis() const { return m_axis; }
    /// EMA weight in [0, 0.99] (TensorBoard's), restarted at each stage; 0 = off (the
    /// default). The recorded values stay the bold line; the smoothed trend is drawn thin over
    /// them, and only for curves of at least kMinSmoothPoints points.
    void setSmoothing(double weight);
    double smoothing() const { return m_smoothing; }
    static constexpr int kMinSmoothPoints = 10;
    /// Runs that differ only by seed are drawn as one mean curve with a band: min-max, or
    /// with `sd` the mean ± one standard deviation.
    void setGroupSeeds(bool on);
    bool groupSeeds() const { return m_groupSeeds; }
    void setBandStdDev(bool sd);
    bool bandStdDev() const { return m_bandSd; }
    void setShowEqualFields(bool on);

    /// Steps and raw values of one run's series (empty when unknown).
    QVector<double> seriesSteps(qint64 id, Series series) const;
    QVector<double> seriesValues(qint64 id, Series series) const;
    /// Every compared config field, with differs set (computed on setRuns/refresh).
    const QVector<ConfigField> &configFields() const { return m_fields; }
    /// Paths of the fields that differ.
    QStringList differingFields() const;
    /// Groups of run ids that differ only by seed (one list per group, groups of 1 included).
    QList<QList<qint64>> seedGroups() const;

    QCustomPlot *curvesPlot() const { return m_curves; }
    QCustomPlot *depthPlot() const { return m_depth; }
    QTableWidget *diffTable() const { return m_diff; }
    QTableWidget *summaryTable() const { return m_summary; }

    /// The summary as CSV: a line per run or seed group, numbers as numbers (fractions,
    /// counts, seconds).
    QString summaryCsv() const;
    /// The data behind the curves plot (every compared run's raw series shown, with all x
    /// measures) or the depth plot, as CSV of numbers.
    QString chartCsv(QCustomPlot *plot) const;
    /// Writes `plot` as PNG, SVG or PDF (with its legend), or its data as CSV, by `path`'s
    /// suffix. False with errorString() on failure.
    bool exportChart(QCustomPlot *plot, const QString &path);
    bool exportSummaryCsv(const QString &path);
    QString errorString() const { return m_error; }

Q_SIGNALS:
    void runColorChanged(qint64 id, const QColor &color);

private:
    /// A run's graphs on the curves plot, one per shown series.
    struct RunGraphs
    {
        QVector<QCPGraph *> graphs;       ///< the recorded values (bold, in the series' style)
        QVector<QCPGraph *> smoothGraphs; ///< the smoothed trend over them (thin)
        bool dirty = true;                ///< new data not drawn yet
    };
    /// The run's stored colour, or the first palette colour no other compared run has
    /// (stored when the store is writable).
    void assignColor(const CompareModel::Run &run);
    void storeColour(qint64 id, const QColor &colour);
    /// Takes colours the store has that differ from the shown ones; true when one changed.
    bool syncColours();
    /// Reads pending runs' history for about `budgetMs`; returns true when some were read.
    bool loadPending(int budgetMs);
    void loadSlice();
    void rebuildCurves();
    /// The smoothing weight for a curve of `points` points (0 below kMinSmoothPoints).
    double smoothingFor(int points) const;
    void updateRunGraphs(const CompareModel::Run &run);
    void rebuildGroups();
    void rebuildDepth();
    void rebuildDiff();
    void rebuildSummary();
    void rebuildLegend();
    void rescaleIfFollowing();
    QList<Series> shownSeries() const;
    void exportChartInteractive(QCustomPlot *plot, const QString &name);

    CompareModel m_model;
    QHash<qint64, RunGraphs> m_graphs;
    QHash<qint64, QColor> m_colors; ///< every colour given this session (stable per run)
    QVector<QCPGraph *> m_groupGraphs;
    QVector<ConfigField> m_fields;
    Curves m_curvesMode = Curves::TestAndEnsemble;
    Axis m_axis = Axis::Epochs;
    double m_smoothing = 0.0;
    bool m_groupSeeds = false;
    bool m_bandSd = false;
    bool m_showEqual = false;
    bool m_userZoomed = false;
    QString m_error;

    QTreeWidget *m_legend = nullptr;
    QComboBox *m_curvesBox = nullptr;
    QComboBox *m_axisBox = nullptr;
    QComboBox *m_bandBox = nullptr;
    QCheckBox *m_smoothBox = nullptr;
    QSlider *m_smoothSlider = nullptr;
    QCheckBox *m_groupBox = nullptr;
    QCheckBox *m_equalBox = nullptr;
    QCustomPlot *m_curves = nullptr;
    QCustomPlot *m_depth = nullptr;
    QTableWidget *m_diff = nullptr;
    QTableWidget *m_summary = nullptr;
    QTimer *m_loadTimer = nullptr;
    QList<QSplitter *> m_splitters; ///< sizes kept in QSettings
    qint64 m_lastLoadReplotMs = 0;  ///< when loadSlice last replotted (ms since epoch)
    QLabel *m_emptyLabel = nullptr;
};

} // namespace lw
