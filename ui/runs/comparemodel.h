#pragma once

#include "core/store/runstore.h"
#include "ui/runs/configdiff.h"

#include <QList>
#include <QMap>
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

/// One run's series: a point per recorded epoch (NaN where the epoch lacks the value).
struct SeriesData
{
    QVector<double> steps;
    QVector<double> values;
    QVector<int> stages; ///< 0-based, for smoothing that restarts at each stage
};

/// A seed group's curve: per step, the mean, min and max over the members.
struct SeriesBand
{
    QVector<double> steps, mean, min, max;
};

/// Accuracy by depth of one run, in percent, at 1-based layer numbers (layer k = stage k).
struct RunDepth
{
    QVector<double> headLayers, head;         ///< each finished stage's head
    QVector<double> ensembleLayers, ensemble; ///< each stage's ensemble
    QVector<double> probeLayers, probe;       ///< the latest linear probe of each layer
};

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
    SummaryStat testAcc, ensembleAcc, bestAcc; ///< fractions
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
        /// Raw values of `series`, accuracies as fractions.
        SeriesData series(CompareSeries series) const;
        /// First and last step of each stage that has epochs (0-based stage).
        std::map<int, std::pair<std::int64_t, std::int64_t>> stageSteps() const;
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
    SeriesData plotSeries(qint64 id, CompareSeries series, double smoothing) const;
    /// Mean, min and max per step over `group`'s plotSeries (NaN values skipped).
    SeriesBand band(const QList<qint64> &group, CompareSeries series, double smoothing) const;

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
