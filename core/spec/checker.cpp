// Validation of a Spec in memory: the range of every field, with its JSON path. Shapes and
// costs are inferred in shapes.cpp.

#include "core/spec/internal_p.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <string>
#include <vector>

namespace lw {

namespace spec_detail {

std::string joinIssues(const std::vector<SpecIssue> &issues, const std::string &prefix)
{
    std::string out;
    for (const auto &i : issues) {
        if (!out.empty())
            out += '\n';
        out += prefix + i.toString();
    }
    return out;
}

template<typename T>
void Checker::range(const std::string &path, T v, T lo, T hi)
{
    if (v < lo) {
        issue(path, (lo == 1 ? std::string("must be > 0") : "must be >= " + std::to_string(lo))
                        + ", got " + std::to_string(v));
    } else if (v > hi) {
        issue(path, "must be at most " + std::to_string(hi) + ", got " + std::to_string(v));
    }
}

void Checker::checkRanges()
{
    const InputSpec &in = m_spec.input;
    const std::size_t before = m_issues.size();
    range("input.channels", in.channels, 1, kMaxChannels);
    range("input.height", in.height, 1, kMaxSide);
    range("input.width", in.width, 1, kMaxSide);
    range("input.classes", in.classes, 2, kMaxClasses);
    if (in.downsample != Downsample::None && in.downsample != Downsample::Psi)
        issue("input.downsample",
              std::string("must be \"none\" or \"psi\", got \"") + toString(in.downsample) + "\"");
    m_inputOk = m_issues.size() == before;

    if (m_spec.stages.empty())
        issue("stages", "must have at least one stage");
    if (m_spec.stages.size() > static_cast<std::size_t>(SpecLimits::maxStages))
        issue("stages", "at most " + std::to_string(SpecLimits::maxStages) + " stages, got "
                            + std::to_string(m_spec.stages.size()));
    m_stageOk.assign(m_spec.stages.size(), true);
    for (std::size_t i = 0; i < m_spec.stages.size(); ++i) {
        m_stage = static_cast<int>(i);
        const std::size_t mark = m_issues.size();
        checkStage(m_spec.stages[i], itemPath("stages", i));
        m_stageOk[i] = m_issues.size() == mark;
    }
    m_stage = -1;
    checkRecipe(m_spec.recipe, "recipe");
}

void Checker::checkStage(const StageSpec &st, const std::string &path)
{
    range(path + ".width", st.width, 1, kMaxWidth);
    if (st.kernel < 1 || st.kernel > SpecLimits::maxKernel || st.kernel % 2 == 0)
        issue(path + ".kernel", "must be an odd number from 1 to "
                                    + std::to_string(SpecLimits::maxKernel) + ", got "
                                    + std::to_string(st.kernel));
    const HeadSpec &h = st.head;
    const std::string hp = path + ".head";
    if (h.k < 1 || h.k > SpecLimits::maxHeadK)
        issue(hp + ".k", "must be 1, 2 or 3, got " + std::to_string(h.k));
    range(hp + ".width", h.width, 1, kMaxWidth);
    range(hp + ".pooled", h.pooled, 1, kMaxSide);
    if (h.padding < 0 || h.padding > 1)
        issue(hp + ".padding", "must be 0 or 1, got " + std::to_string(h.padding));
    if (!(h.dropout >= 0.0 && h.dropout < 1.0))
        issue(hp + ".dropout", "must be in [0, 1), got " + numberText(h.dropout));
}

void Checker::checkLr(const LrSchedule &lr, const std::string &path, int epochs,
                      const std::string &epochsPath)
{
    if (!(lr.initial > 0.0 && lr.initial <= SpecLimits::maxLr))
        issue(path + ".initial", "must be > 0 and at most " + numberText(SpecLimits::maxLr)
                                     + ", got " + numberText(lr.initial));
    if (!(lr.factor > 1.0 && lr.factor <= SpecLimits::maxLrFactor))
        issue(path + ".factor", "must be > 1 (the LR is divided by it) and at most "
                                    + numberText(SpecLimits::maxLrFactor) + ", got "
                                    + numberText(lr.factor));
    range(path + ".every", lr.every, 0, kMaxEpochs);
    for (std::size_t i = 0; i < lr.milestones.size(); ++i) {
        const int m = lr.milestones[i];
        if (m < 1)
            issue(itemPath(path + ".milestones", i),
                  "must be >= 1 (the epoch at which the new LR starts), got " + std::to_string(m));
        else if (i > 0 && m <= lr.milestones[i - 1])
            issue(itemPath(path + ".milestones", i), "milestones must be increasing, got "
                                                         + std::to_string(m) + " after "
                                                         + std::to_string(lr.milestones[i - 1]));
        else if (epochs > 0 && m >= epochs)
            // Milestone m decays the LR from epoch m + 1 on: at or past the last epoch it never
            // takes effect, and the schedule silently does not decay.
            issue(itemPath(path + ".milestones", i),
                  "milestone " + std::to_string(m) + " is past the last epoch (" + epochsPath
                      + " is " + std::to_string(epochs) + ", so the LR would never decay there); "
                      + "expected 1 to " + std::to_string(epochs - 1));
    }
    if (lr.every > 0 && !lr.milestones.empty())
        issue(path, "set either \"every\" or \"milestones\", not both");
}

void Checker::checkRecipe(const RecipeSpec &r, const std::string &path)
{
    bool knownDataset = false;
    for (const char *n : kDatasetNames)
        knownDataset = knownDataset || r.dataset.name == n;
    if (!knownDataset)
        issue(path + ".dataset.name",
              "expected one of " + quotedList(kDatasetNames) + "; got \"" + r.dataset.name + "\"");
    if (r.dataset.trainLimit < 0)
        issue(path + ".dataset.train_limit",
              "must be >= 0 (0: all), got " + std::to_string(r.dataset.trainLimit));
    if (r.dataset.testLimit < 0)
        issue(path + ".dataset.test_limit",
              "must be >= 0 (0: all), got " + std::to_string(r.dataset.testLimit));
    range(path + ".epochs_per_stage", r.epochsPerStage, 1, kMaxEpochs);
    range(path + ".batch_size", r.batchSize, 1, kMaxBatch);
    range(path + ".test_batch_size", r.testBatchSize, 1, kMaxBatch);

    const OptimizerSpec &o = r.optimizer;
    if (!(o.momentum >= 0.0 && o.momentum < 1.0))
        issue(path + ".optimizer.momentum", "must be in [0, 1), got " + numberText(o.momentum));
    if (!(o.weightDecay >= 0.0 && o.weightDecay <= SpecLimits::maxWeightDecay))
        issue(path + ".optimizer.weight_decay", "must be in [0, "
                                                    + numberText(SpecLimits::maxWeightDecay)
                                                    + "], got " + numberText(o.weightDecay));
    if (o.nesterov && !(o.momentum > 0.0))
        issue(path + ".optimizer.nesterov", "Nesterov momentum needs momentum > 0");

    checkLr(r.lr, path + ".lr", r.epochsPerStage, path + ".epochs_per_stage");

    const AugmentSpec &a = r.augment;
    range(path + ".augment.padding", a.padding, 0, SpecLimits::maxAugmentPadding);
    const int side = std::max(m_spec.input.height, m_spec.input.width);
    if (a.evalResize < 0 || a.evalResize > kMaxSide)
        issue(path + ".augment.eval_resize", "must be between 0 and " + std::to_string(kMaxSide)
                                                 + ", got " + std::to_string(a.evalResize));
    else if (a.evalResize > 0 && a.evalResize < side)
        issue(path + ".augment.eval_resize",
              "must be 0 (off) or at least the input side " + std::to_string(side)
                  + " (resize, then center crop), got " + std::to_string(a.evalResize));

    const NormalizeSpec &n = r.normalize;
    const auto channels = static_cast<std::size_t>(std::max(m_spec.input.channels, 0));
    if (!n.mean.empty() || !n.std.empty()) {
        if (n.mean.size() != channels)
            issue(path + ".normalize.mean", "expected " + std::to_string(channels)
                                                + " value(s), one per input channel, got "
                                                + std::to_string(n.mean.size()));
        if (n.std.size() != channels)
            issue(path + ".normalize.std", "expected " + std::to_string(channels)
                                               + " value(s), one per input channel, got "
                                               + std::to_string(n.std.size()));
        const std::string bound = numberText(SpecLimits::maxNormalize);
        for (std::size_t i = 0; i < n.mean.size(); ++i) {
            if (!(std::fabs(n.mean[i]) <= SpecLimits::maxNormalize))
                issue(itemPath(path + ".normalize.mean", i), "must be a number from -" + bound
                                                                 + " to " + bound + ", got "
                                                                 + numberText(n.mean[i]));
        }
        for (std::size_t i = 0; i < n.std.size(); ++i) {
            if (!(n.std[i] > 0.0 && n.std[i] <= SpecLimits::maxNormalize))
                issue(itemPath(path + ".normalize.std", i),
                      "must be > 0 and at most " + bound + ", got " + numberText(n.std[i]));
        }
        if (n.fromData)
            issue(path + ".normalize.from_data", "set either mean/std or from_data, not both");
    }

    range(path + ".e2e.epochs", r.e2e.epochs, 0, kMaxEpochs);
    checkLr(r.e2e.lr, path + ".e2e.lr", endToEndEpochs(m_spec),
            r.e2e.epochs > 0
                ? path + ".e2e.epochs"
                : path + ".epochs_per_stage x " + std::to_string(m_spec.stages.size()) + " stages");

    bool knownPrecision = false;
    for (const char *p : kPrecisionNames)
        knownPrecision = knownPrecision || r.precision == p;
    if (!knownPrecision)
        issue(path + ".precision",
              "expected one of " + quotedList(kPrecisionNames) + "; got \"" + r.precision + "\"");
}

} // namespace spec_detail

using spec_detail::Checker;

std::vector<SpecIssue> validateSpec(const Spec &spec)
{
    std::vector<SpecIssue> issues;
    try {
        Checker checker(spec, issues);
        checker.checkRanges();
        checker.inferShapes(nullptr);
    } catch (const std::exception &e) {
        issues.push_back(SpecIssue{"", std::string("cannot check the spec: ") + e.what(), -1});
    }
    return issues;
}

int endToEndEpochs(const Spec &spec)
{
    const RecipeSpec &r = spec.recipe;
    if (r.e2e.epochs > 0)
        return r.e2e.epochs;
    const long long product
        = static_cast<long long>(r.epochsPerStage) * static_cast<long long>(spec.stages.size());
    return static_cast<int>(std::min<long long>(product, std::numeric_limits<int>::max()));
}

std::string dropMilestonesPastEnd(Spec &spec)
{
    std::string said;
    auto drop = [&said](LrSchedule &lr, int epochs, const std::string &field) {
        std::vector<int> kept, dropped;
        for (int m : lr.milestones)
            (m >= epochs ? dropped : kept).push_back(m);
        if (dropped.empty())
            return;
        lr.milestones = kept;
        std::string list;
        for (int m : dropped)
            list += (list.empty() ? "" : ", ") + std::to_string(m);
        if (!said.empty())
            said += "; ";
        said += field + " " + list + " dropped: past the last of " + std::to_string(epochs)
                + " epochs";
    };
    drop(spec.recipe.lr, spec.recipe.epochsPerStage, "LR milestones");
    drop(spec.recipe.e2e.lr, endToEndEpochs(spec), "end-to-end LR milestones");
    return said;
}

} // namespace lw
