#include "ui/train/processesfield.h"

#include "core/runtime/runtime.h"

#include <QComboBox>
#include <QCoreApplication>
#include <QSpinBox>

#include <algorithm>

namespace lw {

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("lw::TrainSetup", text);
}

} // namespace

QSpinBox *makeProcessesSpin(QWidget *parent)
{
    auto *spin = new QSpinBox(parent);
    spin->setObjectName(QStringLiteral("processesSpin"));
    spin->setRange(1, std::max(1, runtimeInfo().cores));
    spin->setValue(1);
    spin->setToolTip(
        tr("Processes on this machine that train the run together (data-parallel on PyTorch's "
           "c10d, Gloo on the CPU): each takes batch / N of every batch and the gradients are "
           "averaged, so the run trains the spec's batch. Threads per process default to "
           "cores / N. Ranks 2..N are layerwise-cli processes; Stop stops them all. A "
           "multi-process run cannot pause. A DGL run may instead put stage j on process j "
           "(Placement: pipeline)."));
    return spin;
}

void showThreadsPerProcess(QSpinBox *threads, int processes)
{
    const int cores = std::max(1, runtimeInfo().cores);
    threads->setSpecialValueText(
        processes > 1 ? tr("cores / processes (%1 each)").arg(std::max(1, cores / processes))
                      : tr("all cores (%1)").arg(cores));
}

QString processesProblem(int processes, int batch)
{
    if (processes <= 1 || batch % processes == 0)
        return {};
    return tr("the batch size %1 does not divide by %2 processes (each takes batch / N)")
        .arg(batch)
        .arg(processes);
}

QComboBox *makePlacementCombo(QWidget *parent)
{
    auto *combo = new QComboBox(parent);
    combo->setObjectName(QStringLiteral("placementCombo"));
    // Short enough not to be cut in the setup panel at 1280x720; the items' tooltips say more.
    combo->addItem(tr("data parallel (a share of each batch)"),
                   QString::fromLatin1(toString(Placement::Data)));
    combo->setItemData(0, tr("Each process trains every stage on batch / N of every batch"),
                       Qt::ToolTipRole);
    combo->addItem(tr("pipeline (stage j on process j)"),
                   QString::fromLatin1(toString(Placement::Pipeline)));
    combo->setItemData(1, tr("Process j trains stage j on the whole batch; one process per stage"),
                       Qt::ToolTipRole);
    combo->setToolTip(
        tr("How a decoupled (DGL) run over N > 1 processes shares its work. Data parallel: "
           "every process trains every stage on batch / N of each batch and the gradients are "
           "averaged. Pipeline: stage j trains on process j on the whole batch and sends its "
           "block's detached output to the next process, so the stages train at the same time; "
           "it needs as many processes as the spec has stages (choosing it sets Processes to "
           "the stage count)."));
    return combo;
}

Placement placementOf(const QComboBox *combo)
{
    auto placement = parsePlacement(combo->currentData().toString().toStdString());
    return placement ? *placement : Placement::Data;
}

QSpinBox *makeReplayBufferSpin(QWidget *parent)
{
    auto *spin = new QSpinBox(parent);
    spin->setObjectName(QStringLiteral("replayBufferSpin"));
    spin->setRange(0, kMaxReplayBuffer);
    spin->setValue(0);
    spin->setSpecialValueText(tr("off (synchronous)"));
    spin->setSuffix(tr(" batches"));
    spin->setToolTip(
        tr("The pipeline's asynchronous variant (DGL with a replay buffer, pipeline placement "
           "only). Off: each stage trains on every batch once, in order, waiting for the stage "
           "below. M batches: each stage above the first keeps the last M batches it received "
           "and trains on one drawn at random from them, without waiting for the stage below. "
           "Memory: M batches of a stage's input activations on each of those stages."));
    return spin;
}

int maxProcesses(const Spec &spec, Placement placement)
{
    const int cores = std::max(1, runtimeInfo().cores);
    if (placement != Placement::Pipeline)
        return cores;
    return std::max(cores, static_cast<int>(spec.stages.size()));
}

QString placementProblem(const Spec &spec, TrainMode mode, Placement placement, int processes,
                         int replayBuffer)
{
    if (auto fits = checkPlacement(spec, mode, placement, processes, replayBuffer); !fits)
        return QString::fromStdString(fits.message());
    return {};
}

} // namespace lw
