// The Train view's setup form, its training part: the recipe fields (mode, the epochs and
// schedule of that mode, batch, learning rate, augmentation, cache, precision, probes, seed) and
// the machine (device, threads), the re-check of the whole form after any edit, and the run
// request the form makes. The rest of the widgets are built in trainsetup.cpp.
#include "ui/train/trainsetup.h"

#include "core/runtime/runtime.h"
#include "ui/train/datacheck.h"
#include "ui/train/processesfield.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QSignalBlocker>
#include <QSpinBox>

#include <cmath>
#include <limits>

namespace lw {

namespace {

QString q(const std::string &s)
{
    return QString::fromStdString(s);
}

} // namespace

QGroupBox *TrainSetup::buildRecipeBox(QWidget *parent)
{
    auto *recipeBox = new QGroupBox(tr("Training"), parent);
    auto *recipeForm = new QFormLayout(recipeBox);
    m_modeCombo = new QComboBox(recipeBox);
    m_modeCombo->setObjectName(QStringLiteral("modeCombo"));
    m_modeCombo->addItem(tr("Greedy layerwise"), QStringLiteral("greedy"));
    m_modeCombo->addItem(tr("End-to-end"), QStringLiteral("e2e"));
    m_modeCombo->addItem(tr("Decoupled (DGL)"), QStringLiteral("dgl"));
    recipeForm->addRow(tr("Mode"), m_modeCombo);
    m_epochs = new QSpinBox(recipeBox);
    m_epochs->setObjectName(QStringLiteral("epochsSpin"));
    m_epochs->setRange(1, 100000);
    m_epochsLabel = new QLabel(tr("Epochs / stage"), recipeBox);
    recipeForm->addRow(m_epochsLabel, m_epochs);
    // End-to-end trains its own number of epochs with its own schedule (recipe.e2e).
    m_e2eEpochs = new QSpinBox(recipeBox);
    m_e2eEpochs->setObjectName(QStringLiteral("e2eEpochsSpin"));
    m_e2eEpochs->setRange(1, SpecLimits::maxEpochs);
    m_e2eEpochs->setToolTip(tr("Epochs of the end-to-end run (the recipe's e2e.epochs)"));
    m_e2eEpochsLabel = new QLabel(tr("End-to-end epochs"), recipeBox);
    recipeForm->addRow(m_e2eEpochsLabel, m_e2eEpochs);
    m_schedule = new QLabel(recipeBox);
    m_schedule->setObjectName(QStringLiteral("scheduleLabel"));
    m_schedule->setWordWrap(true);
    m_schedule->setStyleSheet(QStringLiteral("color: palette(dark);"));
    recipeForm->addRow(m_schedule);
    m_epochsHint = new QLabel(recipeBox);
    m_epochsHint->setObjectName(QStringLiteral("epochsHint"));
    m_epochsHint->setWordWrap(true);
    m_epochsHint->setStyleSheet(QStringLiteral("color: #b26a00;"));
    m_epochsHint->hide();
    recipeForm->addRow(m_epochsHint);
    m_batch = new QSpinBox(recipeBox);
    m_batch->setObjectName(QStringLiteral("batchSpin"));
    m_batch->setRange(1, 65536);
    recipeForm->addRow(tr("Batch size"), m_batch);
    m_lr = new QLineEdit(recipeBox);
    m_lr->setObjectName(QStringLiteral("lrEdit"));
    m_lr->setToolTip(tr("Initial learning rate (the schedule's decays follow the spec)"));
    recipeForm->addRow(tr("Learning rate"), m_lr);
    m_lrError = makeErrorLabel(recipeBox);
    m_lrError->setObjectName(QStringLiteral("lrError"));
    recipeForm->addRow(m_lrError);
    m_augment = new QCheckBox(tr("Random crop and flip"), recipeBox);
    m_augment->setObjectName(QStringLiteral("augmentCheck"));
    recipeForm->addRow(tr("Augmentation"), m_augment);
    m_cache = new QComboBox(recipeBox);
    m_cache->setObjectName(QStringLiteral("cacheCombo"));
    m_cache->addItem(tr("Auto (on when augmentation is off)"), QStringLiteral("auto"));
    m_cache->addItem(tr("On"), QStringLiteral("on"));
    m_cache->addItem(tr("Off (recompute the frozen prefix)"), QStringLiteral("off"));
    m_cache->setToolTip(tr("Greedy runs: train stage j on cached outputs of the frozen stages"));
    recipeForm->addRow(tr("Feature cache"), m_cache);
    m_precision = new QComboBox(recipeBox);
    m_precision->setObjectName(QStringLiteral("precisionCombo"));
    const QString bf16Isa = q(cpuBf16Instructions());
    m_precision->addItem(tr("fp32"), QStringLiteral("fp32"));
    m_precision->addItem(bf16Isa.isEmpty()
                             ? tr("bf16 (CUDA; emulated on this CPU: slower)")
                             : tr("bf16 (about 2x faster on this CPU: %1)").arg(bf16Isa),
                         QStringLiteral("bf16"));
    m_precision->addItem(tr("fp16 (CUDA only)"), QStringLiteral("fp16"));
    m_precision->setToolTip(
        tr("Mixed precision (autocast): bf16 on CUDA and on CPUs with bf16 instructions (AMX, "
           "AVX512-BF16), fp16 with loss scaling on CUDA. Changes the numbers slightly."));
    recipeForm->addRow(tr("Precision"), m_precision);
    m_probes = new QCheckBox(tr("Probe every layer after each stage"), recipeBox);
    m_probes->setObjectName(QStringLiteral("probesCheck"));
    m_probes->setToolTip(tr("Linear-separability probes (linear softmax on 2x2-pooled "
                            "features), shown in the accuracy-by-depth plot"));
    recipeForm->addRow(tr("Probes"), m_probes);
    m_seed = new QSpinBox(recipeBox);
    m_seed->setObjectName(QStringLiteral("seedSpin"));
    m_seed->setRange(0, std::numeric_limits<int>::max());
    recipeForm->addRow(tr("Seed"), m_seed);
    return recipeBox;
}

QGroupBox *TrainSetup::buildMachineBox(QWidget *parent)
{
    auto *machineBox = new QGroupBox(tr("Machine"), parent);
    auto *machineForm = new QFormLayout(machineBox);
    m_device = new QComboBox(machineBox);
    m_device->setObjectName(QStringLiteral("deviceCombo"));
    const RuntimeInfo rt = runtimeInfo();
    m_device->addItem(rt.cudaAvailable ? tr("Auto (cuda:0)") : tr("Auto (CPU)"),
                      QStringLiteral("auto"));
    m_device->addItem(tr("CPU"), QStringLiteral("cpu"));
    for (const std::string &d : rt.cudaDevices) {
        const QString text = q(d);
        m_device->addItem(text, text.section(QLatin1Char(' '), 0, 0));
    }
    if (!rt.cudaAvailable)
        m_device->setToolTip(tr("No CUDA device was found (LibTorch %1)").arg(q(rt.torchVersion)));
    machineForm->addRow(tr("Device"), m_device);
    m_threads = new QSpinBox(machineBox);
    m_threads->setObjectName(QStringLiteral("threadsSpin"));
    m_threads->setRange(0, 1024);
    m_threads->setSpecialValueText(tr("all cores (%1)").arg(rt.cores));
    machineForm->addRow(tr("CPU threads"), m_threads);
    m_processes = makeProcessesSpin(machineBox);
    machineForm->addRow(tr("Processes"), m_processes);
    connect(m_processes, &QSpinBox::valueChanged, this, [this](int n) {
        showThreadsPerProcess(m_threads, n);
        revalidate();
    });
    // A DGL run's placement over N > 1 processes and the pipeline's replay buffer (rows shown
    // in DGL mode only: updatePlacementRows).
    m_placement = makePlacementCombo(machineBox);
    machineForm->addRow(tr("Placement"), m_placement);
    m_replayBuffer = makeReplayBufferSpin(machineBox);
    machineForm->addRow(tr("Replay buffer"), m_replayBuffer);
    machineForm->setRowVisible(m_placement, false); // greedy, the first mode
    machineForm->setRowVisible(m_replayBuffer, false);
    connect(m_placement, &QComboBox::currentIndexChanged, this, &TrainSetup::revalidate);
    // Picking the pipeline sets the processes to one per stage (the start problem says so
    // should they differ later).
    connect(m_placement, &QComboBox::activated, this, [this] {
        const Spec spec = effectiveSpec();
        const int stages = static_cast<int>(spec.stages.size());
        if (placementOf(m_placement) == Placement::Pipeline && stages > 1) {
            m_processes->setMaximum(maxProcesses(spec, Placement::Pipeline));
            m_processes->setValue(stages);
        }
    });
    connect(m_replayBuffer, &QSpinBox::valueChanged, this, &TrainSetup::revalidate);
    // The recipe's sync_bn, where it acts: data parallel over N > 1 processes.
    m_syncBn = new QCheckBox(tr("Sync across processes (sync_bn)"), machineBox);
    m_syncBn->setObjectName(QStringLiteral("syncBnCheck"));
    m_syncBn->setToolTip(
        tr("Data parallel over several processes: BatchNorm normalizes with the statistics of "
           "the whole batch (SyncBatchNorm: per-channel sums all-reduced forward and backward) "
           "instead of each process's share. No effect in one process or in the DGL pipeline."));
    machineForm->addRow(tr("BatchNorm"), m_syncBn);
    connect(m_syncBn, &QCheckBox::toggled, this, &TrainSetup::revalidate);
    return machineBox;
}

void TrainSetup::revalidate()
{
    QString epochsNote;
    const Spec spec = effectiveSpec(&epochsNote);
    QStringList problems;

    // The spec (its own fields and the recipe's, as the validator names them).
    QString specProblem;
    if (spec.stages.empty()) {
        specProblem = tr("No architecture: choose a preset, open a spec or use the Design view.");
    } else if (auto issues = validateSpec(spec); !issues.empty()) {
        QStringList lines;
        for (std::size_t i = 0; i < issues.size() && i < 4; ++i)
            lines << q(issues[i].toString());
        if (issues.size() > 4)
            lines << tr("(%1 more)").arg(issues.size() - 4);
        specProblem = lines.join(QLatin1Char('\n'));
    }
    setFieldError(m_specError, specProblem);
    if (!specProblem.isEmpty())
        problems << tr("the spec is invalid");

    bool ok = false;
    const QString lrText = m_lr->text().trimmed();
    const double lr = lrText.toDouble(&ok);
    QString lrProblem;
    if (lrText.isEmpty())
        lrProblem = tr("Enter the initial learning rate, e.g. 0.1.");
    else if (!ok || !std::isfinite(lr))
        lrProblem = tr("'%1' is not a number; expected a positive number such as 0.05 or 1e-3.")
                        .arg(lrText);
    else if (lr <= 0)
        lrProblem = tr("The learning rate must be greater than 0.");
    setFieldError(m_lrError, lrProblem);
    if (!lrProblem.isEmpty())
        problems << tr("the learning rate is invalid");

    const TrainMode mode = parseTrainMode(m_modeCombo->currentData().toString().toStdString())
                               .value_or(TrainMode::Greedy);
    updateEpochRows(mode, spec, epochsNote);
    updatePlacementRows(mode, spec);
    // The pipeline trains the whole batch on each process: only data parallel divides it.
    if (placement() == Placement::Data)
        if (const QString p = processesProblem(m_processes->value(), spec.recipe.batchSize);
            !p.isEmpty())
            problems << p;
    if (const QString p
        = placementProblem(spec, mode, placement(), m_processes->value(), replayBuffer());
        !p.isEmpty())
        problems << p;
    if (m_shownRun >= 0)
        problems << tr("these are run %1's settings: press New Run from These Settings to "
                       "change them")
                        .arg(m_shownRun);
    if (m_branchParent >= 0) {
        if (mode != TrainMode::Greedy)
            problems << tr("a branch of run %1 trains greedily: choose greedy layerwise or "
                           "train from scratch")
                            .arg(m_branchParent);
        if (static_cast<int>(spec.stages.size()) <= m_branchStage)
            problems
                << tr("a branch from stage %1 needs a stage %1 to train").arg(m_branchStage + 1);
    }

    // The data: the last check must be about what the fields say now, and have passed.
    m_check->ensureCurrent(); // a field may have changed without its own signal (a new spec)
    if (checkingData()) {
        problems << tr("checking the data\u2026");
    } else if (!m_dataError.isEmpty()) {
        problems << tr("the data cannot be used");
    }
    if (!m_store)
        problems << (m_storeError.isEmpty() ? tr("no run store is open")
                                            : tr("run store: %1").arg(m_storeError));

    m_startProblem = problems.isEmpty()
                         ? QString()
                         : tr("Cannot start: %1.").arg(problems.join(QStringLiteral("; ")));
    emit changed();
}

TrainMode TrainSetup::mode() const
{
    return parseTrainMode(m_modeCombo->currentData().toString().toStdString())
        .value_or(TrainMode::Greedy);
}

ExecOptions TrainSetup::execOptions() const
{
    ExecOptions exec;
    exec.device = m_device->currentData().toString().toStdString();
    exec.threads = m_threads->value();
    const QString cache = m_cache->currentData().toString();
    exec.cache = cache == QLatin1String("on")    ? FeatureCache::On
                 : cache == QLatin1String("off") ? FeatureCache::Off
                                                 : FeatureCache::Auto;
    exec.placement = placement();
    exec.replayBuffer = replayBuffer();
    return exec;
}

void TrainSetup::updatePlacementRows(TrainMode mode, const Spec &effective)
{
    const bool dgl = mode == TrainMode::Decoupled;
    if (auto *form = qobject_cast<QFormLayout *>(m_processes->parentWidget()->layout())) {
        form->setRowVisible(m_placement, dgl);
        form->setRowVisible(m_replayBuffer, dgl);
    }
    // Beyond the cores only for a DGL pipeline of more stages than cores.
    const int most = maxProcesses(effective, dgl ? placementOf(m_placement) : Placement::Data);
    if (m_processes->maximum() != most) {
        const QSignalBlocker block(m_processes);
        m_processes->setMaximum(most);
        showThreadsPerProcess(m_threads, m_processes->value());
    }
    m_placement->setEnabled(m_processes->value() > 1);
    m_replayBuffer->setEnabled(placement() == Placement::Pipeline);
    if (m_syncBn)
        m_syncBn->setEnabled(m_processes->value() > 1 && placement() == Placement::Data);
}

Placement TrainSetup::placement() const
{
    return mode() == TrainMode::Decoupled && m_processes->value() > 1 ? placementOf(m_placement)
                                                                      : Placement::Data;
}

int TrainSetup::replayBuffer() const
{
    return placement() == Placement::Pipeline ? m_replayBuffer->value() : 0;
}

NewRunRequest TrainSetup::newRunRequest() const
{
    NewRunRequest request;
    request.spec = effectiveSpec();
    request.mode = mode();
    request.name = m_name->text().trimmed().toStdString();
    request.specName = m_specName.toStdString();
    request.probes = m_probes->isChecked();
    request.exec = execOptions();
    if (m_branchParent >= 0) {
        request.parentRun = m_branchParent;
        request.lockedStages = m_branchStage;
    }
    return request;
}

} // namespace lw
