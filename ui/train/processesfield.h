#pragma once

// The Train view's Processes field (issue 16): how many processes on this machine train one run
// (data-parallel on PyTorch's c10d, Gloo on the CPU), and, for a decoupled (DGL) run over
// N > 1 processes, its Placement (data parallel, or stage j on process j: ExecOptions::placement)
// and the pipeline's Replay buffer (the asynchronous DGL variant: ExecOptions::replayBuffer).
// Kept beside the setup panel, which only places them (a DGL-only row pair under Processes)
// and passes them in its ExecOptions to TrainSession::start / resumeRun; rank 0 publishes both
// to the workers (core/run/distjob.cpp).

#include "core/train/trainer.h"

#include <QString>

class QComboBox;
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

/// The Placement field ("placementCombo"): data parallel or pipeline (stage j on process j);
/// each item's data is toString(Placement).
QComboBox *makePlacementCombo(QWidget *parent);
/// The placement `combo` shows.
Placement placementOf(const QComboBox *combo);

/// The Replay buffer field ("replayBufferSpin"): 0 (off, synchronous) to kMaxReplayBuffer
/// batches per stage.
QSpinBox *makeReplayBufferSpin(QWidget *parent);

/// The most processes the Processes field offers: the cores, or with the pipeline placement
/// one per stage of `spec` when it has more stages than cores (they then share the cores).
int maxProcesses(const Spec &spec, Placement placement);

/// Why a run of `spec` in `mode` over `processes` processes cannot take `placement` and
/// `replayBuffer`, in checkPlacement's words, as a start problem; empty when it can.
QString placementProblem(const Spec &spec, TrainMode mode, Placement placement, int processes,
                         int replayBuffer);

} // namespace lw
