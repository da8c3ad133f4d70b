#pragma once

// The Train view's Processes field (issue 16): how many processes on this machine train one run
// (data-parallel on PyTorch's c10d, Gloo on the CPU). Kept beside the setup panel, which only
// places it. Hook: DGL's stage-per-process placement (issue 16 item 4), once the engine has it,
// is a second field here (shown for DGL with N > 1), passed with the processes to
// TrainSession::start and on to DistLaunch.

#include <QString>

class QSpinBox;
class QWidget;

namespace lw {

/// A spin box of 1..cores processes (default 1) with a tooltip saying what it does.
QSpinBox *makeProcessesSpin(QWidget *parent);

/// The threads field's "all cores" text for `processes` processes (each then takes
/// cores / processes threads).
void showThreadsPerProcess(QSpinBox *threads, int processes);

/// Why `processes` cannot train batches of `batch` (each process takes batch / processes), as a
/// start problem; empty when they can.
QString processesProblem(int processes, int batch);

} // namespace lw
