#include "ui/train/trainsetup.h"

#include "core/store/runstore.h"
#include "ui/common/format.h"
#include "ui/train/datacheck.h"
#include "ui/train/lastfolders.h"

#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QScrollBar>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>

namespace lw {

namespace {

QString q(const std::string &s)
{
    return QString::fromStdString(s);
}

} // namespace

QLabel *TrainSetup::makeErrorLabel(QWidget *parent)
{
    auto *label = new QLabel(parent);
    label->setWordWrap(true);
    label->setStyleSheet(QStringLiteral("color: #c62828;"));
    label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    label->hide();
    return label;
}

TrainSetup::TrainSetup(RunStore *store, LastFolders *folders, const TrainSetupActions &actions,
                       QWidget *parent)
    : QScrollArea(parent)
    , m_store(store)
    , m_folders(folders)
{
    QScrollArea *scroll = this;
    m_check = new DataCheck([this] { return effectiveSpec(); }, this);
    connect(m_check, &DataCheck::started, this, [this] {
        m_dataStatus->setStyleSheet(QStringLiteral("color: palette(dark);"));
        m_dataStatus->setText(tr("Checking the data\u2026"));
    });
    connect(m_check, &DataCheck::finished, this, &TrainSetup::onDataChecked);

    scroll->setObjectName(QStringLiteral("setupPanel"));
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto *panel = new QWidget;
    auto *outer = new QVBoxLayout(panel);
    outer->setContentsMargins(8, 8, 8, 8);

    // A stored run's settings shown read-only (resumed, probed): say whose, and offer a copy.
    m_shownBox = new QWidget(panel);
    m_shownBox->setObjectName(QStringLiteral("shownRunBox"));
    auto *shownRow = new QVBoxLayout(m_shownBox);
    shownRow->setContentsMargins(0, 0, 0, 4);
    m_shownLabel = new QLabel(m_shownBox);
    m_shownLabel->setObjectName(QStringLiteral("shownRunLabel"));
    m_shownLabel->setWordWrap(true);
    m_shownLabel->setStyleSheet(QStringLiteral("color: #1565c0; font-weight: bold;"));
    m_newFromShown = new QToolButton(m_shownBox);
    m_newFromShown->setObjectName(QStringLiteral("newRunFromShownButton"));
    m_newFromShown->setText(tr("New Run from These Settings"));
    m_newFromShown->setToolTip(tr("Make these settings editable for a new run; the run shown "
                                  "stays as it is in the store"));
    connect(m_newFromShown, &QToolButton::clicked, this, &TrainSetup::newRunFromShown);
    shownRow->addWidget(m_shownLabel);
    shownRow->addWidget(m_newFromShown, 0, Qt::AlignLeft);
    m_shownBox->hide();
    outer->addWidget(m_shownBox);

    m_form = new QWidget(panel);
    auto *formLayout = new QVBoxLayout(m_form);
    formLayout->setContentsMargins(0, 0, 0, 0);

    // Architecture.
    auto *specBox = new QGroupBox(tr("Architecture"), m_form);
    auto *specForm = new QFormLayout(specBox);
    m_specCombo = new QComboBox(specBox);
    m_specCombo->setObjectName(QStringLiteral("specCombo"));
    for (const PresetInfo &p : listPresets()) {
        m_specCombo->addItem(q(p.name), QStringLiteral("preset:") + q(p.name));
        m_specCombo->setItemData(m_specCombo->count() - 1, q(p.description), Qt::ToolTipRole);
    }
    auto *openButton = new QToolButton(specBox);
    openButton->setText(tr("Open\u2026"));
    openButton->setToolTip(actions.openSpec->toolTip());
    connect(openButton, &QToolButton::clicked, this, &TrainSetup::browseSpec);
    auto *specRow = new QHBoxLayout;
    specRow->addWidget(m_specCombo, 1);
    specRow->addWidget(openButton);
    specForm->addRow(tr("Spec"), specRow);
    m_specInfo = new QLabel(specBox);
    m_specInfo->setWordWrap(true);
    m_specInfo->setStyleSheet(QStringLiteral("color: palette(dark);"));
    specForm->addRow(m_specInfo);
    m_specError = makeErrorLabel(specBox);
    specForm->addRow(m_specError);
    m_branchBox = new QWidget(specBox);
    m_branchBox->setObjectName(QStringLiteral("branchBox"));
    auto *branchRow = new QHBoxLayout(m_branchBox);
    branchRow->setContentsMargins(0, 0, 0, 0);
    m_branchLabel = new QLabel(m_branchBox);
    m_branchLabel->setObjectName(QStringLiteral("branchLabel"));
    m_branchLabel->setWordWrap(true);
    m_branchLabel->setStyleSheet(QStringLiteral("color: #1565c0; font-weight: bold;"));
    m_clearBranch = new QToolButton(m_branchBox);
    m_clearBranch->setObjectName(QStringLiteral("clearBranchButton"));
    m_clearBranch->setText(tr("Train from scratch"));
    m_clearBranch->setToolTip(
        tr("Forget the branch: train every stage of this spec from scratch instead"));
    connect(m_clearBranch, &QToolButton::clicked, this, [this] {
        clearBranch();
        emit statusMessage(tr("The branch was cleared: Start trains every stage from scratch."));
    });
    branchRow->addWidget(m_branchLabel, 1);
    branchRow->addWidget(m_clearBranch, 0, Qt::AlignTop);
    m_branchBox->hide();
    specForm->addRow(m_branchBox);
    connect(m_specCombo, &QComboBox::activated, this, &TrainSetup::onSpecComboChanged);
    formLayout->addWidget(specBox);

    // Data.
    auto *dataBox = new QGroupBox(tr("Data"), m_form);
    auto *dataForm = new QFormLayout(dataBox);
    m_datasetCombo = new QComboBox(dataBox);
    m_datasetCombo->setObjectName(QStringLiteral("datasetCombo"));
    for (const std::string &name : datasetNames())
        m_datasetCombo->addItem(q(name), q(name));
    dataForm->addRow(tr("Dataset"), m_datasetCombo);
    m_dataPath = new QLineEdit(dataBox);
    m_dataPath->setObjectName(QStringLiteral("dataPath"));
    m_dataPath->setClearButtonEnabled(true);
    auto *browse = new QToolButton(dataBox);
    browse->setText(QStringLiteral("\u2026"));
    browse->setToolTip(tr("Choose the folder holding the dataset's files"));
    connect(browse, &QToolButton::clicked, this, &TrainSetup::browseData);
    auto *pathRow = new QHBoxLayout;
    pathRow->addWidget(m_dataPath, 1);
    pathRow->addWidget(browse);
    dataForm->addRow(tr("Folder"), pathRow);
    m_trainLimit = new QSpinBox(dataBox);
    m_trainLimit->setRange(0, kMaxSpin);
    m_trainLimit->setSpecialValueText(tr("all"));
    m_trainLimit->setToolTip(tr("A seeded, class-balanced subset of the training split"));
    m_testLimit = new QSpinBox(dataBox);
    m_testLimit->setRange(0, kMaxSpin);
    m_testLimit->setSpecialValueText(tr("all"));
    auto *limits = new QHBoxLayout;
    limits->addWidget(new QLabel(tr("train"), dataBox));
    limits->addWidget(m_trainLimit, 1);
    limits->addWidget(new QLabel(tr("test"), dataBox));
    limits->addWidget(m_testLimit, 1);
    dataForm->addRow(tr("Subset"), limits);
    m_dataStatus = new QLabel(dataBox);
    m_dataStatus->setObjectName(QStringLiteral("dataStatus"));
    m_dataStatus->setWordWrap(true);
    m_dataStatus->setTextInteractionFlags(Qt::TextSelectableByMouse);
    dataForm->addRow(m_dataStatus);
    formLayout->addWidget(dataBox);

    formLayout->addWidget(buildRecipeBox(m_form));
    formLayout->addWidget(buildMachineBox(m_form));

    // Run.
    auto *runBox = new QGroupBox(tr("Run"), m_form);
    auto *runForm = new QFormLayout(runBox);
    m_name = new QLineEdit(runBox);
    m_name->setObjectName(QStringLiteral("nameEdit"));
    m_name->setPlaceholderText(tr("<spec> <mode>"));
    runForm->addRow(tr("Name"), m_name);
    formLayout->addWidget(runBox);
    outer->addWidget(m_form);

    auto makeButton = [&](QAction *action, const QString &name) {
        auto *b = new QToolButton(panel);
        b->setObjectName(name);
        b->setDefaultAction(action);
        b->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
        b->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
        return b;
    };
    m_startButton = makeButton(actions.start, QStringLiteral("startButton"));
    m_pauseButton = makeButton(actions.pause, QStringLiteral("pauseButton"));
    m_stopButton = makeButton(actions.stop, QStringLiteral("stopButton"));
    QFont bold = m_startButton->font();
    bold.setBold(true);
    m_startButton->setFont(bold);
    auto *buttons = new QHBoxLayout;
    buttons->addWidget(m_startButton);
    buttons->addWidget(m_pauseButton);
    buttons->addWidget(m_stopButton);
    outer->addLayout(buttons);
    m_startHint = makeErrorLabel(panel);
    m_startHint->setObjectName(QStringLiteral("startHint"));
    outer->addWidget(m_startHint);
    auto *resumeButton = makeButton(actions.resumeRun, QStringLiteral("resumeRunButton"));
    outer->addWidget(resumeButton);
    outer->addStretch(1);
    // Combo boxes as narrow as a dozen characters (their lists show the whole entries): the
    // longest entry (precision, cache) would otherwise set the panel's width, and the window
    // would not fit 1920x1080 at a scale factor of 2.
    for (QComboBox *combo : panel->findChildren<QComboBox *>()) {
        combo->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        combo->setMinimumContentsLength(12);
    }
    scroll->setWidget(panel);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    scroll->setMinimumWidth(panel->minimumSizeHint().width()
                            + scroll->verticalScrollBar()->sizeHint().width() + 4);

    // Anything edited re-validates; data fields also re-check the data (debounced, off-thread).
    connect(m_datasetCombo, &QComboBox::currentIndexChanged, this, [this] {
        updateDataPlaceholder();
        scheduleDataCheck();
    });
    connect(m_dataPath, &QLineEdit::textChanged, this, &TrainSetup::scheduleDataCheck);
    connect(m_trainLimit, &QSpinBox::valueChanged, this, &TrainSetup::scheduleDataCheck);
    connect(m_testLimit, &QSpinBox::valueChanged, this, &TrainSetup::scheduleDataCheck);
    connect(m_seed, &QSpinBox::valueChanged, this, &TrainSetup::scheduleDataCheck);
    connect(m_modeCombo, &QComboBox::currentIndexChanged, this, &TrainSetup::revalidate);
    connect(m_epochs, &QSpinBox::valueChanged, this, &TrainSetup::revalidate);
    connect(m_e2eEpochs, &QSpinBox::valueChanged, this, &TrainSetup::revalidate);
    connect(m_batch, &QSpinBox::valueChanged, this, &TrainSetup::revalidate);
    connect(m_lr, &QLineEdit::textChanged, this, &TrainSetup::revalidate);
    connect(m_augment, &QCheckBox::toggled, this, &TrainSetup::revalidate);
}

void TrainSetup::setSpec(const Spec &spec, const QString &name)
{
    m_spec = spec;
    m_specName = name.isEmpty() ? (spec.name.empty() ? tr("Untitled") : q(spec.name)) : name;
    // A spec not from a preset (a file, the Design view) gets its own first entry.
    if (m_specCombo->itemData(0).toString() == QLatin1String("custom"))
        m_specCombo->removeItem(0);
    const int preset = m_specCombo->findData(QStringLiteral("preset:") + m_specName);
    if (preset >= 0) {
        m_specCombo->setCurrentIndex(preset);
    } else {
        m_specCombo->insertItem(0, m_specName, QStringLiteral("custom"));
        m_specCombo->setItemData(0, tr("Not a preset: from a file or the Design view"),
                                 Qt::ToolTipRole);
        m_specCombo->setCurrentIndex(0);
    }
    // A new spec trains from scratch unless the caller branches it again (setBranch).
    m_branchParent = -1;
    m_branchStage = 0;
    m_shownRun = -1; // a new setup, editable
    updateBranchUi();
    fillForm(spec);
    updateEditable();
    emit specChanged(spec);
}

bool TrainSetup::setBranch(std::int64_t parentRun, int lockedStages)
{
    m_error.clear();
    if (!m_store) {
        m_error = tr("No run store is open, so run %1 cannot be branched.").arg(parentRun);
        return false;
    }
    auto exists = m_store->exists(parentRun);
    if (!exists || !*exists) {
        m_error
            = exists ? tr("Run %1 is not in the run store.").arg(parentRun) : q(exists.message());
        return false;
    }
    const int stages = static_cast<int>(m_spec.stages.size());
    if (lockedStages < 1 || lockedStages >= stages) {
        m_error = tr("A branch of this %1-stage spec locks 1 to %2 stages, not %3.")
                      .arg(stages)
                      .arg(stages - 1)
                      .arg(lockedStages);
        return false;
    }
    m_branchParent = parentRun;
    m_branchStage = lockedStages;
    const int greedy = m_modeCombo->findData(QStringLiteral("greedy"));
    if (m_modeCombo->currentIndex() != greedy) {
        m_modeCombo->setCurrentIndex(greedy);
        emit logMessage(LogLevel::Info,
                        tr("mode set to greedy layerwise: a branch of run %1 trains "
                           "its new stages greedily on the frozen ones")
                            .arg(parentRun));
    }
    updateBranchUi();
    revalidate();
    return true;
}

void TrainSetup::clearBranch()
{
    if (m_branchParent < 0)
        return;
    m_branchParent = -1;
    m_branchStage = 0;
    updateBranchUi();
    revalidate();
}

void TrainSetup::updateBranchUi()
{
    const bool branch = m_branchParent >= 0;
    if (branch) {
        const QString locked
            = m_branchStage == 1 ? tr("stage 1") : tr("stages 1–%1").arg(m_branchStage);
        m_branchLabel->setText(tr("Branch of run %1 from stage %2: %3 come from run %1's "
                                  "checkpoint and stay frozen; stages %2.. are trained greedily.")
                                   .arg(m_branchParent)
                                   .arg(m_branchStage + 1)
                                   .arg(locked));
    } else {
        m_branchLabel->clear();
    }
    m_branchBox->setVisible(branch);
    // A branch trains greedily: end-to-end and DGL would retrain the frozen stages.
    if (auto *model = qobject_cast<QStandardItemModel *>(m_modeCombo->model())) {
        for (int i = 0; i < m_modeCombo->count(); ++i) {
            const bool greedy = m_modeCombo->itemData(i).toString() == QLatin1String("greedy");
            if (QStandardItem *item = model->item(i)) {
                item->setEnabled(greedy || !branch);
                item->setToolTip(greedy || !branch
                                     ? QString()
                                     : tr("A branch trains greedily; clear the branch (Train "
                                          "from scratch) to use this mode."));
            }
        }
    }
}

bool TrainSetup::loadPreset(const QString &name)
{
    auto spec = lw::loadPreset(name.toStdString());
    if (!spec) {
        m_error = q(spec.message());
        return false;
    }
    setSpec(*spec, name);
    return true;
}

bool TrainSetup::openSpecFile(const QString &path)
{
    auto spec = loadSpecFile(path.toStdString());
    if (!spec) {
        m_error = q(spec.message());
        emit logMessage(LogLevel::Error, m_error);
        return false;
    }
    setSpec(*spec, QFileInfo(path).fileName());
    return true;
}

void TrainSetup::setDataset(const QString &name, const QString &path)
{
    const int i = m_datasetCombo->findData(name);
    if (i >= 0)
        m_datasetCombo->setCurrentIndex(i);
    m_dataPath->setText(path);
    scheduleDataCheck();
}

void TrainSetup::fillForm(const Spec &spec)
{
    const RecipeSpec &r = spec.recipe;
    QSignalBlocker b1(m_datasetCombo), b2(m_dataPath), b3(m_trainLimit), b4(m_testLimit),
        b5(m_epochs), b6(m_batch), b7(m_lr), b8(m_augment), b9(m_seed), b10(m_precision),
        b11(m_e2eEpochs), b12(m_syncBn);
    int i = m_datasetCombo->findData(q(r.dataset.name));
    if (i < 0) {
        m_datasetCombo->addItem(q(r.dataset.name), q(r.dataset.name));
        i = m_datasetCombo->count() - 1;
    }
    m_datasetCombo->setCurrentIndex(i);
    m_dataPath->setText(q(r.dataset.path));
    m_trainLimit->setValue(
        static_cast<int>(std::min<std::int64_t>(r.dataset.trainLimit, kMaxSpin)));
    m_testLimit->setValue(static_cast<int>(std::min<std::int64_t>(r.dataset.testLimit, kMaxSpin)));
    m_epochs->setValue(r.epochsPerStage);
    m_e2eEpochs->setValue(endToEndEpochs(spec));
    m_batch->setValue(r.batchSize);
    m_lr->setText(QString::number(r.lr.initial, 'g', 6));
    m_augment->setChecked(r.augment.enabled);
    const int p = m_precision->findData(q(r.precision));
    m_precision->setCurrentIndex(p >= 0 ? p : 0);
    m_seed->setValue(static_cast<int>(std::min<std::uint64_t>(r.seed, kMaxSpin)));
    if (m_syncBn)
        m_syncBn->setChecked(r.syncBn);
    m_specInfo->setText(q(spec.description));
    m_specInfo->setVisible(!spec.description.empty());
    updateDataPlaceholder();
    scheduleDataCheck();
}

void TrainSetup::setFieldError(QLabel *label, const QString &text)
{
    label->setText(text);
    label->setVisible(!text.isEmpty());
}

void TrainSetup::updateDataPlaceholder()
{
    const QString name = m_datasetCombo->currentData().toString();
    m_dataPath->setPlaceholderText(name == QLatin1String("fashion-mnist")
                                       ? q(defaultFashionMnistPath())
                                       : (name == QLatin1String("synthetic")
                                              ? tr("generated, no files")
                                              : tr("the dataset's default place")));
}

void TrainSetup::scheduleDataCheck()
{
    m_check->schedule();
    revalidate();
}

bool TrainSetup::checkingData() const
{
    return m_check->pending();
}

void TrainSetup::onDataChecked()
{
    m_dataError = m_check->error();
    if (const auto &checked = m_check->info()) {
        const DatasetInfo &info = *checked;
        if (info.classes > m_spec.input.classes)
            m_dataError = tr("The dataset has %1 classes but the spec's input has %2 "
                             "(input.classes): choose a spec made for this dataset.")
                              .arg(info.classes)
                              .arg(m_spec.input.classes);
        else if (info.channels != m_spec.input.channels
                 && !(info.channels == 1 && m_spec.input.channels == 3))
            m_dataError = tr("The dataset has %1-channel images but the spec expects %2 "
                             "(input.channels).")
                              .arg(info.channels)
                              .arg(m_spec.input.channels);
    }
    if (!m_dataError.isEmpty()) {
        m_dataStatus->setStyleSheet(QStringLiteral("color: #c62828;"));
        m_dataStatus->setText(m_dataError);
    } else {
        const DatasetInfo &info = *m_check->info();
        m_dataStatus->setStyleSheet(QStringLiteral("color: #2e7d32;"));
        m_dataStatus->setText(tr("\u2713 %1\n%2 train / %3 test images, %4\u00d7%5\u00d7%6, %7 "
                                 "classes")
                                  .arg(q(info.description))
                                  .arg(groupedText(info.trainSize))
                                  .arg(groupedText(info.testSize))
                                  .arg(info.channels)
                                  .arg(info.height)
                                  .arg(info.width)
                                  .arg(info.classes));
    }
    revalidate();
}

void TrainSetup::browseData()
{
    const QString start = m_dataPath->text().isEmpty() ? m_folders->folder(QStringLiteral("data"))
                                                       : m_dataPath->text();
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Dataset Folder"), start);
    if (dir.isEmpty())
        return;
    m_folders->setFolder(QStringLiteral("data"), dir);
    m_dataPath->setText(dir);
}

void TrainSetup::browseSpec()
{
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Open Spec for Training"), m_folders->folder(QStringLiteral("spec")),
        tr("Layerwise specs (*.json);;All files (*)"));
    if (path.isEmpty())
        return;
    m_folders->setFolder(QStringLiteral("spec"), QFileInfo(path).absolutePath());
    if (!openSpecFile(path))
        QMessageBox::warning(this, tr("Open Spec"), m_error);
}

void TrainSetup::onSpecComboChanged(int index)
{
    const QString data = m_specCombo->itemData(index).toString();
    if (data.startsWith(QLatin1String("preset:")))
        loadPreset(data.mid(7));
}
TrainSetup::~TrainSetup() = default;

void TrainSetup::setStore(RunStore *store, const QString &storeError)
{
    m_store = store;
    m_storeError = storeError;
    revalidate();
}

void TrainSetup::setRunning(bool running)
{
    m_running = running;
    updateEditable();
}

} // namespace lw
