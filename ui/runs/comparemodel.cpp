#include "ui/runs/comparemodel.h"

#include "ui/common/smoothing.h"

#include <QElapsedTimer>

#include <algorithm>
#include <cmath>

namespace lw {

namespace {

double valueOf(const EpochMetrics &e, CompareSeries series)
{
    switch (series) {
    case CompareSeries::TestAcc: return e.testAcc;
    case CompareSeries::EnsembleAcc: return e.ensembleAcc;
    case CompareSeries::TrainAcc: return e.trainAcc;
    case CompareSeries::TrainLoss: return e.trainLoss;
    case CompareSeries::TestLoss: return e.testLoss;
    case CompareSeries::ImagesPerSecond: return e.imagesPerSecond;
    }
    return std::nan("");
}

/// Count, mean, min and max of the values that are present and not NaN.
SummaryStat statOf(const std::vector<std::optional<double>> &values)
{
    SummaryStat s;
    double sum = 0;
    for (const auto &v : values) {
        if (!v || std::isnan(*v))
            continue;
        if (s.count == 0) {
            s.min = s.max = *v;
        } else {
            s.min = std::min(s.min, *v);
            s.max = std::max(s.max, *v);
        }
        sum += *v;
        ++s.count;
    }
    if (s.count > 0)
        s.mean = sum / double(s.count);
    return s;
}

} // namespace

bool isAccuracy(CompareSeries series)
{
    return series == CompareSeries::TestAcc || series == CompareSeries::EnsembleAcc
           || series == CompareSeries::TrainAcc;
}

QString CompareModel::Run::name() const
{
    const QString n = QString::fromStdString(row.name);
    return n.isEmpty() ? QStringLiteral("run %1").arg(id) : n;
}

SeriesData CompareModel::Run::series(CompareSeries series) const
{
    SeriesData d;
    const auto n = qsizetype(history.epochs.size());
    d.steps.reserve(n);
    d.values.reserve(n);
    d.stages.reserve(n);
    for (const EpochMetrics &e : history.epochs) {
        d.steps.append(double(e.step));
        d.values.append(valueOf(e, series));
        d.stages.append(e.stage);
    }
    return d;
}

std::map<int, std::pair<std::int64_t, std::int64_t>> CompareModel::Run::stageSteps() const
{
    std::map<int, std::pair<std::int64_t, std::int64_t>> out;
    for (const EpochMetrics &e : history.epochs) {
        auto it = out.find(e.stage);
        if (it == out.end()) {
            out.emplace(e.stage, std::make_pair(e.step, e.step));
        } else {
            it->second.first = std::min(it->second.first, e.step);
            it->second.second = std::max(it->second.second, e.step);
        }
    }
    return out;
}

void CompareModel::setStore(std::shared_ptr<RunStore> store)
{
    m_store = std::move(store);
    m_runs.clear();
}

QList<qint64> CompareModel::runIds() const
{
    QList<qint64> ids;
    for (const auto &r : m_runs)
        ids << r->id;
    return ids;
}

const CompareModel::Run *CompareModel::find(qint64 id) const
{
    for (const auto &r : m_runs)
        if (r->id == id)
            return r.get();
    return nullptr;
}

CompareModel::Run *CompareModel::findMutable(qint64 id)
{
    return const_cast<Run *>(find(id));
}

bool CompareModel::readDetail(Run &run)
{
    if (!m_store)
        return false;
    auto d = m_store->getRun(run.id);
    if (!d) {
        m_error = QString::fromStdString(d.message());
        return false;
    }
    if (run.row.id == 0) { // first read: the config does not change afterwards
        run.config = flattenRunConfig(*d);
        run.groupKey = seedGroupKey(run.config);
    }
    run.row = std::move(d->run);
    // Stage rows and probes change while a run is recorded; the epochs come from
    // readHistory/readNewEpochs.
    run.history.stages = std::move(d->stages);
    run.history.probes = std::move(d->probes);
    return true;
}

bool CompareModel::readHistory(Run &run)
{
    if (!m_store)
        return false;
    auto h = m_store->history(run.id);
    if (!h) {
        m_error = QString::fromStdString(h.message());
        return false;
    }
    run.history = std::move(*h);
    return true;
}

bool CompareModel::readNewEpochs(Run &run)
{
    if (!m_store)
        return false;
    auto next = m_store->epochsSince(run.id, run.history.cursor);
    if (!next) {
        m_error = QString::fromStdString(next.message());
        return false;
    }
    if (next->epochs.empty())
        return false;
    // A resumed run drops the epochs after its resume point and records them again: when a new
    // epoch goes back in time, read the run again from the start.
    auto &epochs = run.history.epochs;
    if (!epochs.empty() && next->epochs.front().step <= epochs.back().step)
        return readHistory(run) || true;
    epochs.insert(epochs.end(), std::make_move_iterator(next->epochs.begin()),
                  std::make_move_iterator(next->epochs.end()));
    run.history.cursor = next->cursor;
    return true;
}

void CompareModel::setRuns(const QList<qint64> &ids)
{
    std::vector<std::unique_ptr<Run>> next;
    for (qint64 id : ids) {
        auto it = std::find_if(m_runs.begin(), m_runs.end(),
                               [id](const auto &r) { return r && r->id == id; });
        if (it != m_runs.end()) {
            next.push_back(std::move(*it));
            continue;
        }
        auto run = std::make_unique<Run>();
        run->id = id;
        if (!readDetail(*run))
            continue; // deleted meanwhile
        next.push_back(std::move(run));
    }
    m_runs = std::move(next);
}

bool CompareModel::isLoading() const
{
    for (const auto &r : m_runs)
        if (!r->historyLoaded)
            return true;
    return false;
}

QList<qint64> CompareModel::loadPending(int budgetMs)
{
    QElapsedTimer timer;
    timer.start();
    QList<qint64> read;
    for (auto &r : m_runs) {
        if (r->historyLoaded)
            continue;
        if (!read.isEmpty() && timer.elapsed() >= budgetMs)
            break;
        readHistory(*r);
        r->historyLoaded = true;
        read << r->id;
    }
    return read;
}

CompareModel::Changes CompareModel::refresh()
{
    Changes changes;
    for (auto &r : m_runs) {
        const double before = r->row.updated;
        const auto status = r->row.status;
        const auto name = r->row.name;
        if (!readDetail(*r))
            continue;
        if (r->row.updated != before || r->row.status != status || r->row.name != name)
            changes.detail = true;
        if (r->historyLoaded && readNewEpochs(*r)) // pending runs are read by loadPending()
            changes.data << r->id;
    }
    return changes;
}

QList<QList<qint64>> CompareModel::seedGroups() const
{
    QList<QList<qint64>> groups;
    QStringList keys;
    for (const auto &r : m_runs) {
        const int i = keys.indexOf(r->groupKey);
        if (i < 0) {
            keys << r->groupKey;
            groups << QList<qint64>{r->id};
        } else {
            groups[i] << r->id;
        }
    }
    return groups;
}

bool CompareModel::inSeedGroup(qint64 id) const
{
    const Run *run = find(id);
    if (!run)
        return false;
    for (const auto &r : m_runs)
        if (r->id != id && r->groupKey == run->groupKey)
            return true;
    return false;
}

SeriesData CompareModel::plotSeries(qint64 id, CompareSeries series, double smoothing) const
{
    const Run *r = find(id);
    if (!r)
        return {};
    SeriesData d = r->series(series);
    if (isAccuracy(series))
        for (double &x : d.values)
            x *= 100.0;
    if (smoothing > 0)
        d.values = smoothSeries(d.values, d.stages, smoothing);
    return d;
}

SeriesBand CompareModel::band(const QList<qint64> &group, CompareSeries series,
                              double smoothing) const
{
    std::map<double, std::vector<double>> byStep;
    for (qint64 id : group) {
        const SeriesData d = plotSeries(id, series, smoothing);
        for (int i = 0; i < d.values.size(); ++i)
            if (!std::isnan(d.values[i]))
                byStep[d.steps[i]].push_back(d.values[i]);
    }
    SeriesBand b;
    for (const auto &[step, vals] : byStep) {
        double sum = 0, mn = vals.front(), mx = vals.front();
        for (double v : vals) {
            sum += v;
            mn = std::min(mn, v);
            mx = std::max(mx, v);
        }
        b.steps << step;
        b.mean << sum / double(vals.size());
        b.min << mn;
        b.max << mx;
    }
    return b;
}

RunDepth CompareModel::depth(qint64 id) const
{
    RunDepth d;
    const Run *r = find(id);
    if (!r)
        return d;
    for (const auto &s : r->history.stages) {
        if (s.testAcc && !std::isnan(*s.testAcc)) {
            d.headLayers << s.stage + 1;
            d.head << *s.testAcc * 100;
        }
        if (s.ensembleAcc && !std::isnan(*s.ensembleAcc)) {
            d.ensembleLayers << s.stage + 1;
            d.ensemble << *s.ensembleAcc * 100;
        }
    }
    // Probes of the final network: per layer, the one measured after the latest stage.
    std::map<int, ProbeRow> latest;
    for (const auto &p : r->history.probes) {
        auto it = latest.find(p.layer);
        if (it == latest.end() || p.afterStage >= it->second.afterStage)
            latest[p.layer] = p;
    }
    for (const auto &[layer, p] : latest) {
        d.probeLayers << layer + 1;
        d.probe << p.testAcc * 100;
    }
    return d;
}

int CompareModel::depthLayers() const
{
    int layers = 1;
    for (const auto &r : m_runs) {
        for (const auto &s : r->history.stages)
            layers = std::max(layers, s.stage + 1);
        for (const auto &p : r->history.probes)
            layers = std::max(layers, p.layer + 1);
        layers = std::max(layers, r->row.stages);
    }
    return layers;
}

QVector<ConfigField> CompareModel::configDiff() const
{
    QVector<QMap<QString, QString>> configs;
    for (const auto &r : m_runs)
        configs << r->config;
    return diffConfigs(configs);
}

QVector<SummaryRow> CompareModel::summary(bool groupSeeds) const
{
    QList<QList<qint64>> groups;
    if (groupSeeds) {
        groups = seedGroups();
    } else {
        for (const auto &r : m_runs)
            groups << QList<qint64>{r->id};
    }
    QVector<SummaryRow> rows;
    for (const auto &ids : groups) {
        std::vector<std::optional<double>> test, ensemble, best, params, macs, wall, ips;
        for (qint64 id : ids) {
            const Run *r = find(id);
            test.push_back(r->row.finalTestAcc);
            best.push_back(r->row.bestTestAcc);
            std::optional<double> ens;
            for (const auto &s : r->history.stages)
                if (s.ensembleAcc && !std::isnan(*s.ensembleAcc))
                    ens = s.ensembleAcc; // stages come in order: keep the latest
            ensemble.push_back(ens);
            params.push_back(double(r->row.params));
            macs.push_back(double(r->row.macs));
            wall.push_back(r->row.wallSeconds);
            std::vector<std::optional<double>> perEpoch;
            for (const EpochMetrics &e : r->history.epochs)
                perEpoch.push_back(e.imagesPerSecond);
            const SummaryStat s = statOf(perEpoch);
            ips.push_back(s.count > 0 ? std::optional<double>(s.mean) : std::nullopt);
        }
        SummaryRow row;
        row.ids = ids;
        row.testAcc = statOf(test);
        row.ensembleAcc = statOf(ensemble);
        row.bestAcc = statOf(best);
        row.params = statOf(params);
        row.macs = statOf(macs);
        row.wallSeconds = statOf(wall);
        row.imagesPerSecond = statOf(ips);
        rows << row;
    }
    return rows;
}

} // namespace lw
