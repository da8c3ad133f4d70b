#include "ui/inspect/picturescompare.h"

#include "core/store/runstore.h"
#include "ui/common/format.h"
#include "ui/inspect/pictureplots.h"
#include "ui/inspect/picturespanel.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QSplitter>
#include <QStackedWidget>
#include <QVBoxLayout>

#include <set>

namespace lw {

const StagePictures *PicturesCompare::Side::at(int stage) const
{
    auto it = stages.find(stage);
    return it == stages.end() ? nullptr : &it->second;
}

PicturesCompare::Side PicturesCompare::read(RunStore *store, qint64 id)
{
    Side side;
    side.id = id;
    if (!store)
        return side;
    auto stages = store->pictureStages(id);
    if (!stages)
        return side;
    for (int s : *stages)
        if (auto p = store->pictures(id, s)) {
            if (!p->filters.empty())
                side.filters = p->filters;
            side.stages[s] = std::move(*p);
        }
    return side;
}

PicturesCompare::PicturesCompare(QWidget *parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("picturesCompare"));
    m_stageCombo = new StageCombo;
    m_sourceCombo = new QComboBox;
    m_sourceCombo->addItems({tr("Stage head"), tr("Ensemble up to the stage")});
    m_leftTitle = new QLabel;
    m_rightTitle = new QLabel;
    m_message = new QLabel;
    m_message->setWordWrap(true);
    m_left = new PicturePlots;
    m_right = new PicturePlots;
    m_difference = new QCustomPlot;
    m_difference->setObjectName(QStringLiteral("confusionDifference"));
    m_difference->setMinimumSize(280, 240);

    auto *row = new QHBoxLayout;
    row->addWidget(new QLabel(tr("Stage")));
    row->addWidget(m_stageCombo);
    row->addWidget(m_sourceCombo);
    row->addWidget(m_message, 1);

    auto *columns = new QSplitter(Qt::Horizontal);
    auto column = [&](QLabel *title, QWidget *body) {
        auto *w = new QWidget;
        auto *l = new QVBoxLayout(w);
        l->setContentsMargins(0, 0, 0, 0);
        l->addWidget(title);
        l->addWidget(body, 1);
        columns->addWidget(w);
    };
    column(m_leftTitle, m_left);
    column(m_rightTitle, m_right);
    column(new QLabel(tr("<b>Confusion difference</b> (left − right)")), m_difference);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(row);
    layout->addWidget(columns, 1);

    connect(m_stageCombo, &QComboBox::currentIndexChanged, this, &PicturesCompare::redraw);
    connect(m_sourceCombo, &QComboBox::currentIndexChanged, this, &PicturesCompare::redraw);
    // The same picture on both sides.
    connect(m_left, &QTabWidget::currentChanged, m_right, &QTabWidget::setCurrentIndex);
    connect(m_right, &QTabWidget::currentChanged, m_left, &QTabWidget::setCurrentIndex);
}

void PicturesCompare::showRuns(RunStore *store, qint64 left, qint64 right)
{
    m_a = read(store, left);
    m_b = read(store, right);
    auto title = [store](qint64 id) {
        QString name;
        if (store)
            if (auto d = store->getRun(id))
                name = QStringLiteral(" %1 (%2)")
                           .arg(QString::fromStdString(d->run.name),
                                QString::fromUtf8(modeLabel(d->run.mode)));
        return QObject::tr("<b>Run %1</b>%2").arg(id).arg(name.toHtmlEscaped());
    };
    m_leftTitle->setText(title(left));
    m_rightTitle->setText(title(right));
    std::set<int> stages;
    for (const auto *side : {&m_a, &m_b})
        for (const auto &[s, p] : side->stages)
            stages.insert(s);
    m_stageCombo->setStages(std::vector<int>(stages.begin(), stages.end()));
    redraw();
}

StageCombo *PicturesCompare::stageCombo() const
{
    return m_stageCombo;
}

void PicturesCompare::setStage(int s)
{
    m_stageCombo->setStage(s);
}

int PicturesCompare::stage() const
{
    return m_stageCombo->stage();
}

void PicturesCompare::redraw()
{
    const int s = stage();
    const bool ensemble = m_sourceCombo->currentIndex() == 1;
    const auto *a = m_a.at(s);
    const auto *b = m_b.at(s);
    QStringList missing;
    for (const auto &[side, p] : {std::pair{&m_a, a}, std::pair{&m_b, b}}) {
        if (!p)
            missing << tr("run %1 has no pictures of stage %2 (select it alone to compute them)")
                           .arg(side->id)
                           .arg(s + 1);
    }
    if (a)
        m_left->setPictures(*a, ensemble, m_a.filters);
    else
        m_left->clear();
    if (b)
        m_right->setPictures(*b, ensemble, m_b.filters);
    else
        m_right->clear();
    const ConfusionMatrix *ca = a ? &(ensemble ? a->ensemble : a->head) : nullptr;
    const ConfusionMatrix *cb = b ? &(ensemble ? b->ensemble : b->head) : nullptr;
    if (ca && cb && !ca->empty() && !cb->empty() && ca->classes == cb->classes) {
        drawConfusionDifference(m_difference, *ca, *cb, a->classNames,
                                tr("Stage %1: accuracy %2 vs %3")
                                    .arg(s + 1)
                                    .arg(percentText(ca->accuracy()))
                                    .arg(percentText(cb->accuracy())));
    } else {
        drawConfusionDifference(m_difference, {}, {}, {},
                                tr("Stage %1: no confusion to compare").arg(s + 1));
        if (a && b)
            missing << tr("one of the runs has no trained head at stage %1 (an end-to-end run "
                          "trains the last one only)")
                           .arg(s + 1);
    }
    m_message->setText(missing.join(QStringLiteral("; ")));
}

RunPicturesView::RunPicturesView(QWidget *parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("runPictures"));
    m_hint = new QLabel(tr("Select a run to see what each of its stages learned, or two runs to "
                           "compare them stage by stage."));
    m_hint->setAlignment(Qt::AlignCenter);
    m_hint->setWordWrap(true);
    m_panel = new PicturesPanel(nullptr);
    m_compare = new PicturesCompare;
    m_stack = new QStackedWidget;
    m_stack->addWidget(m_hint);
    m_stack->addWidget(m_panel);
    m_stack->addWidget(m_compare);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_stack);
}

void RunPicturesView::setStore(std::shared_ptr<RunStore> store)
{
    m_store = std::move(store);
    m_panel->setStore(m_store.get());
    m_ids.clear();
    m_stack->setCurrentWidget(m_hint);
}

void RunPicturesView::setRuns(const QList<qint64> &ids)
{
    if (ids == m_ids)
        return;
    m_ids = ids;
    if (ids.size() == 1) {
        m_panel->showRun(ids.front());
        m_stack->setCurrentWidget(m_panel);
    } else if (ids.size() == 2) {
        m_compare->showRuns(m_store.get(), ids[0], ids[1]);
        m_stack->setCurrentWidget(m_compare);
    } else {
        m_stack->setCurrentWidget(m_hint);
    }
}

} // namespace lw
