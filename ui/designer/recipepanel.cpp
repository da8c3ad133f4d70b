#include "ui/designer/recipepanel.h"

#include <QBoxLayout>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QLineEdit>
#include <QRegularExpression>
#include <QRegularExpressionValidator>
#include <QScrollArea>
#include <QSpinBox>
#include <QToolButton>

#include <limits>

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

QSpinBox *spin(const QString &name, int min, int max)
{
    auto *w = new QSpinBox;
    w->setObjectName(name);
    w->setRange(min, max);
    w->setAccelerated(true);
    w->setToolTip(RecipePanel::tr("Valid range: %1 to %2").arg(min).arg(max));
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
{
    setObjectName(QStringLiteral("recipePanel"));
    auto *outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    auto *scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    outer->addWidget(scroll);
    auto *content = new QWidget;
    scroll->setWidget(content);
    auto *v = new QVBoxLayout(content);
    v->setContentsMargins(8, 8, 8, 8);

    // General
    QFormLayout *f = group(v, tr("Network"));
    m_name = new QLineEdit;
    m_name->setObjectName(QStringLiteral("specName"));
    m_description = new QLineEdit;
    m_description->setObjectName(QStringLiteral("specDescription"));
    f->addRow(tr("Name"), m_name);
    f->addRow(tr("Description"), m_description);
    connect(m_name, &QLineEdit::editingFinished, this, [this] {
        change(QStringLiteral("name"), [t = m_name->text()](Spec &s) { s.name = t.toStdString(); });
    });
    connect(m_description, &QLineEdit::editingFinished, this, [this] {
        change(QStringLiteral("description"),
               [t = m_description->text()](Spec &s) { s.description = t.toStdString(); });
    });

    // Dataset
    f = group(v, tr("Dataset"));
    m_dataset = new QComboBox;
    m_dataset->setObjectName(QStringLiteral("datasetName"));
    m_dataset->addItems({QStringLiteral("fashion-mnist"), QStringLiteral("mnist"),
                         QStringLiteral("cifar10"), QStringLiteral("cifar100"),
                         QStringLiteral("imagefolder"), QStringLiteral("synthetic")});
    m_path = new QLineEdit;
    m_path->setObjectName(QStringLiteral("datasetPath"));
    m_path->setPlaceholderText(tr("default location"));
    auto *browse = new QToolButton;
    browse->setText(QStringLiteral("\u2026"));
    browse->setToolTip(tr("Choose the dataset folder"));
    auto *pathRow = new QHBoxLayout;
    pathRow->setContentsMargins(0, 0, 0, 0);
    pathRow->addWidget(m_path, 1);
    pathRow->addWidget(browse);
    m_trainLimit = spin(QStringLiteral("trainLimit"), 0, std::numeric_limits<int>::max());
    m_trainLimit->setSpecialValueText(tr("all"));
    m_testLimit = spin(QStringLiteral("testLimit"), 0, std::numeric_limits<int>::max());
    m_testLimit->setSpecialValueText(tr("all"));
    f->addRow(tr("Name"), m_dataset);
    f->addRow(tr("Path"), pathRow);
    f->addRow(tr("Training samples"), m_trainLimit);
    f->addRow(tr("Test samples"), m_testLimit);
    connect(m_dataset, &QComboBox::currentTextChanged, this, [this](const QString &t) {
        change(QStringLiteral("recipe.dataset.name"),
               [t](Spec &s) { s.recipe.dataset.name = t.toStdString(); });
    });
    connect(m_path, &QLineEdit::editingFinished, this, [this] {
        change(QStringLiteral("recipe.dataset.path"),
               [t = m_path->text()](Spec &s) { s.recipe.dataset.path = t.toStdString(); });
    });
    connect(browse, &QToolButton::clicked, this, [this] {
        const QString dir
            = QFileDialog::getExistingDirectory(this, tr("Dataset folder"), m_path->text());
        if (dir.isEmpty())
            return;
        m_path->setText(dir);
        change(QStringLiteral("recipe.dataset.path"),
               [dir](Spec &s) { s.recipe.dataset.path = dir.toStdString(); });
    });
    connect(m_trainLimit, &QSpinBox::valueChanged, this, [this](int n) {
        change(QStringLiteral("recipe.dataset.trainLimit"),
               [n](Spec &s) { s.recipe.dataset.trainLimit = n; });
    });
    connect(m_testLimit, &QSpinBox::valueChanged, this, [this](int n) {
        change(QStringLiteral("recipe.dataset.testLimit"),
               [n](Spec &s) { s.recipe.dataset.testLimit = n; });
    });

    // Schedule
    f = group(v, tr("Greedy schedule"));
    m_epochs = spin(QStringLiteral("epochsPerStage"), 1, 100000);
    m_batch = spin(QStringLiteral("batchSize"), 1, 1 << 20);
    m_testBatch = spin(QStringLiteral("testBatchSize"), 1, 1 << 20);
    m_lr = dspin(QStringLiteral("lrInitial"), 1e-6, 10.0, 6, 0.01);
    m_lrFactor = dspin(QStringLiteral("lrFactor"), 1.0, 1000.0, 2, 1.0);
    m_lrEvery = spin(QStringLiteral("lrEvery"), 0, 100000);
    m_lrEvery->setSpecialValueText(tr("at milestones"));
    m_milestones = new QLineEdit;
    m_milestones->setObjectName(QStringLiteral("lrMilestones"));
    m_milestones->setPlaceholderText(tr("e.g. 20, 40 (epochs within a stage)"));
    m_resetOptimizer
        = check(QStringLiteral("resetOptimizer"), tr("Rebuild SGD at each decay (reference)"));
    f->addRow(tr("Epochs per stage"), m_epochs);
    f->addRow(tr("Batch size"), m_batch);
    f->addRow(tr("Test batch size"), m_testBatch);
    f->addRow(tr("Learning rate"), m_lr);
    f->addRow(tr("Divide LR by"), m_lrFactor);
    f->addRow(tr("Every (epochs)"), m_lrEvery);
    f->addRow(tr("Milestones"), m_milestones);
    f->addRow(QString(), m_resetOptimizer);
    connect(m_epochs, &QSpinBox::valueChanged, this, [this](int n) {
        change(QStringLiteral("recipe.epochsPerStage"),
               [n](Spec &s) { s.recipe.epochsPerStage = n; });
    });
    connect(m_batch, &QSpinBox::valueChanged, this, [this](int n) {
        change(QStringLiteral("recipe.batchSize"), [n](Spec &s) { s.recipe.batchSize = n; });
    });
    connect(m_testBatch, &QSpinBox::valueChanged, this, [this](int n) {
        change(QStringLiteral("recipe.testBatchSize"),
               [n](Spec &s) { s.recipe.testBatchSize = n; });
    });
    connect(m_lr, &QDoubleSpinBox::valueChanged, this, [this](double x) {
        change(QStringLiteral("recipe.lr.initial"), [x](Spec &s) { s.recipe.lr.initial = x; });
    });
    connect(m_lrFactor, &QDoubleSpinBox::valueChanged, this, [this](double x) {
        change(QStringLiteral("recipe.lr.factor"), [x](Spec &s) { s.recipe.lr.factor = x; });
    });
    connect(m_lrEvery, &QSpinBox::valueChanged, this, [this](int n) {
        change(QStringLiteral("recipe.lr.every"), [n](Spec &s) { s.recipe.lr.every = n; });
    });
    connect(m_milestones, &QLineEdit::editingFinished, this, [this] {
        const auto list = parseIntList(m_milestones->text());
        markInvalid(m_milestones, !list, tr("Expected epoch numbers separated by commas"));
        if (list)
            change(QStringLiteral("recipe.lr.milestones"),
                   [l = *list](Spec &s) { s.recipe.lr.milestones = l; });
    });
    connect(m_resetOptimizer, &QCheckBox::toggled, this, [this](bool on) {
        change(QStringLiteral("recipe.lr.resetOptimizer"),
               [on](Spec &s) { s.recipe.lr.resetOptimizer = on; });
    });

    // Optimizer
    f = group(v, tr("Optimizer (SGD)"));
    m_momentum = dspin(QStringLiteral("momentum"), 0.0, 0.999, 3, 0.05);
    m_weightDecay = dspin(QStringLiteral("weightDecay"), 0.0, 0.1, 6, 1e-4);
    m_nesterov = check(QStringLiteral("nesterov"), tr("Nesterov momentum"));
    f->addRow(tr("Momentum"), m_momentum);
    f->addRow(tr("Weight decay"), m_weightDecay);
    f->addRow(QString(), m_nesterov);
    connect(m_momentum, &QDoubleSpinBox::valueChanged, this, [this](double x) {
        change(QStringLiteral("recipe.optimizer.momentum"),
               [x](Spec &s) { s.recipe.optimizer.momentum = x; });
    });
    connect(m_weightDecay, &QDoubleSpinBox::valueChanged, this, [this](double x) {
        change(QStringLiteral("recipe.optimizer.weightDecay"),
               [x](Spec &s) { s.recipe.optimizer.weightDecay = x; });
    });
    connect(m_nesterov, &QCheckBox::toggled, this, [this](bool on) {
        change(QStringLiteral("recipe.optimizer.nesterov"),
               [on](Spec &s) { s.recipe.optimizer.nesterov = on; });
    });

    // Augmentation and normalization
    f = group(v, tr("Augmentation"));
    m_augment = check(QStringLiteral("augmentEnabled"), tr("Augment training images"));
    m_cropPadding = spin(QStringLiteral("cropPadding"), 0, 1024);
    m_cropPadding->setSpecialValueText(tr("no crop"));
    m_flip = check(QStringLiteral("flip"), tr("Random horizontal flip"));
    m_resizedCrop
        = check(QStringLiteral("randomResizedCrop"), tr("RandomResizedCrop (ImageNet recipe)"));
    m_evalResize = spin(QStringLiteral("evalResize"), 0, 16384);
    m_evalResize->setSpecialValueText(tr("off"));
    f->addRow(QString(), m_augment);
    f->addRow(tr("Crop padding"), m_cropPadding);
    f->addRow(QString(), m_flip);
    f->addRow(QString(), m_resizedCrop);
    f->addRow(tr("Eval resize"), m_evalResize);
    connect(m_augment, &QCheckBox::toggled, this, [this](bool on) {
        change(QStringLiteral("recipe.augment.enabled"),
               [on](Spec &s) { s.recipe.augment.enabled = on; });
    });
    connect(m_cropPadding, &QSpinBox::valueChanged, this, [this](int n) {
        change(QStringLiteral("recipe.augment.padding"),
               [n](Spec &s) { s.recipe.augment.padding = n; });
    });
    connect(m_flip, &QCheckBox::toggled, this, [this](bool on) {
        change(QStringLiteral("recipe.augment.flip"),
               [on](Spec &s) { s.recipe.augment.flip = on; });
    });
    connect(m_resizedCrop, &QCheckBox::toggled, this, [this](bool on) {
        change(QStringLiteral("recipe.augment.randomResizedCrop"),
               [on](Spec &s) { s.recipe.augment.randomResizedCrop = on; });
    });
    connect(m_evalResize, &QSpinBox::valueChanged, this, [this](int n) {
        change(QStringLiteral("recipe.augment.evalResize"),
               [n](Spec &s) { s.recipe.augment.evalResize = n; });
    });

    f = group(v, tr("Normalization"));
    m_mean = listEdit(QStringLiteral("normalizeMean"), QStringLiteral("recipe.normalize.mean"),
                      [](Spec &s) -> std::vector<double> & { return s.recipe.normalize.mean; });
    m_std = listEdit(QStringLiteral("normalizeStd"), QStringLiteral("recipe.normalize.std"),
                     [](Spec &s) -> std::vector<double> & { return s.recipe.normalize.std; });
    m_normFromData = check(QStringLiteral("normalizeFromData"),
                           tr("Compute mean and std from the training split"));
    f->addRow(tr("Mean"), m_mean);
    f->addRow(tr("Std"), m_std);
    f->addRow(QString(), m_normFromData);
    connect(m_normFromData, &QCheckBox::toggled, this, [this](bool on) {
        change(QStringLiteral("recipe.normalize.fromData"),
               [on](Spec &s) { s.recipe.normalize.fromData = on; });
    });

    // Evaluation and reproducibility
    f = group(v, tr("Evaluation and run"));
    m_ensemble = new QComboBox;
    m_ensemble->setObjectName(QStringLiteral("ensemble"));
    m_ensemble->addItem(tr("average logits (CIFAR)"), int(EnsembleMode::Logits));
    m_ensemble->addItem(tr("average softmax (ImageNet)"), int(EnsembleMode::Softmax));
    m_precision = new QComboBox;
    m_precision->setObjectName(QStringLiteral("precision"));
    m_precision->addItems({QStringLiteral("fp32"), QStringLiteral("bf16"), QStringLiteral("fp16")});
    m_precision->setToolTip(
        tr("Mixed precision (autocast): bf16 on CUDA and on CPUs with bf16 instructions (AMX, "
           "AVX512-BF16; several times faster there), fp16 on CUDA only"));
    m_seed = new QLineEdit;
    m_seed->setObjectName(QStringLiteral("seed"));
    m_seed->setValidator(
        new QRegularExpressionValidator(QRegularExpression(QStringLiteral("\\d{1,19}")), m_seed));
    f->addRow(tr("Ensemble"), m_ensemble);
    f->addRow(tr("Precision"), m_precision);
    f->addRow(tr("Seed"), m_seed);
    connect(m_ensemble, &QComboBox::currentIndexChanged, this, [this] {
        const auto mode = EnsembleMode(m_ensemble->currentData().toInt());
        change(QStringLiteral("recipe.ensemble"), [mode](Spec &s) { s.recipe.ensemble = mode; });
    });
    connect(m_precision, &QComboBox::currentTextChanged, this, [this](const QString &t) {
        change(QStringLiteral("recipe.precision"),
               [t](Spec &s) { s.recipe.precision = t.toStdString(); });
    });
    connect(m_seed, &QLineEdit::editingFinished, this, [this] {
        bool ok = false;
        const qulonglong seed = m_seed->text().toULongLong(&ok);
        if (ok)
            change(QStringLiteral("recipe.seed"), [seed](Spec &s) { s.recipe.seed = seed; });
    });

    // End-to-end twin
    f = group(v, tr("End-to-end twin"));
    m_e2eEpochs = spin(QStringLiteral("e2eEpochs"), 0, 100000);
    m_e2eEpochs->setSpecialValueText(tr("epochs per stage \u00d7 stages"));
    m_e2eLr = dspin(QStringLiteral("e2eLrInitial"), 1e-6, 10.0, 6, 0.01);
    m_e2eFactor = dspin(QStringLiteral("e2eLrFactor"), 1.0, 1000.0, 2, 1.0);
    m_e2eEvery = spin(QStringLiteral("e2eLrEvery"), 0, 100000);
    m_e2eEvery->setSpecialValueText(tr("at milestones"));
    m_e2eMilestones = new QLineEdit;
    m_e2eMilestones->setObjectName(QStringLiteral("e2eLrMilestones"));
    f->addRow(tr("Epochs"), m_e2eEpochs);
    f->addRow(tr("Learning rate"), m_e2eLr);
    f->addRow(tr("Divide LR by"), m_e2eFactor);
    f->addRow(tr("Every (epochs)"), m_e2eEvery);
    f->addRow(tr("Milestones"), m_e2eMilestones);
    connect(m_e2eEpochs, &QSpinBox::valueChanged, this, [this](int n) {
        change(QStringLiteral("recipe.e2e.epochs"), [n](Spec &s) { s.recipe.e2e.epochs = n; });
    });
    connect(m_e2eLr, &QDoubleSpinBox::valueChanged, this, [this](double x) {
        change(QStringLiteral("recipe.e2e.lr.initial"),
               [x](Spec &s) { s.recipe.e2e.lr.initial = x; });
    });
    connect(m_e2eFactor, &QDoubleSpinBox::valueChanged, this, [this](double x) {
        change(QStringLiteral("recipe.e2e.lr.factor"),
               [x](Spec &s) { s.recipe.e2e.lr.factor = x; });
    });
    connect(m_e2eEvery, &QSpinBox::valueChanged, this, [this](int n) {
        change(QStringLiteral("recipe.e2e.lr.every"), [n](Spec &s) { s.recipe.e2e.lr.every = n; });
    });
    connect(m_e2eMilestones, &QLineEdit::editingFinished, this, [this] {
        const auto list = parseIntList(m_e2eMilestones->text());
        markInvalid(m_e2eMilestones, !list, tr("Expected epoch numbers separated by commas"));
        if (list)
            change(QStringLiteral("recipe.e2e.lr.milestones"),
                   [l = *list](Spec &s) { s.recipe.e2e.lr.milestones = l; });
    });
    v->addStretch(1);
}

QLineEdit *RecipePanel::listEdit(const QString &name, const QString &field,
                                 std::function<std::vector<double> &(Spec &)> list)
{
    auto *edit = new QLineEdit;
    edit->setObjectName(name);
    edit->setPlaceholderText(tr("one value per channel, e.g. 0.5, 0.5, 0.5"));
    connect(edit, &QLineEdit::editingFinished, this, [this, edit, field, list] {
        const auto values = parseDoubleList(edit->text());
        markInvalid(edit, !values, tr("Expected numbers separated by commas"));
        if (values)
            change(field, [list, v = *values](Spec &s) { list(s) = v; });
    });
    return edit;
}

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
    const RecipeSpec &r = spec.recipe;
    const auto setText = [](QLineEdit *e, const QString &t) {
        if (e->text() != t)
            e->setText(t);
    };
    setText(m_name, QString::fromStdString(spec.name));
    setText(m_description, QString::fromStdString(spec.description));
    const QString dataset = QString::fromStdString(r.dataset.name);
    if (m_dataset->findText(dataset) < 0)
        m_dataset->addItem(dataset);
    m_dataset->setCurrentText(dataset);
    setText(m_path, QString::fromStdString(r.dataset.path));
    m_trainLimit->setValue(
        int(std::min<std::int64_t>(r.dataset.trainLimit, std::numeric_limits<int>::max())));
    m_testLimit->setValue(
        int(std::min<std::int64_t>(r.dataset.testLimit, std::numeric_limits<int>::max())));
    m_epochs->setValue(r.epochsPerStage);
    m_batch->setValue(r.batchSize);
    m_testBatch->setValue(r.testBatchSize);
    m_lr->setValue(r.lr.initial);
    m_lrFactor->setValue(r.lr.factor);
    m_lrEvery->setValue(r.lr.every);
    setText(m_milestones, joinList(r.lr.milestones));
    m_resetOptimizer->setChecked(r.lr.resetOptimizer);
    m_momentum->setValue(r.optimizer.momentum);
    m_weightDecay->setValue(r.optimizer.weightDecay);
    m_nesterov->setChecked(r.optimizer.nesterov);
    m_augment->setChecked(r.augment.enabled);
    m_cropPadding->setValue(r.augment.padding);
    m_flip->setChecked(r.augment.flip);
    m_resizedCrop->setChecked(r.augment.randomResizedCrop);
    m_evalResize->setValue(r.augment.evalResize);
    setText(m_mean, joinList(r.normalize.mean));
    setText(m_std, joinList(r.normalize.std));
    m_normFromData->setChecked(r.normalize.fromData);
    m_ensemble->setCurrentIndex(m_ensemble->findData(int(r.ensemble)));
    const QString precision = QString::fromStdString(r.precision);
    if (m_precision->findText(precision) < 0)
        m_precision->addItem(precision);
    m_precision->setCurrentText(precision);
    setText(m_seed, QString::number(qulonglong(r.seed)));
    m_e2eEpochs->setValue(r.e2e.epochs);
    m_e2eLr->setValue(r.e2e.lr.initial);
    m_e2eFactor->setValue(r.e2e.lr.factor);
    m_e2eEvery->setValue(r.e2e.lr.every);
    setText(m_e2eMilestones, joinList(r.e2e.lr.milestones));
    m_updating = false;
}

} // namespace lw
