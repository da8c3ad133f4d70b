#include "ui/designer/recipepanel.h"

#include "ui/designer/fieldbindings.h"

#include <QBoxLayout>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHash>
#include <QLabel>
#include <QLineEdit>
#include <QRegularExpression>
#include <QRegularExpressionValidator>
#include <QScrollArea>
#include <QSpinBox>
#include <QToolButton>

#include <limits>
#include <type_traits>

namespace lw {

std::optional<std::vector<int>> parseIntList(const QString &text)
{
    std::vector<int> values;
    const QStringList parts
        = text.split(QRegularExpression(QStringLiteral("[,;\\s]+")), Qt::SkipEmptyParts);
    for (const QString &part : parts) {
        bool ok = false;
        const int v = part.toInt(&ok);
        if (!ok || v < 0)
            return std::nullopt;
        values.push_back(v);
    }
    return values;
}

std::optional<std::vector<double>> parseDoubleList(const QString &text)
{
    std::vector<double> values;
    const QStringList parts
        = text.split(QRegularExpression(QStringLiteral("[,;\\s]+")), Qt::SkipEmptyParts);
    for (const QString &part : parts) {
        bool ok = false;
        const double v = part.toDouble(&ok);
        if (!ok)
            return std::nullopt;
        values.push_back(v);
    }
    return values;
}

namespace {

QString joinList(const auto &values)
{
    QStringList parts;
    for (const auto v : values)
        parts << QString::number(v);
    return parts.join(QStringLiteral(", "));
}

/// A field that may be narrower than its widest value (a spin box sized for 2^31), so that the
/// panel never needs to scroll sideways.
void narrow(QWidget *w)
{
    w->setMinimumWidth(w->fontMetrics().horizontalAdvance(QStringLiteral("00000000")) + 24);
}

QSpinBox *spin(const QString &name, int min, int max)
{
    auto *w = new QSpinBox;
    w->setObjectName(name);
    w->setRange(min, max);
    w->setAccelerated(true);
    w->setToolTip(RecipePanel::tr("Valid range: %1 to %2").arg(min).arg(max));
    narrow(w);
    return w;
}

QDoubleSpinBox *dspin(const QString &name, double min, double max, int decimals, double step)
{
    auto *w = new QDoubleSpinBox;
    w->setObjectName(name);
    w->setRange(min, max);
    w->setDecimals(decimals);
    w->setSingleStep(step);
    w->setToolTip(RecipePanel::tr("Valid range: %1 to %2").arg(min).arg(max));
    narrow(w);
    return w;
}

QCheckBox *check(const QString &name, const QString &text)
{
    auto *w = new QCheckBox(text);
    w->setObjectName(name);
    return w;
}

QFormLayout *group(QVBoxLayout *into, const QString &title)
{
    auto *box = new QGroupBox(title);
    auto *form = new QFormLayout(box);
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    // A narrow panel puts a field under its label rather than cutting either.
    form->setRowWrapPolicy(QFormLayout::WrapLongRows);
    form->setLabelAlignment(Qt::AlignRight | Qt::AlignVCenter);
    into->addWidget(box);
    return form;
}

void markInvalid(QLineEdit *edit, bool invalid, const QString &why)
{
    edit->setStyleSheet(invalid ? QStringLiteral("QLineEdit { border: 2px solid #d93025; }")
                                : QString());
    edit->setToolTip(invalid ? why : QString());
}

} // namespace

RecipePanel::RecipePanel(QWidget *parent)
    : QWidget(parent)
    , m_fields(std::make_unique<FieldBindings<Spec>>(
          this, [this](const QString &field, const Apply &apply) { change(field, apply); }))
{
    setObjectName(QStringLiteral("recipePanel"));
    auto *outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    auto *scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff); // the form wraps instead
    outer->addWidget(scroll);
    auto *content = new QWidget;
    scroll->setWidget(content);
    auto *v = new QVBoxLayout(content);
    v->setContentsMargins(8, 8, 8, 8);
    // The validator's findings about the recipe (e.g. a milestone past the last epoch).
    m_issuesLabel = new QLabel;
    m_issuesLabel->setObjectName(QStringLiteral("recipeIssues"));
    m_issuesLabel->setWordWrap(true);
    m_issuesLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_issuesLabel->setStyleSheet(QStringLiteral("color: #c62828;"));
    m_issuesLabel->hide();
    v->addWidget(m_issuesLabel);

    // General
    FieldBindings<Spec> &fields = *m_fields;
    QFormLayout *f = group(v, tr("Network"));
    auto *name = new QLineEdit;
    name->setObjectName(QStringLiteral("specName"));
    auto *description = new QLineEdit;
    description->setObjectName(QStringLiteral("specDescription"));
    f->addRow(tr("Name"),
              fields.bind(
                  name, QStringLiteral("name"), [](auto &s) -> auto & { return s.name; }));
    f->addRow(tr("Description"), fields.bind(
                                     description, QStringLiteral("description"),
                                     [](auto &s) -> auto & { return s.description; }));

    // Dataset
    f = group(v, tr("Dataset"));
    auto *dataset = new QComboBox;
    dataset->setObjectName(QStringLiteral("datasetName"));
    dataset->addItems({QStringLiteral("fashion-mnist"), QStringLiteral("mnist"),
                       QStringLiteral("cifar10"), QStringLiteral("cifar100"),
                       QStringLiteral("imagefolder"), QStringLiteral("synthetic")});
    auto *path = new QLineEdit;
    path->setObjectName(QStringLiteral("datasetPath"));
    path->setPlaceholderText(tr("default location"));
    auto *browse = new QToolButton;
    browse->setText(QStringLiteral("\u2026"));
    browse->setToolTip(tr("Choose the dataset folder"));
    auto *pathRow = new QHBoxLayout;
    pathRow->setContentsMargins(0, 0, 0, 0);
    pathRow->addWidget(path, 1);
    pathRow->addWidget(browse);
    QSpinBox *trainLimit = spin(QStringLiteral("trainLimit"), 0, std::numeric_limits<int>::max());
    trainLimit->setSpecialValueText(tr("all"));
    QSpinBox *testLimit = spin(QStringLiteral("testLimit"), 0, std::numeric_limits<int>::max());
    testLimit->setSpecialValueText(tr("all"));
    f->addRow(tr("Name"), fields.bindText(
                              dataset, QStringLiteral("recipe.dataset.name"),
                              [](auto &s) -> auto & { return s.recipe.dataset.name; }));
    fields.bind(
        path, QStringLiteral("recipe.dataset.path"),
        [](auto &s) -> auto & { return s.recipe.dataset.path; });
    f->addRow(tr("Path"), pathRow);
    f->addRow(tr("Training samples"),
              fields.bind(
                  trainLimit, QStringLiteral("recipe.dataset.trainLimit"),
                  [](auto &s) -> auto & { return s.recipe.dataset.trainLimit; }));
    f->addRow(tr("Test samples"), fields.bind(
                                      testLimit, QStringLiteral("recipe.dataset.testLimit"), [
                                      ](auto &s) -> auto & { return s.recipe.dataset.testLimit; }));
    connect(browse, &QToolButton::clicked, this, [this, path] {
        const QString dir
            = QFileDialog::getExistingDirectory(this, tr("Dataset folder"), path->text());
        if (dir.isEmpty())
            return;
        path->setText(dir);
        change(QStringLiteral("recipe.dataset.path"),
               [dir](Spec &s) { s.recipe.dataset.path = dir.toStdString(); });
    });

    // Schedule
    f = group(v, tr("Greedy schedule"));
    QSpinBox *lrEvery = spin(QStringLiteral("lrEvery"), 0, SpecLimits::maxEpochs);
    lrEvery->setSpecialValueText(tr("at milestones"));
    QLineEdit *milestones = listEdit(
        QStringLiteral("lrMilestones"), QStringLiteral("recipe.lr.milestones"),
        [](auto &s) -> auto & { return s.recipe.lr.milestones; });
    milestones->setPlaceholderText(tr("e.g. 20, 40 (epochs within a stage)"));
    f->addRow(tr("Epochs per stage"),
              fields.bind(
                  spin(QStringLiteral("epochsPerStage"), 1, SpecLimits::maxEpochs),
                  QStringLiteral("recipe.epochsPerStage"),
                  [](auto &s) -> auto & { return s.recipe.epochsPerStage; }));
    f->addRow(tr("Batch size"), fields.bind(
                                    spin(QStringLiteral("batchSize"), 1, SpecLimits::maxBatch),
                                    QStringLiteral("recipe.batchSize"),
                                    [](auto &s) -> auto & { return s.recipe.batchSize; }));
    f->addRow(tr("Test batch size"),
              fields.bind(
                  spin(QStringLiteral("testBatchSize"), 1, SpecLimits::maxBatch),
                  QStringLiteral("recipe.testBatchSize"),
                  [](auto &s) -> auto & { return s.recipe.testBatchSize; }));
    f->addRow(tr("Learning rate"),
              fields.bind(
                  dspin(QStringLiteral("lrInitial"), 1e-6, SpecLimits::maxLr, 6, 0.01),
                  QStringLiteral("recipe.lr.initial"),
                  [](auto &s) -> auto & { return s.recipe.lr.initial; }));
    f->addRow(tr("Divide LR by"),
              fields.bind(
                  dspin(QStringLiteral("lrFactor"), 1.01, SpecLimits::maxLrFactor, 2, 1.0),
                  QStringLiteral("recipe.lr.factor"),
                  [](auto &s) -> auto & { return s.recipe.lr.factor; }));
    f->addRow(tr("Every (epochs)"), fields.bind(
                                        lrEvery, QStringLiteral("recipe.lr.every"),
                                        [](auto &s) -> auto & { return s.recipe.lr.every; }));
    f->addRow(tr("Milestones"), milestones);
    f->addRow(QString(), fields.bind(
                             check(QStringLiteral("resetOptimizer"),
                                   tr("Rebuild SGD at each decay (reference)")),
                             QStringLiteral("recipe.lr.resetOptimizer"),
                             [](auto &s) -> auto & { return s.recipe.lr.resetOptimizer; }));

    // Optimizer
    f = group(v, tr("Optimizer (SGD)"));
    f->addRow(tr("Momentum"), fields.bind(
                                  dspin(QStringLiteral("momentum"), 0.0, 0.999, 3, 0.05),
                                  QStringLiteral("recipe.optimizer.momentum"),
                                  [](auto &s) -> auto & { return s.recipe.optimizer.momentum; }));
    f->addRow(tr("Weight decay"),
              fields.bind(
                  dspin(QStringLiteral("weightDecay"), 0.0, SpecLimits::maxWeightDecay, 6, 1e-4),
                  QStringLiteral("recipe.optimizer.weightDecay"),
                  [](auto &s) -> auto & { return s.recipe.optimizer.weightDecay; }));
    f->addRow(QString(), fields.bind(
                             check(QStringLiteral("nesterov"), tr("Nesterov momentum")),
                             QStringLiteral("recipe.optimizer.nesterov"),
                             [](auto &s) -> auto & { return s.recipe.optimizer.nesterov; }));

    // Augmentation and normalization
    f = group(v, tr("Augmentation"));
    QSpinBox *cropPadding = spin(QStringLiteral("cropPadding"), 0, SpecLimits::maxAugmentPadding);
    cropPadding->setSpecialValueText(tr("no crop"));
    QSpinBox *evalResize = spin(QStringLiteral("evalResize"), 0, SpecLimits::maxSide);
    evalResize->setSpecialValueText(tr("off"));
    f->addRow(QString(), fields.bind(
                             check(QStringLiteral("augmentEnabled"), tr("Augment training images")),
                             QStringLiteral("recipe.augment.enabled"),
                             [](auto &s) -> auto & { return s.recipe.augment.enabled; }));
    f->addRow(tr("Crop padding"), fields.bind(
                                      cropPadding, QStringLiteral("recipe.augment.padding"),
                                      [](auto &s) -> auto & { return s.recipe.augment.padding; }));
    f->addRow(QString(), fields.bind(
                             check(QStringLiteral("flip"), tr("Random horizontal flip")),
                             QStringLiteral("recipe.augment.flip"),
                             [](auto &s) -> auto & { return s.recipe.augment.flip; }));
    f->addRow(QString(), fields.bind(
                             check(QStringLiteral("randomResizedCrop"),
                                   tr("RandomResizedCrop (ImageNet recipe)")),
                             QStringLiteral("recipe.augment.randomResizedCrop"),
                             [](auto &s) -> auto & { return s.recipe.augment.randomResizedCrop; }));
    f->addRow(tr("Eval resize"), fields.bind(
                                     evalResize, QStringLiteral("recipe.augment.evalResize"), [
                                     ](auto &s) -> auto & { return s.recipe.augment.evalResize; }));

    f = group(v, tr("Normalization"));
    f->addRow(tr("Mean"),
              listEdit(
                  QStringLiteral("normalizeMean"), QStringLiteral("recipe.normalize.mean"),
                  [](auto &s) -> auto & { return s.recipe.normalize.mean; }));
    f->addRow(tr("Std"), listEdit(
                             QStringLiteral("normalizeStd"), QStringLiteral("recipe.normalize.std"),
                             [](auto &s) -> auto & { return s.recipe.normalize.std; }));
    f->addRow(QString(), fields.bind(
                             check(QStringLiteral("normalizeFromData"),
                                   tr("Compute mean and std from the training split")),
                             QStringLiteral("recipe.normalize.fromData"),
                             [](auto &s) -> auto & { return s.recipe.normalize.fromData; }));

    // Evaluation and reproducibility
    f = group(v, tr("Evaluation and run"));
    auto *ensemble = new QComboBox;
    ensemble->setObjectName(QStringLiteral("ensemble"));
    ensemble->addItem(tr("average logits (CIFAR)"), int(EnsembleMode::Logits));
    ensemble->addItem(tr("average softmax (ImageNet)"), int(EnsembleMode::Softmax));
    auto *precision = new QComboBox;
    precision->setObjectName(QStringLiteral("precision"));
    precision->addItems({QStringLiteral("fp32"), QStringLiteral("bf16"), QStringLiteral("fp16")});
    precision->setToolTip(
        tr("Mixed precision (autocast): bf16 on CUDA and on CPUs with bf16 instructions (AMX, "
           "AVX512-BF16; several times faster there), fp16 on CUDA only"));
    auto *seed = new QLineEdit;
    seed->setObjectName(QStringLiteral("seed"));
    seed->setValidator(
        new QRegularExpressionValidator(QRegularExpression(QStringLiteral("\\d{1,19}")), seed));
    f->addRow(tr("Ensemble"), fields.bind(
                                  ensemble, QStringLiteral("recipe.ensemble"),
                                  [](auto &s) -> auto & { return s.recipe.ensemble; }));
    f->addRow(tr("Precision"), fields.bindText(
                                   precision, QStringLiteral("recipe.precision"),
                                   [](auto &s) -> auto & { return s.recipe.precision; }));
    f->addRow(tr("Seed"), seed);
    QCheckBox *syncBn
        = check(QStringLiteral("syncBn"), tr("Sync BatchNorm across processes (sync_bn)"));
    syncBn->setToolTip(
        tr("A data-parallel run over several processes normalizes with the statistics of the "
           "whole global batch instead of each process's share (SyncBatchNorm); no effect in "
           "one process"));
    f->addRow(QString(), fields.bind(
                             syncBn, QStringLiteral("recipe.sync_bn"),
                             [](auto &s) -> auto & { return s.recipe.syncBn; }));
    fields.onShow(
        [seed](const Spec &s) { setSilently(seed, QString::number(qulonglong(s.recipe.seed))); });
    connect(seed, &QLineEdit::editingFinished, this, [this, seed] {
        bool ok = false;
        const qulonglong value = seed->text().toULongLong(&ok);
        if (ok)
            change(QStringLiteral("recipe.seed"), [value](Spec &s) { s.recipe.seed = value; });
    });

    // End-to-end twin
    f = group(v, tr("End-to-end twin"));
    QSpinBox *e2eEpochs = spin(QStringLiteral("e2eEpochs"), 0, SpecLimits::maxEpochs);
    e2eEpochs->setSpecialValueText(tr("epochs per stage \u00d7 stages"));
    QSpinBox *e2eEvery = spin(QStringLiteral("e2eLrEvery"), 0, SpecLimits::maxEpochs);
    e2eEvery->setSpecialValueText(tr("at milestones"));
    f->addRow(tr("Epochs"), fields.bind(
                                e2eEpochs, QStringLiteral("recipe.e2e.epochs"),
                                [](auto &s) -> auto & { return s.recipe.e2e.epochs; }));
    f->addRow(tr("Learning rate"),
              fields.bind(
                  dspin(QStringLiteral("e2eLrInitial"), 1e-6, SpecLimits::maxLr, 6, 0.01),
                  QStringLiteral("recipe.e2e.lr.initial"),
                  [](auto &s) -> auto & { return s.recipe.e2e.lr.initial; }));
    f->addRow(tr("Divide LR by"),
              fields.bind(
                  dspin(QStringLiteral("e2eLrFactor"), 1.01, SpecLimits::maxLrFactor, 2, 1.0),
                  QStringLiteral("recipe.e2e.lr.factor"),
                  [](auto &s) -> auto & { return s.recipe.e2e.lr.factor; }));
    f->addRow(tr("Every (epochs)"), fields.bind(
                                        e2eEvery, QStringLiteral("recipe.e2e.lr.every"),
                                        [](auto &s) -> auto & { return s.recipe.e2e.lr.every; }));
    f->addRow(tr("Milestones"),
              listEdit(
                  QStringLiteral("e2eLrMilestones"), QStringLiteral("recipe.e2e.lr.milestones"),
                  [](auto &s) -> auto & { return s.recipe.e2e.lr.milestones; }));
    v->addStretch(1);
}

template<class Get>
QLineEdit *RecipePanel::listEdit(const QString &name, const QString &field, Get get)
{
    // Epoch milestones are integers; normalization statistics are one number per channel.
    using Value = typename std::remove_cvref_t<decltype(get(m_spec))>::value_type;
    constexpr bool epochs = std::is_integral_v<Value>;
    auto *edit = new QLineEdit;
    edit->setObjectName(name);
    m_listEdits[field] = edit;
    if (!epochs)
        edit->setPlaceholderText(tr("one value per channel, e.g. 0.5, 0.5, 0.5"));
    m_fields->onShow([edit, get](const Spec &s) { setSilently(edit, joinList(get(s))); });
    connect(edit, &QLineEdit::editingFinished, this, [this, edit, field, get] {
        std::optional<std::vector<Value>> values;
        if constexpr (epochs)
            values = parseIntList(edit->text());
        else
            values = parseDoubleList(edit->text());
        markInvalid(edit, !values,
                    epochs ? tr("Expected epoch numbers separated by commas")
                           : tr("Expected numbers separated by commas"));
        if (values)
            change(field, [get, v = *values](Spec &s) { get(s) = v; });
    });
    return edit;
}

RecipePanel::~RecipePanel() = default;

void RecipePanel::change(const QString &field, const Apply &apply)
{
    if (m_updating)
        return;
    Spec next = m_spec;
    apply(next);
    if (next == m_spec)
        return;
    m_spec = next;
    emit edited(next, field);
}

void RecipePanel::showSpec(const Spec &spec)
{
    m_updating = true;
    m_spec = spec;
    m_fields->show(spec);
    m_updating = false;
}

void RecipePanel::showIssues(const std::vector<SpecIssue> &issues)
{
    QStringList lines;
    QHash<QLineEdit *, QString> marked;
    for (const SpecIssue &issue : issues) {
        const QString path = QString::fromStdString(issue.path);
        if (!path.startsWith(QLatin1String("recipe")))
            continue;
        lines << QString::fromStdString(issue.toString());
        for (auto it = m_listEdits.cbegin(); it != m_listEdits.cend(); ++it)
            if (path.startsWith(it.key()))
                marked[it.value()] += (marked[it.value()].isEmpty() ? "" : "\n")
                                      + QString::fromStdString(issue.message);
    }
    m_issuesLabel->setText(lines.join(QLatin1Char('\n')));
    m_issuesLabel->setVisible(!lines.isEmpty());
    for (QLineEdit *edit : std::as_const(m_listEdits))
        markInvalid(edit, marked.contains(edit), marked.value(edit));
}

} // namespace lw
