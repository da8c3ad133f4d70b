#include "ui/runs/comparetables.h"

#include "ui/common/format.h"
#include "ui/runs/compareplots.h"
#include "ui/runs/runformat.h"

#include <QHeaderView>
#include <QObject>
#include <QTableWidget>

#include <algorithm>

namespace lw {

namespace {

QString csvField(const QString &s)
{
    if (s.contains(QLatin1Char(',')) || s.contains(QLatin1Char('"'))
        || s.contains(QLatin1Char('\n'))) {
        QString q = s;
        q.replace(QLatin1String("\""), QLatin1String("\"\""));
        return QLatin1Char('"') + q + QLatin1Char('"');
    }
    return s;
}

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
    const QStringList headers{QObject::tr("Run"),       QObject::tr("Mode"),
                              QObject::tr("Status"),    QObject::tr("Test acc"),
                              QObject::tr("Ensemble"),  QObject::tr("Best"),
                              QObject::tr("Params"),    QObject::tr("MACs"),
                              QObject::tr("Wall time"), QObject::tr("Images/s")};
    table->clear();
    table->setColumnCount(int(headers.size()));
    table->setHorizontalHeaderLabels(headers);

    const QVector<SummaryRow> rows = model.summary(groupSeeds);
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
        table->setItem(i, 0, nameItem);
        set(i, 1, modeText(first->row.mode), false);
        set(i, 2, statusText(first->row.status, first->row.paused), false);
        set(i, 3, statText(row.testAcc, acc));
        set(i, 4, statText(row.ensembleAcc, acc));
        set(i, 5, statText(row.bestAcc, acc));
        set(i, 6, statText(row.params, compact));
        set(i, 7, statText(row.macs, compact));
        set(i, 8, statText(row.wallSeconds, [](double v) { return durationText(v); }));
        set(i, 9,
            statText(row.imagesPerSecond, [](double v) { return QString::number(v, 'f', 0); }));
    }
    table->resizeColumnsToContents();
    table->setColumnWidth(0, std::min(table->columnWidth(0), 240));
}

} // namespace lw
