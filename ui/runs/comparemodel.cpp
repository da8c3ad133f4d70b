#include "ui/runs/comparemodel.h"

#include "ui/common/smoothing.h"

#include <QElapsedTimer>

#include <algorithm>
#include <cmath>
#include <limits>

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

std::map<int, ProbeRow> latestProbes(const std::vector<ProbeRow> &probes)
{
    std::map<int, ProbeRow> latest;
    for (const auto &p : probes) {
        auto it = latest.find(p.layer);
        if (it == latest.end() || p.afterStage >= it->second.afterStage)
            latest[p.layer] = p;
    }
    return latest;
}

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

QVector<double> CompareModel::Run::xValues(CompareAxis axis) const
{
    QVector<double> x;
    x.reserve(qsizetype(history.epochs.size()));
    // Stages trained together (end-to-end, decoupled) report one epoch per stage with the same
    // step: the images, optimizer steps and seconds of that step count once.
    double total = 0;
    std::int64_t lastStep = std::numeric_limits<std::int64_t>::min();
    for (const EpochMetrics &e : history.epochs) {
        if (axis == CompareAxis::Epochs) {
            x.append(double(e.step));
            continue;
        }
        const double add = axis == CompareAxis::Steps    ? e.trainSteps
                           : axis == CompareAxis::Images ? e.trainImages
                                                         : e.seconds;
        if (e.step != lastStep) {
            lastStep = e.step;
            total += add;
        }
        x.append(std::isnan(add) ? std::nan("") : total);
    }
    return x;
}

SeriesData CompareModel::Run::series(CompareSeries series, CompareAxis axis) const
{
    SeriesData d;
    const auto n = qsizetype(history.epochs.size());
    d.steps.reserve(n);
    d.values.reserve(n);
    d.stages.reserve(n);
    const QVector<double> x = xValues(axis);
    for (qsizetype i = 0; i < n; ++i) {
        if (std::isnan(x[i]))
            continue;
        const EpochMetrics &e = history.epochs[std::size_t(i)];
        d.steps.append(x[i]);
        d.values.append(valueOf(e, series));
        d.stages.append(e.stage);
    }
    return d;
}

QVector<QPair<double, int>> CompareModel::Run::stageBoundaries(CompareAxis axis) const
{
    // First and last x of each stage on `axis`.
    const QVector<double> x = xValues(axis);
    std::map<int, std::pair<double, double>> range;
    std::map<int, std::pair<std::int64_t, std::int64_t>> steps = stageSteps();
    for (std::size_t i = 0; i < history.epochs.size(); ++i) {
        if (std::isnan(x[qsizetype(i)]))
            continue;
        const int stage = history.epochs[i].stage;
        auto it = range.find(stage);
        if (it == range.end())
            range.emplace(stage, std::make_pair(x[qsizetype(i)], x[qsizetype(i)]));
        else
            it->second = {std::min(it->second.first, x[qsizetype(i)]),
                          std::max(it->second.second, x[qsizetype(i)])};
    }
    QVector<QPair<double, int>> out;
    for (auto it = steps.begin(); it != steps.end(); ++it) {
        auto next = std::next(it);
        if (next == steps.end())
            break;
        // Stages trained together share their steps: no hand-over to mark.
        if (next->second.first <= it->second.second)
            continue;
        auto a = range.find(it->first), b = range.find(next->first);
        if (a == range.end() || b == range.end())
            continue;
        const double at = axis == CompareAxis::Epochs ? a->second.second + 0.5
                                                      : (a->second.second + b->second.first) / 2;
        out.append({at, next->first});
    }
    return out;
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

SeriesData CompareModel::plotSeries(qint64 id, CompareSeries series, double smoothing,
                                    CompareAxis axis) const
{
    const Run *r = find(id);
    if (!r)
        return {};
    SeriesData d = r->series(series, axis);
    if (isAccuracy(series))
        for (double &x : d.values)
            x *= 100.0;
    if (smoothing > 0)
        d.values = smoothSeries(d.values, d.stages, smoothing);
    return d;
}

SeriesBand CompareModel::band(const QList<qint64> &group, CompareSeries series, double smoothing,
                              CompareAxis axis) const
{
    // Members are matched by step (epoch over the run); x is their mean x on `axis`.
    std::map<double, std::vector<std::pair<double, double>>> byStep; // step -> (x, value)
    for (qint64 id : group) {
        const SeriesData d = plotSeries(id, series, smoothing);
        // The x of each epoch on `axis`; a member with epochs of unknown x (recorded before
        // images and steps were) is left out of that axis's band.
        const SeriesData onAxis = axis == CompareAxis::Epochs ? d : plotSeries(id, series, 0, axis);
        if (onAxis.steps.size() != d.steps.size())
            continue;
        for (int i = 0; i < d.values.size(); ++i)
            if (!std::isnan(d.values[i]))
                byStep[d.steps[i]].push_back({onAxis.steps[i], d.values[i]});
    }
    SeriesBand b;
    for (const auto &[step, vals] : byStep) {
        double sum = 0, sumX = 0, mn = vals.front().second, mx = vals.front().second;
        for (const auto &[x, v] : vals) {
            sum += v;
            sumX += x;
            mn = std::min(mn, v);
            mx = std::max(mx, v);
        }
        const double n = double(vals.size());
        const double mean = sum / n;
        double var = 0;
        for (const auto &xv : vals)
            var += (xv.second - mean) * (xv.second - mean);
        b.steps << sumX / n;
        b.mean << mean;
        b.min << mn;
        b.max << mx;
        b.sd << std::sqrt(var / n);
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
    for (const auto &[layer, p] : latestProbes(r->history.probes)) {
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
        std::vector<std::optional<double>> test, ensemble, best, top5, params, macs, wall, ips;
        for (qint64 id : ids) {
            const Run *r = find(id);
            test.push_back(r->row.finalTestAcc);
            best.push_back(r->row.bestTestAcc);
            top5.push_back(r->row.finalTestTop5);
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
        row.testTop5 = statOf(top5);
        row.params = statOf(params);
        row.macs = statOf(macs);
        row.wallSeconds = statOf(wall);
        row.imagesPerSecond = statOf(ips);
        rows << row;
    }
    return rows;
}

} // namespace lw
