#pragma once

// A stage's pictures as numbers (CSV, JSON) and as a folder of files: what
// `layerwise-cli inspect` writes and the GUI's CSV export of the pictures uses.

#include "core/events/pictures.h"
#include "core/util/result.h"

#include <string>
#include <vector>

namespace lw {

/// Header "true,<class names...>", one row per true class of counts (row = true class).
std::string confusionCsv(const ConfusionMatrix &m, const std::vector<std::string> &classNames);
/// Columns sample,label,class,x,y.
std::string projectionCsv(const Projection &p, const std::vector<std::string> &classNames);
/// Columns rank,sample,true,true_class,predicted,predicted_class,confidence,fixed_at_stage
/// (stages 0-based, -1: never fixed).
std::string hardErrorsCsv(const HardErrors &e, const std::vector<std::string> &classNames);
/// The numbers of one stage: accuracies, per-class accuracies, the confusions, explained
/// variance, probe accuracy, hard errors (stages 0-based, fractions in [0, 1]).
std::string picturesJson(const StagePictures &p);

/// Writes stage<k>-confusion-head.png/.csv, stage<k>-confusion-ensemble.png/.csv,
/// stage<k>-projection.png/.csv, stage<k>-feature-maps.png, stage<k>-hard-errors.png/.csv,
/// stage<k>.json and (stage 0) filters.png into folder `dir` (created), k 0-based. Returns the
/// files written (full paths); errors name the file.
Result<std::vector<std::string>> writePictures(const StagePictures &p, const std::string &dir);

/// A picked test image through the stages: its sample, true class and per stage the head's
/// prediction, confidence and the channels shown (stages 0-based; predicted -1: no trained head).
std::string imageJson(const ImageThroughStages &img);
/// Writes image<N>.png (the test image at scaleTo64), image<N>-stage<k>.png (stage k's maps in
/// one row at scaleTo64 of their side, k 0-based), image<N>-stages.png
/// (renderImageThroughStages at scaleTo64) and image<N>.json into folder `dir` (created), N the
/// sample. Returns the files written (full paths); errors name the file.
Result<std::vector<std::string>> writeImageThroughStages(const ImageThroughStages &img,
                                                         const std::string &dir);

} // namespace lw
