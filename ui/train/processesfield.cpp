#include "ui/train/processesfield.h"

#include "core/runtime/runtime.h"

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
           "multi-process run cannot pause."));
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

} // namespace lw
