#include "ui/runs/comparetables.h"

#include "ui/common/format.h"
#include "ui/common/plotexport.h"
#include "ui/runs/compareplots.h"
#include "ui/runs/runformat.h"

#include <QHeaderView>
#include <QObject>
#include <QTableWidget>

#include <algorithm>

namespace lw {

namespace {

/// One run: its value; a seed group: mean [min–max].
template<typename Format>
QString statText(const SummaryStat &s, Format fmt)
{
    if (s.count == 0)
        return QString();
    if (s.count == 1)
        return fmt(s.mean);
    return QStringLiteral("%1 [%2–%3]").arg(fmt(s.mean), fmt(s.min), fmt(s.max));
}

} // namespace

QString tableCsv(const QTableWidget *table, const QString &firstHeader)
{
    QStringList header;
    for (int c = 0; c < table->columnCount(); ++c)
        header << csvField(c == 0 && !firstHeader.isEmpty()
                               ? firstHeader
                               : table->horizontalHeaderItem(c)->text());
    QString csv = header.join(QLatin1Char(',')) + QLatin1Char('\n');
    for (int r = 0; r < table->rowCount(); ++r) {
        QStringList cells;
        for (int c = 0; c < table->columnCount(); ++c)
            cells << csvField(table->item(r, c) ? table->item(r, c)->text() : QString());
        csv += cells.join(QLatin1Char(',')) + QLatin1Char('\n');
    }
    return csv;
}

void fillDiffTable(QTableWidget *table, const CompareModel &model,
                   const QVector<ConfigField> &fields, bool showEqual,
                   const std::function<QColor(qint64)> &colorOf)
{
    const auto &runs = model.runs();
    const bool all = showEqual || runs.size() < 2;
    table->clear();
    table->setColumnCount(int(runs.size()) + 1);
    QStringList headers{QObject::tr("Field")};
    for (const auto &r : runs)
        headers << r->name();
    table->setHorizontalHeaderLabels(headers);
    for (int c = 0; c < int(runs.size()); ++c)
        table->horizontalHeaderItem(c + 1)->setIcon(swatch(colorOf(runs[std::size_t(c)]->id)));
    int rows = 0;
    for (const auto &f : fields)
        if (all || f.differs)
            ++rows;
    table->setRowCount(rows);
    int row = 0;
    QFont bold = table->font();
    bold.setBold(true);
    for (const auto &f : fields) {
        if (!all && !f.differs)
            continue;
        auto *name = new QTableWidgetItem(f.path);
        if (f.differs)
            name->setFont(bold);
        table->setItem(row, 0, name);
        for (int c = 0; c < f.values.size(); ++c) {
            auto *item = new QTableWidgetItem(f.values[c]);
            item->setToolTip(f.values[c]);
            if (f.differs) {
                item->setFont(bold);
                item->setBackground(QColor(255, 243, 205));
            }
            table->setItem(row, c + 1, item);
        }
        ++row;
    }
    if (rows == 0 && !runs.empty()) {
        table->setRowCount(1);
        table->setItem(0, 0, new QTableWidgetItem(QObject::tr("(no differences)")));
    }
    table->resizeColumnsToContents();
    for (int c = 0; c < table->columnCount(); ++c)
        table->setColumnWidth(c, std::min(table->columnWidth(c), 320));
}

void fillSummaryTable(QTableWidget *table, const CompareModel &model, bool groupSeeds,
                      const std::function<QColor(qint64)> &colorOf)
{
    QStringList headers{QObject::tr("Run"),      QObject::tr("Mode"),     QObject::tr("Status"),
                        QObject::tr("Test acc"), QObject::tr("Ensemble"), QObject::tr("Best"),
                        QObject::tr("Params"),   QObject::tr("MACs"),     QObject::tr("Wall time"),
                        QObject::tr("Images/s")};
    const QVector<SummaryRow> rows = model.summary(groupSeeds);
    // Top-5 where a run measured it (more than 10 classes).
    const bool top5 = std::any_of(rows.begin(), rows.end(),
                                  [](const SummaryRow &r) { return r.testTop5.count > 0; });
    if (top5)
        headers.insert(4, QObject::tr("Top-5"));
    table->clear();
    table->setColumnCount(int(headers.size()));
    table->setHorizontalHeaderLabels(headers);
    table->setRowCount(int(rows.size()));
    auto set = [table](int row, int col, const QString &text, bool right = true) {
        auto *item = new QTableWidgetItem(text);
        if (right)
            item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        table->setItem(row, col, item);
    };
    auto acc = [](double v) {
        return formatAccuracy(v);
    };
    auto compact = [](double v) {
        return v > 0 ? compactText(v) : QString();
    };
    for (int i = 0; i < rows.size(); ++i) {
        const SummaryRow &row = rows[i];
        const CompareModel::Run *first = model.find(row.ids.first());
        QString name = first->name();
        if (row.ids.size() > 1) {
            QStringList seeds;
            for (qint64 id : row.ids)
                seeds << QString::number(model.find(id)->row.seed);
            name = QObject::tr("%1 (%2 seeds: %3)")
                       .arg(name)
                       .arg(row.ids.size())
                       .arg(seeds.join(", "));
        }
        auto *nameItem = new QTableWidgetItem(QIcon(swatch(colorOf(first->id))), name);
        nameItem->setData(Qt::UserRole, first->id);
        nameItem->setToolTip(name);
        table->setItem(i, 0, nameItem);
        int col = 1;
        set(i, col++, modeText(first->row.mode), false);
        set(i, col++, statusText(first->row.status, first->row.paused), false);
        set(i, col++, statText(row.testAcc, acc));
        if (top5)
            set(i, col++, statText(row.testTop5, acc));
        set(i, col++, statText(row.ensembleAcc, acc));
        set(i, col++, statText(row.bestAcc, acc));
        set(i, col++, statText(row.params, compact));
        set(i, col++, statText(row.macs, compact));
        set(i, col++, statText(row.wallSeconds, [](double v) { return durationText(v); }));
        set(i, col++,
            statText(row.imagesPerSecond, [](double v) { return QString::number(v, 'f', 0); }));
    }
    table->resizeColumnsToContents();
    table->setColumnWidth(0, std::min(table->columnWidth(0), 240));
}

QString summaryCsv(const CompareModel &model, bool groupSeeds)
{
    // A seed group's value is the members' mean; _min and _max give its spread.
    const char *const stats[] = {"test_acc", "test_top5", "ensemble_acc", "best_acc",
                                 "params",   "macs",      "wall_seconds", "images_per_second"};
    QStringList header{QStringLiteral("run_id"), QStringLiteral("run"), QStringLiteral("mode"),
                       QStringLiteral("status"), QStringLiteral("runs")};
    for (const char *s : stats)
        header << QLatin1String(s);
    if (groupSeeds)
        for (const char *s : stats)
            header << QLatin1String(s) + QStringLiteral("_min")
                   << QLatin1String(s) + QStringLiteral("_max");
    QString csv = header.join(QLatin1Char(',')) + QLatin1Char('\n');
    for (const SummaryRow &row : model.summary(groupSeeds)) {
        const CompareModel::Run *first = model.find(row.ids.first());
        const SummaryStat *values[]
            = {&row.testAcc, &row.testTop5, &row.ensembleAcc, &row.bestAcc,
               &row.params,  &row.macs,     &row.wallSeconds, &row.imagesPerSecond};
        QStringList cells{QString::number(first->id), csvField(first->name()),
                          QString::fromLatin1(toString(first->row.mode)),
                          QString::fromLatin1(toString(first->row.status)),
                          QString::number(row.ids.size())};
        auto number = [](const SummaryStat *s, double v) {
            return s->count > 0 ? csvNumber(v) : QString();
        };
        for (const SummaryStat *s : values)
            cells << number(s, s->mean);
        if (groupSeeds)
            for (const SummaryStat *s : values)
                cells << number(s, s->min) << number(s, s->max);
        csv += cells.join(QLatin1Char(',')) + QLatin1Char('\n');
    }
    return csv;
}

QString curvesCsv(const CompareModel &model, const QList<CompareSeries> &series)
{
    QString csv = QStringLiteral("run_id,run,series,stage,epoch,step,optimizer_steps,"
                                 "images_seen,wall_seconds,value\n");
    for (const auto &r : model.runs()) {
        const QVector<double> steps = r->xValues(CompareAxis::Steps);
        const QVector<double> images = r->xValues(CompareAxis::Images);
        const QVector<double> seconds = r->xValues(CompareAxis::Seconds);
        const QString prefix = QString::number(r->id) + QLatin1Char(',') + csvField(r->name());
        for (CompareSeries s : series) {
            const SeriesData d = r->series(s);
            const QString name = seriesLabel(s).replace(QLatin1Char(' '), QLatin1Char('_'));
            for (qsizetype i = 0; i < d.values.size(); ++i) {
                const EpochMetrics &e = r->history.epochs[std::size_t(i)];
                // Joined, not arg(): a run's name may hold "%1".
                csv += QStringList{prefix,
                                   name,
                                   QString::number(e.stage),
                                   QString::number(e.epoch),
                                   QString::number(e.step),
                                   csvNumber(steps[i]),
                                   csvNumber(images[i]),
                                   csvNumber(seconds[i]),
                                   csvNumber(d.values[i])}
                           .join(QLatin1Char(','))
                       + QLatin1Char('\n');
            }
        }
    }
    return csv;
}

QString depthCsv(const CompareModel &model)
{
    QString csv = QStringLiteral("run_id,run,layer,kind,test_acc\n");
    for (const auto &r : model.runs()) {
        const QString prefix = QString::number(r->id) + QLatin1Char(',') + csvField(r->name());
        auto line = [&](int layer, const char *kind, double value) {
            csv += QStringList{prefix, QString::number(layer + 1), QLatin1String(kind),
                               csvNumber(value)}
                       .join(QLatin1Char(','))
                   + QLatin1Char('\n');
        };
        for (const auto &s : r->history.stages) {
            if (s.testAcc)
                line(s.stage, "head", *s.testAcc);
            if (s.ensembleAcc)
                line(s.stage, "ensemble", *s.ensembleAcc);
        }
        for (const auto &[layer, p] : latestProbes(r->history.probes))
            line(layer, "linear_probe", p.testAcc);
    }
    return csv;
}

} // namespace lw
