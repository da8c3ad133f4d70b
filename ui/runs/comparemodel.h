#pragma once

#include "core/store/runstore.h"
#include "ui/runs/configdiff.h"

#include <QList>
#include <QMap>
#include <QPair>
#include <QString>
#include <QVector>

#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace lw {

/// A curve of one run: test/ensemble/train accuracy, losses, throughput.
enum class CompareSeries { TestAcc, EnsembleAcc, TrainAcc, TrainLoss, TestLoss, ImagesPerSecond };

/// True for the accuracy series (plotted in percent).
bool isAccuracy(CompareSeries series);

/// What the curves' x axis counts, over the whole run: epochs (the run's step), optimizer
/// steps, training images seen, or wall-clock seconds (training and evaluation).
enum class CompareAxis { Epochs, Steps, Images, Seconds };

/// One run's series: a point per recorded epoch (NaN where the epoch lacks the value).
struct SeriesData
{
    QVector<double> steps; ///< x: the run's step (epochs), or the chosen CompareAxis
    QVector<double> values;
    QVector<int> stages; ///< 0-based, for smoothing that restarts at each stage
};

/// A seed group's curve: per step, the mean, min, max and standard deviation (population)
/// over the members; x is the members' mean x at that step.
struct SeriesBand
{
    QVector<double> steps, mean, min, max, sd;
};

/// Accuracy by depth of one run, in percent, at 1-based layer numbers (layer k = stage k).
struct RunDepth
{
    QVector<double> headLayers, head;         ///< each finished stage's head
    QVector<double> ensembleLayers, ensemble; ///< each stage's ensemble
    QVector<double> probeLayers, probe;       ///< the latest linear probe of each layer
};

/// Per layer (0-based), the probe measured after the latest stage.
std::map<int, ProbeRow> latestProbes(const std::vector<ProbeRow> &probes);

/// A number of one summary row: one run's value, or over a seed group the mean, min and max
/// of the members that have it (count = how many).
struct SummaryStat
{
    int count = 0;
    double mean = 0, min = 0, max = 0;
};

/// A line of the comparison's summary: one run, or one seed group.
struct SummaryRow
{
    QList<qint64> ids; ///< the run, or the group's members in comparison order
    SummaryStat testAcc, ensembleAcc, bestAcc, testTop5; ///< fractions
    SummaryStat params, macs, wallSeconds, imagesPerSecond;
};

/// The data behind the comparison of runs, without widgets: which runs, their summaries,
/// configs and typed history (RunStore::history(), then RunStore::epochsSince() for live runs),
/// their series, seed groups with mean/min/max bands, accuracy by depth and summary rows.
/// Reads the store on the caller's thread.
class CompareModel
{
public:
    struct Run
    {
        qint64 id = 0;
        RunRow row;
        QMap<QString, QString> config; ///< flattenRunConfig, read once
        QString groupKey;              ///< seedGroupKey(config)
        RunHistory history;            ///< stages and probes always; epochs once loaded
        bool historyLoaded = false;

        /// The run's name, or "run <id>".
        QString name() const;
        /// Raw values of `series`, accuracies as fractions, x as `axis` counts (epochs whose x
        /// is unknown, e.g. images in runs recorded before they were, are left out).
        SeriesData series(CompareSeries series, CompareAxis axis = CompareAxis::Epochs) const;
        /// The x of every epoch on `axis` (NaN where unknown), in recorded order.
        QVector<double> xValues(CompareAxis axis) const;
        /// First and last step of each stage that has epochs (0-based stage).
        std::map<int, std::pair<std::int64_t, std::int64_t>> stageSteps() const;
        /// Where a stage hands over to the next one on `axis`: (x, next stage, 0-based), for
        /// stages that train one after another (greedy); none for stages trained together.
        QVector<QPair<double, int>> stageBoundaries(CompareAxis axis) const;
    };

    void setStore(std::shared_ptr<RunStore> store);
    const std::shared_ptr<RunStore> &store() const { return m_store; }

    /// Compares these runs (in this order): runs already here keep their data; new ones get
    /// their summary and config now, their history by loadPending(). Unknown ids are skipped.
    void setRuns(const QList<qint64> &ids);
    QList<qint64> runIds() const;
    const std::vector<std::unique_ptr<Run>> &runs() const { return m_runs; }
    const Run *find(qint64 id) const;
    bool empty() const { return m_runs.empty(); }

    /// True while some run's history is not read yet.
    bool isLoading() const;
    /// Reads pending histories (at least one) until about `budgetMs` have passed; returns the
    /// ids read.
    QList<qint64> loadPending(int budgetMs);

    struct Changes
    {
        bool detail = false; ///< a summary, status or name changed
        QList<qint64> data;  ///< runs with new epochs
    };
    /// Re-reads the summaries and the epochs recorded since the last read. A run whose history
    /// went back in time (resumed: rows after the resume point were recorded again) is read
    /// again whole.
    Changes refresh();

    /// Runs that differ only by seed, in comparison order (groups of 1 included).
    QList<QList<qint64>> seedGroups() const;
    /// True when run `id` shares its seed group with another compared run.
    bool inSeedGroup(qint64 id) const;

    /// `series` of run `id` as plotted: accuracies in percent, smoothed with `smoothing`
    /// (0 = raw) restarting at each stage. Empty for an unknown id.
    SeriesData plotSeries(qint64 id, CompareSeries series, double smoothing,
                          CompareAxis axis = CompareAxis::Epochs) const;
    /// Mean, min, max and standard deviation per step over `group`'s plotSeries (NaN values
    /// skipped).
    SeriesBand band(const QList<qint64> &group, CompareSeries series, double smoothing,
                    CompareAxis axis = CompareAxis::Epochs) const;

    RunDepth depth(qint64 id) const;
    /// Layers the depth plot spans: the deepest stage, probe or planned stage count (>= 1).
    int depthLayers() const;

    /// Every config field of the compared runs, marked whether it differs.
    QVector<ConfigField> configDiff() const;

    /// One row per run, or with `groupSeeds` one per seed group.
    QVector<SummaryRow> summary(bool groupSeeds) const;

    /// The last store error (a run that could not be read).
    const QString &errorString() const { return m_error; }

private:
    Run *findMutable(qint64 id);
    bool readDetail(Run &run);
    bool readHistory(Run &run);
    bool readNewEpochs(Run &run);

    std::shared_ptr<RunStore> m_store;
    std::vector<std::unique_ptr<Run>> m_runs;
    QString m_error;
};

} // namespace lw
