// Shape inference and costs: each stage's input and output shape, parameters and MACs, and
// the shape problems (a side below 1 pixel, psi on an odd side, a head pooled too far).

#include "core/spec/internal_p.h"

#include <exception>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

namespace lw {

namespace spec_detail {

namespace {

constexpr std::int64_t kSaturated = std::numeric_limits<std::int64_t>::max();

std::int64_t mulSat(std::int64_t a, std::int64_t b)
{
    std::int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r))
        return kSaturated;
    return r;
}

std::int64_t mulSat(std::initializer_list<std::int64_t> factors)
{
    std::int64_t r = 1;
    for (auto f : factors)
        r = mulSat(r, f);
    return r;
}

std::int64_t addSat(std::int64_t a, std::int64_t b)
{
    std::int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r))
        return kSaturated;
    return r;
}

std::string shapeText(const Shape &s)
{
    return std::to_string(s.c) + "x" + std::to_string(s.h) + "x" + std::to_string(s.w);
}

std::string sideText(int h, int w)
{
    return std::to_string(h) + "x" + std::to_string(w);
}

} // namespace

void Checker::inferShapes(std::vector<StageCost> *costs)
{
    if (!m_inputOk)
        return;
    const InputSpec &in = m_spec.input;
    Shape s{in.channels, in.height, in.width};
    if (in.downsample == Downsample::Psi) {
        if (s.h % 2 != 0 || s.w % 2 != 0) {
            issue("input.downsample",
                  "psi needs an even height and width, got the " + shapeText(s) + " input");
            return;
        }
        s = Shape{s.c * 4, s.h / 2, s.w / 2};
    }
    // Counts saturate at the int64 maximum; a count that reaches it is refused rather than
    // shown or stored wrong.
    std::int64_t params = 0, macs = 0;
    for (std::size_t i = 0; i < m_spec.stages.size(); ++i) {
        if (!m_stageOk[i])
            return;
        m_stage = static_cast<int>(i);
        StageCost cost;
        const std::string path = itemPath("stages", i);
        if (!stageCost(m_spec.stages[i], path, s, cost))
            return;
        params = addSat(params, addSat(cost.blockParams, cost.headParams));
        macs = addSat(macs, addSat(cost.blockMacs, cost.headMacs));
        if (params == kSaturated || macs == kSaturated) {
            issue(path, "the parameter or multiply-accumulate count of stages 1.."
                            + std::to_string(i + 1)
                            + " overflows a 64-bit integer: the network is far too large");
            return;
        }
        if (costs)
            costs->push_back(cost);
        s = cost.out;
    }
    m_stage = -1;
}

bool Checker::stageCost(const StageSpec &st, const std::string &path, Shape in, StageCost &cost)
{
    // Prose numbers stages from 1: the stage before stages[m_stage] is stage m_stage.
    std::string origin = "the output of stage " + std::to_string(m_stage);
    if (m_stage == 0)
        origin = m_spec.input.downsample == Downsample::Psi ? "the input after psi" : "the input";
    cost.in = in;
    Shape convIn = in;
    int outH = in.h, outW = in.w;
    const int k = st.kernel;
    switch (st.downsample) {
    case Downsample::None: break;
    case Downsample::Psi:
        if (in.h % 2 != 0 || in.w % 2 != 0) {
            issue(path + ".downsample",
                  "psi needs an even height and width, got " + shapeText(in) + " (" + origin + ")");
            return false;
        }
        convIn = Shape{in.c * 4, in.h / 2, in.w / 2};
        outH = in.h / 2;
        outW = in.w / 2;
        break;
    case Downsample::MaxPool:
    case Downsample::AvgPool:
        if (in.h < 2 || in.w < 2) {
            issue(path + ".downsample", std::string(toString(st.downsample))
                                            + " (2x2, stride 2) would take " + shapeText(in) + " ("
                                            + origin + ") below 1 pixel");
            return false;
        }
        convIn = Shape{in.c, in.h / 2, in.w / 2};
        outH = in.h / 2;
        outW = in.w / 2;
        break;
    case Downsample::Stride:
        outH = (in.h + 2 * (k / 2) - k) / 2 + 1;
        outW = (in.w + 2 * (k / 2) - k) / 2 + 1;
        break;
    }
    cost.out = Shape{st.width, outH, outW};
    cost.blockParams = mulSat({convIn.c, st.width, k, k});
    if (st.bias)
        cost.blockParams = addSat(cost.blockParams, st.width);
    if (st.bn)
        cost.blockParams = addSat(cost.blockParams, 2 * static_cast<std::int64_t>(st.width));
    cost.blockMacs = mulSat({outH, outW, st.width, convIn.c, k, k});
    cost.activationBytes = mulSat({cost.out.c, cost.out.h, cost.out.w, 4});
    return headCost(st.head, path + ".head", cost);
}

bool Checker::headCost(const HeadSpec &h, const std::string &path, StageCost &cost)
{
    const std::int64_t classes = m_spec.input.classes;
    Shape s = cost.out;
    if (h.maxpoolFirst) {
        if (s.h < 2 || s.w < 2) {
            issue(path + ".maxpool_first",
                  "a 2x2 max-pool would take the " + shapeText(s) + " block output below 1 pixel");
            return false;
        }
        s.h /= 2;
        s.w /= 2;
    }
    std::int64_t params = 0, macs = 0;
    if (h.kind == HeadKind::Conv) {
        for (int i = 1; i < h.k; ++i) {
            const int nh = s.h + 2 * h.padding - 2, nw = s.w + 2 * h.padding - 2;
            if (nh < 1 || nw < 1) {
                issue(path + ".k", std::to_string(h.k - 1) + " hidden 3x3 conv(s) with padding "
                                       + std::to_string(h.padding) + " would take the "
                                       + sideText(s.h, s.w) + " input below 1 pixel");
                return false;
            }
            params = addSat(params, mulSat({s.c, h.width, 9}));
            if (h.bn)
                params = addSat(params, 2 * static_cast<std::int64_t>(h.width));
            macs = addSat(macs, mulSat({nh, nw, h.width, s.c, 9}));
            s = Shape{h.width, nh, nw};
        }
    }
    if (!checkPooling(h, path, s))
        return false;
    const std::int64_t features = mulSat({s.c, h.pooled, h.pooled});
    if (h.kind == HeadKind::Conv) {
        if (h.bn)
            params = addSat(params, 2 * static_cast<std::int64_t>(s.c));
        params = addSat(params, addSat(mulSat(features, classes), classes));
        macs = addSat(macs, mulSat(features, classes));
    } else {
        std::int64_t f = features;
        for (int i = 1; i < h.k; ++i) {
            params = addSat(params, addSat(mulSat(f, h.width), h.width));
            macs = addSat(macs, mulSat(f, h.width));
            f = h.width;
        }
        params = addSat(params, addSat(mulSat(f, classes), classes));
        macs = addSat(macs, mulSat(f, classes));
    }
    cost.headParams = params;
    cost.headMacs = macs;
    return true;
}

bool Checker::checkPooling(const HeadSpec &h, const std::string &path, const Shape &s)
{
    if (h.pooled > s.h || h.pooled > s.w) {
        issue(path + ".pooled", "pooling to " + sideText(h.pooled, h.pooled)
                                    + " is larger than the head's " + sideText(s.h, s.w)
                                    + " input");
        return false;
    }
    if (h.pool == HeadPool::Fixed) {
        // AvgPool(kernel = stride = side / pooled) gives side / kernel; it must be `pooled`.
        const int kh = s.h / h.pooled, kw = s.w / h.pooled;
        const int oh = s.h / kh, ow = s.w / kw;
        if (oh != h.pooled || ow != h.pooled) {
            issue(path + ".pool", "fixed pooling cannot reduce " + sideText(s.h, s.w) + " to "
                                      + sideText(h.pooled, h.pooled) + " (kernel "
                                      + sideText(kh, kw) + " gives " + sideText(oh, ow)
                                      + "); use \"adaptive\"");
            return false;
        }
    }
    return true;
}

} // namespace spec_detail

using spec_detail::addSat;
using spec_detail::Checker;
using spec_detail::joinIssues;

Result<SpecSummary> summarizeSpec(const Spec &spec)
{
    std::vector<SpecIssue> issues;
    SpecSummary summary;
    try {
        Checker checker(spec, issues);
        checker.checkRanges();
        checker.inferShapes(&summary.stages);
    } catch (const std::exception &e) {
        return fail(std::string("cannot summarize the spec: ") + e.what());
    }
    if (!issues.empty())
        return fail(joinIssues(issues, ""));
    for (const auto &st : summary.stages) {
        summary.trunkParams = addSat(summary.trunkParams, st.blockParams);
        summary.trunkMacs = addSat(summary.trunkMacs, st.blockMacs);
    }
    summary.totalParams = addSat(summary.trunkParams, summary.stages.back().headParams);
    summary.totalMacs = addSat(summary.trunkMacs, summary.stages.back().headMacs);
    return summary;
}

} // namespace lw
