#pragma once

// Internal to lw_spec: what the reader, the checker, the shape inference and the writer share —
// the JSON type, the format's limits and enum names, path helpers, and the Checker that both
// validation (checker.cpp) and shape/cost inference (shapes.cpp) run.

#include "core/spec/spec.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace lw::spec_detail {

using Json = nlohmann::ordered_json;

inline constexpr const char *kFormatName = "layerwise-spec";
inline constexpr std::uint64_t kMaxSpecBytes = 16ull << 20;

inline constexpr int kMaxChannels = SpecLimits::maxChannels;
inline constexpr int kMaxSide = SpecLimits::maxSide;
inline constexpr int kMaxClasses = SpecLimits::maxClasses;
inline constexpr int kMaxWidth = SpecLimits::maxWidth;
inline constexpr int kMaxEpochs = SpecLimits::maxEpochs;
inline constexpr int kMaxBatch = SpecLimits::maxBatch;

template<typename E>
struct EnumName
{
    E value;
    const char *name;
};

inline constexpr EnumName<Downsample> kDownsampleNames[] = {{Downsample::None, "none"},
                                                            {Downsample::Psi, "psi"},
                                                            {Downsample::MaxPool, "maxpool"},
                                                            {Downsample::AvgPool, "avgpool"},
                                                            {Downsample::Stride, "stride"}};
inline constexpr EnumName<HeadKind> kHeadKindNames[]
    = {{HeadKind::Conv, "conv"}, {HeadKind::Mlp, "mlp"}};
inline constexpr EnumName<HeadPool> kHeadPoolNames[]
    = {{HeadPool::Fixed, "fixed"}, {HeadPool::Adaptive, "adaptive"}};
inline constexpr EnumName<EnsembleMode> kEnsembleNames[]
    = {{EnsembleMode::Logits, "logits"}, {EnsembleMode::Softmax, "softmax"}};
inline constexpr const char *kDatasetNames[]
    = {"fashion-mnist", "mnist", "kmnist", "cifar10", "cifar100", "imagefolder", "synthetic"};
inline constexpr const char *kPrecisionNames[] = {"fp32", "bf16", "fp16"};

template<typename E, std::size_t N>
const char *enumName(const EnumName<E> (&table)[N], E value)
{
    for (const auto &entry : table) {
        if (entry.value == value)
            return entry.name;
    }
    return "?";
}

template<typename T, std::size_t N>
std::string quotedList(const T (&names)[N])
{
    std::string out;
    for (std::size_t i = 0; i < N; ++i) {
        if (i > 0)
            out += ", ";
        if constexpr (std::is_same_v<T, const char *>)
            out += std::string("\"") + names[i] + "\"";
        else
            out += std::string("\"") + names[i].name + "\"";
    }
    return out;
}

inline std::string childPath(const std::string &path, std::string_view key)
{
    return path.empty() ? std::string(key) : path + "." + std::string(key);
}

inline std::string itemPath(const std::string &path, std::size_t index)
{
    return path + "[" + std::to_string(index) + "]";
}

inline std::string numberText(double v)
{
    // JSON has no NaN or infinity (nlohmann would print "null"); values built in memory can.
    if (std::isnan(v))
        return "nan";
    if (std::isinf(v))
        return v > 0 ? "inf" : "-inf";
    Json j = v;
    return j.dump();
}

/// One issue per line, each starting with `prefix`.
std::string joinIssues(const std::vector<SpecIssue> &issues, const std::string &prefix);

/// Range checks (checker.cpp) and shape inference with costs (shapes.cpp) of a Spec in memory.
/// Issues carry the index of the stage concerned; the prose in them numbers stages from 1.
class Checker
{
public:
    Checker(const Spec &spec, std::vector<SpecIssue> &issues)
        : m_spec(spec)
        , m_issues(issues)
    {}

    /// Range checks of every field; notes the parts that make shapes unknowable.
    void checkRanges();

    /// Shape inference with its issues; fills `costs` for the stages it could infer.
    void inferShapes(std::vector<StageCost> *costs);

private:
    void issue(const std::string &path, std::string message)
    {
        m_issues.push_back(SpecIssue{path, std::move(message), m_stage});
    }

    template<typename T>
    void range(const std::string &path, T v, T lo, T hi);
    void checkStage(const StageSpec &st, const std::string &path);
    /// `epochs`: the epochs the schedule runs over (named by `epochsPath`); milestones must fall
    /// inside them.
    void checkLr(const LrSchedule &lr, const std::string &path, int epochs,
                 const std::string &epochsPath);
    void checkRecipe(const RecipeSpec &r, const std::string &path);

    /// Block and head of one stage on input `in`; false (with an issue) when impossible.
    bool stageCost(const StageSpec &st, const std::string &path, Shape in, StageCost &cost);
    bool headCost(const HeadSpec &h, const std::string &path, StageCost &cost);
    bool checkPooling(const HeadSpec &h, const std::string &path, const Shape &s);

    const Spec &m_spec;
    std::vector<SpecIssue> &m_issues;
    int m_stage = -1;
    bool m_inputOk = true;
    std::vector<bool> m_stageOk;
};

} // namespace lw::spec_detail
