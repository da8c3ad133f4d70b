#include "ui/designer/costpanel.h"

#include "ui/common/format.h"
#include "ui/common/plotlegend.h"

#include <QBoxLayout>
#include <QFontMetrics>
#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>

#include <qcustomplot.h>

namespace lw {

namespace {

enum Column {
    ColStage,
    ColOutput,
    ColBlockParams,
    ColHeadParams,
    ColCumParams,
    ColBlockMacs,
    ColCumMacs,
    ColActivations,
    ColEpochUncached,
    ColEpochCached,
    ColumnCount
};

QTableWidgetItem *cell(const QString &text, const QString &tip = {})
{
    auto *item = new QTableWidgetItem(text);
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable);
    if (!tip.isEmpty())
        item->setToolTip(tip);
    return item;
}

QString macs(double v)
{
    return compactText(v) + QStringLiteral("MAC");
}

} // namespace

CostPanel::CostPanel(QWidget *parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("costPanel"));
    auto *v = new QVBoxLayout(this);
    v->setContentsMargins(6, 6, 6, 6);
    m_totals = new QLabel(this);
    m_totals->setObjectName(QStringLiteral("costTotals"));
    m_totals->setWordWrap(true);
    m_totals->setTextFormat(Qt::RichText);
    m_totals->setTextInteractionFlags(Qt::TextSelectableByMouse);
    v->addWidget(m_totals);

    auto *row = new QHBoxLayout;
    v->addLayout(row, 1);
    m_table = new QTableWidget(0, ColumnCount, this);
    m_table->setObjectName(QStringLiteral("costTable"));
    m_table->setHorizontalHeaderLabels({tr("Stage"), tr("Output"), tr("Block\nparams"),
                                        tr("Head\nparams"), tr("Cum.\nparams"), tr("Block\nMACs"),
                                        tr("Cum.\nMACs"), tr("Activ./\nsample"),
                                        tr("Greedy\nepoch"), tr("Cached\nepoch")});
    const QStringList tips
        = {{},
           tr("Block output C \u00d7 H \u00d7 W"),
           tr("Parameters of the block (conv + BN)"),
           tr("Parameters of the stage's auxiliary head"),
           tr("The network up to this stage with its head: blocks 0..j + head j"),
           tr("Multiply-accumulates per image of the block's forward pass"),
           tr("Forward MACs per image of blocks 0..j + head j"),
           tr("fp32 bytes per sample of the block's output"),
           tr("MACs per sample of one greedy epoch of this stage without the feature cache:\n"
              "forward of the frozen blocks before it + 3 \u00d7 (block + head)"),
           tr("MACs per sample of one greedy epoch with the frozen prefix's outputs cached:\n"
              "3 \u00d7 (block + head)")};
    for (int c = 0; c < ColumnCount; ++c) {
        if (!tips[c].isEmpty())
            m_table->horizontalHeaderItem(c)->setToolTip(tips[c]);
    }
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    // Columns as wide as their contents: a stretched last column puts its numbers far from
    // their row on a wide screen.
    m_table->horizontalHeader()->setStretchLastSection(false);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setAlternatingRowColors(true);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    row->addWidget(m_table, 5);

    m_chart = new QCustomPlot(this);
    m_chart->setObjectName(QStringLiteral("costChart"));
    m_chart->setMinimumSize(280, 160);
    m_uncached = new QCPBars(m_chart->xAxis, m_chart->yAxis);
    m_uncached->setName(tr("greedy epoch"));
    m_uncached->setPen(QPen(QColor(0x2f, 0x6f, 0xde)));
    m_uncached->setBrush(QColor(0x2f, 0x6f, 0xde, 170));
    m_cached = new QCPBars(m_chart->xAxis, m_chart->yAxis);
    m_cached->setName(tr("with feature cache"));
    m_cached->setPen(QPen(QColor(0x2e, 0x9d, 0x6a)));
    m_cached->setBrush(QColor(0x2e, 0x9d, 0x6a, 170));
    auto *group = new QCPBarsGroup(m_chart);
    group->setSpacingType(QCPBarsGroup::stAbsolute);
    group->setSpacing(1);
    m_uncached->setBarsGroup(group);
    m_cached->setBarsGroup(group);
    m_uncached->setWidth(0.38);
    m_cached->setWidth(0.38);
    m_chart->xAxis->setLabel(tr("stage"));
    // Short enough for the chart's height at 1280x720; the tooltip says the rest.
    m_chart->yAxis->setLabel(tr("GMAC / sample"));
    m_chart->setToolTip(tr("Multiply-accumulates per sample of one epoch of each stage"));
    // The legend sits in one row above the plot, so that it never hides a bar and leaves the
    // bars the chart's height (at 1280x720 the chart is about 150 px tall): a smaller font and
    // small icons, so that both entries fit the chart's width.
    QFont legendFont = font();
    legendFont.setPointSizeF(legendFont.pointSizeF() * 0.85);
    m_chart->legend->setVisible(true);
    m_chart->legend->setFont(legendFont);
    m_chart->legend->setBorderPen(Qt::NoPen);
    m_chart->legend->setBrush(Qt::NoBrush);
    const int em = QFontMetrics(legendFont).height();
    m_chart->legend->setIconSize(QSize(em, em * 2 / 3));
    m_chart->legend->setIconTextPadding(em / 3);
    m_chart->legend->setColumnSpacing(em);
    m_chart->legend->setRowSpacing(0);
    m_chart->legend->setMargins(QMargins(em / 2, em / 4, em / 2, 0));
    m_chart->axisRect()->insetLayout()->take(m_chart->legend);
    m_chart->plotLayout()->insertRow(0);
    m_chart->plotLayout()->addElement(0, 0, m_chart->legend);
    fitLegendToWidth(m_chart, 2);
    m_chart->plotLayout()->setRowStretchFactor(0, 0.001);
    m_chart->plotLayout()->setRowSpacing(0);
    m_chart->setMaximumWidth(480);
    row->addWidget(m_chart, 3);
}

QString CostPanel::totalsText() const
{
    return m_totals->text();
}

void CostPanel::showCosts(const Spec &spec, const std::optional<SpecSummary> &summary, bool valid)
{
    const int known = summary ? int(summary->stages.size()) : 0;
    m_table->setRowCount(known);
    QVector<double> keys, uncached, cached;
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    m_cost.reset();
    if (summary && valid)
        m_cost = estimateTrainingCost(*summary, spec.recipe.epochsPerStage, spec.recipe.e2e.epochs);
    const TrainingCost partial = summary ? estimateTrainingCost(*summary, 1, 1) : TrainingCost{};

    std::int64_t cumParams = 0, cumMacs = 0, activations = 0;
    for (int j = 0; j < known; ++j) {
        const StageCost &s = summary->stages[size_t(j)];
        cumParams += s.blockParams;
        cumMacs += s.blockMacs;
        activations += s.activationBytes;
        auto *stageItem = cell(QString::number(j + 1));
        stageItem->setTextAlignment(Qt::AlignCenter);
        m_table->setItem(j, ColStage, stageItem);
        m_table->setItem(
            j, ColOutput,
            cell(QStringLiteral("%1\u00d7%2\u00d7%3").arg(s.out.c).arg(s.out.h).arg(s.out.w)));
        // Compact here (exact in the tooltip and on the cards) so that the table fits.
        m_table->setItem(j, ColBlockParams,
                         cell(compactText(double(s.blockParams)), groupedText(s.blockParams)));
        m_table->setItem(j, ColHeadParams,
                         cell(compactText(double(s.headParams)), groupedText(s.headParams)));
        m_table->setItem(j, ColCumParams,
                         cell(compactText(double(cumParams + s.headParams)),
                              groupedText(cumParams + s.headParams)));
        m_table->setItem(j, ColBlockMacs,
                         cell(macs(double(s.blockMacs)), groupedText(s.blockMacs)));
        m_table->setItem(
            j, ColCumMacs,
            cell(macs(double(cumMacs + s.headMacs)), groupedText(cumMacs + s.headMacs)));
        m_table->setItem(j, ColActivations, cell(bytesText(s.activationBytes)));
        m_table->setItem(j, ColEpochUncached, cell(macs(partial.stageEpochUncached[size_t(j)])));
        m_table->setItem(j, ColEpochCached, cell(macs(partial.stageEpochCached[size_t(j)])));
        keys << j;
        uncached << partial.stageEpochUncached[size_t(j)] / 1e9;
        cached << partial.stageEpochCached[size_t(j)] / 1e9;
        ticker->addTick(j, QString::number(j + 1));
    }

    if (!summary || known == 0) {
        m_totals->setText(tr("<i>Costs appear once the first stage is valid.</i>"));
    } else if (!valid) {
        m_totals->setText(
            tr("<b>Stages 1\u2013%1</b> so far: %2 parameters in the trunk, "
               "%3MAC per image. <span style='color:#b3261e'>Fix the marked "
               "problems to see the totals and the training cost.</span>")
                .arg(known)
                .arg(groupedText(summary->trunkParams), compactText(double(summary->trunkMacs))));
    } else {
        const TrainingCost &c = *m_cost;
        m_totals->setText(
            tr("<b>Trunk</b> %1 params, %2MAC \u00b7 <b>with the final head</b> %3 params, "
               "%4MAC per image \u00b7 activations %5 per sample (all blocks).<br>"
               "<b>Greedy training</b> (%6 stages \u00d7 %7 epochs) costs about "
               "<b>%8</b> end-to-end epochs of the final network without the feature cache, "
               "<b>%9</b> with it; against its %10-epoch end-to-end twin: "
               "<b>%11</b> (cached %12).")
                .arg(groupedText(summary->trunkParams), compactText(double(summary->trunkMacs)),
                     groupedText(summary->totalParams), compactText(double(summary->totalMacs)),
                     bytesText(activations))
                .arg(known)
                .arg(c.epochsPerStage)
                .arg(c.uncachedInE2eEpochs(), 0, 'f', 1)
                .arg(c.cachedInE2eEpochs(), 0, 'f', 1)
                .arg(c.e2eEpochs)
                .arg(formatRatio(c.uncachedRatio()), formatRatio(c.cachedRatio())));
    }

    m_uncached->setData(keys, uncached, true);
    m_cached->setData(keys, cached, true);
    m_chart->xAxis->setTicker(ticker);
    m_chart->xAxis->setRange(-0.6, std::max(known, 1) - 0.4);
    double top = 0.0;
    for (double x : uncached)
        top = std::max(top, x);
    m_chart->yAxis->setRange(0.0, top > 0 ? top * 1.3 : 1.0);
    m_chart->replot(QCustomPlot::rpQueuedReplot);
}

} // namespace lw
