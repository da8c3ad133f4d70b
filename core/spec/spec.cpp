#include "core/spec/spec.h"

#include "core/util/fsutil.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <climits>
#include <cmath>
#include <exception>
#include <functional>
#include <initializer_list>
#include <limits>
#include <set>
#include <type_traits>
#include <utility>

namespace lw {

namespace {

using Json = nlohmann::ordered_json;

constexpr const char *kFormatName = "layerwise-spec";
constexpr std::uint64_t kMaxSpecBytes = 16ull << 20;

// Upper bounds that keep every shape and cost computation far from overflow.
constexpr int kMaxChannels = 4096;
constexpr int kMaxSide = 16384;
constexpr int kMaxClasses = 1000000;
constexpr int kMaxWidth = 65536;
constexpr int kMaxEpochs = 100000;
constexpr int kMaxBatch = 1 << 20;

template<typename E>
struct EnumName
{
    E value;
    const char *name;
};

constexpr EnumName<Downsample> kDownsampleNames[] = {{Downsample::None, "none"},
                                                     {Downsample::Psi, "psi"},
                                                     {Downsample::MaxPool, "maxpool"},
                                                     {Downsample::AvgPool, "avgpool"},
                                                     {Downsample::Stride, "stride"}};
constexpr EnumName<HeadKind> kHeadKindNames[] = {{HeadKind::Conv, "conv"}, {HeadKind::Mlp, "mlp"}};
constexpr EnumName<HeadPool> kHeadPoolNames[]
    = {{HeadPool::Fixed, "fixed"}, {HeadPool::Adaptive, "adaptive"}};
constexpr EnumName<EnsembleMode> kEnsembleNames[]
    = {{EnsembleMode::Logits, "logits"}, {EnsembleMode::Softmax, "softmax"}};
constexpr const char *kDatasetNames[]
    = {"fashion-mnist", "mnist", "kmnist", "cifar10", "cifar100", "imagefolder", "synthetic"};
constexpr const char *kPrecisionNames[] = {"fp32", "bf16", "fp16"};

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

std::string childPath(const std::string &path, std::string_view key)
{
    return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string itemPath(const std::string &path, std::size_t index)
{
    return path + "[" + std::to_string(index) + "]";
}

std::string numberText(double v)
{
    Json j = v;
    return j.dump();
}

/// "string \"abc\"", "number 3.5", "an array", ... for "expected X, got Y" messages.
std::string describe(const Json &v)
{
    switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return "number " + v.dump();
    case Json::value_t::string: {
        std::string s = v.dump();
        if (s.size() > 42)
            s = s.substr(0, 40) + "...\"";
        return "string " + s;
    }
    case Json::value_t::array: return "an array";
    case Json::value_t::object: return "an object";
    default: return "an unsupported value";
    }
}

/// Integral value of a JSON number (integral floats such as 3.0 are accepted).
bool asInt64(const Json &v, std::int64_t &out)
{
    if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            return false;
        out = static_cast<std::int64_t>(u);
        return true;
    }
    if (v.is_number_integer()) {
        out = v.get<std::int64_t>();
        return true;
    }
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e18)
            return false;
        out = static_cast<std::int64_t>(d);
        return true;
    }
    return false;
}

/// Reads a parsed JSON document into a Spec: structure, types, enum names, unknown keys.
/// Ranges and shapes are left to checkSpec.
class Reader
{
public:
    explicit Reader(std::vector<SpecIssue> &issues)
        : m_issues(issues)
    {}

    void issue(const std::string &path, std::string message)
    {
        m_issues.push_back(SpecIssue{path, std::move(message), m_stage});
    }

    void readSpec(const Json &doc, Spec &spec)
    {
        if (!doc.is_object()) {
            issue("", "expected a JSON object (a layerwise spec), got " + describe(doc));
            return;
        }
        if (!object(doc, "",
                    {"format", "version", "name", "description", "input", "stages", "recipe"}))
            return;
        if (const Json *f = require(doc, "", "format")) {
            if (!f->is_string() || f->get<std::string>() != kFormatName)
                issue("format",
                      std::string("expected \"") + kFormatName + "\", got " + describe(*f));
        }
        if (const Json *v = require(doc, "", "version")) {
            std::int64_t version = 0;
            if (!asInt64(*v, version))
                issue("version", "expected an integer, got " + describe(*v));
            else if (version != Spec::kFormatVersion)
                issue("version", "this Layerwise reads version "
                                     + std::to_string(Spec::kFormatVersion) + ", got "
                                     + std::to_string(version));
        }
        string(doc, "", "name", spec.name);
        string(doc, "", "description", spec.description);
        if (const Json *in = require(doc, "", "input"))
            readInput(*in, "input", spec.input);
        if (const Json *stages = require(doc, "", "stages")) {
            if (!stages->is_array()) {
                issue("stages", "expected an array of stages, got " + describe(*stages));
            } else {
                spec.stages.assign(stages->size(), StageSpec{});
                for (std::size_t i = 0; i < stages->size(); ++i) {
                    m_stage = static_cast<int>(i);
                    readStage((*stages)[i], itemPath("stages", i), spec.stages[i]);
                }
                m_stage = -1;
            }
        }
        if (const Json *recipe = find(doc, "recipe"))
            readRecipe(*recipe, "recipe", spec.recipe);
    }

private:
    void readInput(const Json &v, const std::string &path, InputSpec &in)
    {
        if (!object(v, path, {"channels", "height", "width", "classes", "downsample"}))
            return;
        for (const char *key : {"channels", "height", "width", "classes"})
            require(v, path, key);
        integer(v, path, "channels", in.channels);
        integer(v, path, "height", in.height);
        integer(v, path, "width", in.width);
        integer(v, path, "classes", in.classes);
        enumeration(v, path, "downsample", in.downsample, kDownsampleNames);
    }

    void readStage(const Json &v, const std::string &path, StageSpec &stage)
    {
        if (!object(v, path, {"width", "kernel", "downsample", "bn", "bias", "head"}))
            return;
        require(v, path, "width");
        integer(v, path, "width", stage.width);
        integer(v, path, "kernel", stage.kernel);
        enumeration(v, path, "downsample", stage.downsample, kDownsampleNames);
        boolean(v, path, "bn", stage.bn);
        stage.bias = !stage.bn;
        boolean(v, path, "bias", stage.bias);
        if (const Json *head = find(v, "head"))
            readHead(*head, childPath(path, "head"), stage.head);
    }

    void readHead(const Json &v, const std::string &path, HeadSpec &head)
    {
        if (!object(v, path,
                    {"kind", "k", "width", "pooled", "pool", "padding", "bn", "dropout",
                     "maxpool_first"}))
            return;
        enumeration(v, path, "kind", head.kind, kHeadKindNames);
        integer(v, path, "k", head.k);
        integer(v, path, "width", head.width);
        integer(v, path, "pooled", head.pooled);
        enumeration(v, path, "pool", head.pool, kHeadPoolNames);
        integer(v, path, "padding", head.padding);
        boolean(v, path, "bn", head.bn);
        number(v, path, "dropout", head.dropout);
        boolean(v, path, "maxpool_first", head.maxpoolFirst);
    }

    void readRecipe(const Json &v, const std::string &path, RecipeSpec &r)
    {
        if (!object(v, path,
                    {"dataset", "epochs_per_stage", "batch_size", "test_batch_size", "optimizer",
                     "lr", "augment", "normalize", "ensemble", "e2e", "precision", "seed"}))
            return;
        if (const Json *d = find(v, "dataset")) {
            const std::string p = childPath(path, "dataset");
            if (object(*d, p, {"name", "path", "train_limit", "test_limit"})) {
                string(*d, p, "name", r.dataset.name);
                string(*d, p, "path", r.dataset.path);
                integer64(*d, p, "train_limit", r.dataset.trainLimit);
                integer64(*d, p, "test_limit", r.dataset.testLimit);
            }
        }
        integer(v, path, "epochs_per_stage", r.epochsPerStage);
        integer(v, path, "batch_size", r.batchSize);
        integer(v, path, "test_batch_size", r.testBatchSize);
        if (const Json *o = find(v, "optimizer")) {
            const std::string p = childPath(path, "optimizer");
            if (object(*o, p, {"momentum", "weight_decay", "nesterov"})) {
                number(*o, p, "momentum", r.optimizer.momentum);
                number(*o, p, "weight_decay", r.optimizer.weightDecay);
                boolean(*o, p, "nesterov", r.optimizer.nesterov);
            }
        }
        if (const Json *lr = find(v, "lr"))
            readLr(*lr, childPath(path, "lr"), r.lr);
        if (const Json *a = find(v, "augment")) {
            const std::string p = childPath(path, "augment");
            if (object(*a, p,
                       {"enabled", "padding", "flip", "random_resized_crop", "eval_resize"})) {
                boolean(*a, p, "enabled", r.augment.enabled);
                integer(*a, p, "padding", r.augment.padding);
                boolean(*a, p, "flip", r.augment.flip);
                boolean(*a, p, "random_resized_crop", r.augment.randomResizedCrop);
                integer(*a, p, "eval_resize", r.augment.evalResize);
            }
        }
        if (const Json *n = find(v, "normalize")) {
            const std::string p = childPath(path, "normalize");
            if (object(*n, p, {"mean", "std", "from_data"})) {
                numbers(*n, p, "mean", r.normalize.mean);
                numbers(*n, p, "std", r.normalize.std);
                boolean(*n, p, "from_data", r.normalize.fromData);
            }
        }
        enumeration(v, path, "ensemble", r.ensemble, kEnsembleNames);
        if (const Json *e = find(v, "e2e")) {
            const std::string p = childPath(path, "e2e");
            if (object(*e, p, {"epochs", "lr"})) {
                integer(*e, p, "epochs", r.e2e.epochs);
                if (const Json *lr = find(*e, "lr"))
                    readLr(*lr, childPath(p, "lr"), r.e2e.lr);
            }
        }
        string(v, path, "precision", r.precision);
        unsigned64(v, path, "seed", r.seed);
    }

    void readLr(const Json &v, const std::string &path, LrSchedule &lr)
    {
        if (!object(v, path, {"initial", "factor", "every", "milestones", "reset_optimizer"}))
            return;
        number(v, path, "initial", lr.initial);
        number(v, path, "factor", lr.factor);
        // Milestones without "every" mean a milestone schedule, not both.
        if (find(v, "milestones") && !find(v, "every"))
            lr.every = 0;
        integer(v, path, "every", lr.every);
        integers(v, path, "milestones", lr.milestones);
        boolean(v, path, "reset_optimizer", lr.resetOptimizer);
    }

    /// Reports a non-object and unknown keys; true when `v` is an object.
    bool object(const Json &v, const std::string &path, std::initializer_list<const char *> keys)
    {
        if (!v.is_object()) {
            issue(path, "expected an object, got " + describe(v));
            return false;
        }
        for (auto it = v.begin(); it != v.end(); ++it) {
            bool known = false;
            for (const char *key : keys)
                known = known || it.key() == key;
            if (!known) {
                std::string list;
                for (const char *key : keys)
                    list += (list.empty() ? "" : ", ") + std::string(key);
                issue(childPath(path, it.key()), "unknown key (expected one of: " + list + ")");
            }
        }
        return true;
    }

    static const Json *find(const Json &obj, const char *key)
    {
        auto it = obj.find(key);
        return it == obj.end() ? nullptr : &*it;
    }

    const Json *require(const Json &obj, const std::string &path, const char *key)
    {
        const Json *v = find(obj, key);
        if (!v)
            issue(childPath(path, key), "missing (required)");
        return v;
    }

    void integer(const Json &obj, const std::string &path, const char *key, int &out)
    {
        std::int64_t v = 0;
        if (integer64(obj, path, key, v)) {
            if (v < INT_MIN || v > INT_MAX)
                issue(childPath(path, key), "out of range, got " + std::to_string(v));
            else
                out = static_cast<int>(v);
        }
    }

    bool integer64(const Json &obj, const std::string &path, const char *key, std::int64_t &out)
    {
        const Json *v = find(obj, key);
        if (!v)
            return false;
        if (!asInt64(*v, out)) {
            issue(childPath(path, key), "expected an integer, got " + describe(*v));
            return false;
        }
        return true;
    }

    void unsigned64(const Json &obj, const std::string &path, const char *key, std::uint64_t &out)
    {
        const Json *v = find(obj, key);
        if (!v)
            return;
        if (v->is_number_unsigned()) {
            out = v->get<std::uint64_t>();
            return;
        }
        std::int64_t s = 0;
        if (!asInt64(*v, s))
            issue(childPath(path, key), "expected a non-negative integer, got " + describe(*v));
        else if (s < 0)
            issue(childPath(path, key), "must be >= 0, got " + std::to_string(s));
        else
            out = static_cast<std::uint64_t>(s);
    }

    void number(const Json &obj, const std::string &path, const char *key, double &out)
    {
        const Json *v = find(obj, key);
        if (!v)
            return;
        if (!v->is_number())
            issue(childPath(path, key), "expected a number, got " + describe(*v));
        else
            out = v->get<double>();
    }

    void boolean(const Json &obj, const std::string &path, const char *key, bool &out)
    {
        const Json *v = find(obj, key);
        if (!v)
            return;
        if (!v->is_boolean())
            issue(childPath(path, key), "expected true or false, got " + describe(*v));
        else
            out = v->get<bool>();
    }

    void string(const Json &obj, const std::string &path, const char *key, std::string &out)
    {
        const Json *v = find(obj, key);
        if (!v)
            return;
        if (!v->is_string())
            issue(childPath(path, key), "expected a string, got " + describe(*v));
        else
            out = v->get<std::string>();
    }

    template<typename E, std::size_t N>
    void enumeration(const Json &obj, const std::string &path, const char *key, E &out,
                     const EnumName<E> (&table)[N])
    {
        const Json *v = find(obj, key);
        if (!v)
            return;
        if (v->is_string()) {
            const auto s = v->get<std::string>();
            for (const auto &entry : table) {
                if (s == entry.name) {
                    out = entry.value;
                    return;
                }
            }
        }
        issue(childPath(path, key),
              "expected one of " + quotedList(table) + "; got " + describe(*v));
    }

    void numbers(const Json &obj, const std::string &path, const char *key,
                 std::vector<double> &out)
    {
        const Json *v = find(obj, key);
        if (!v)
            return;
        const std::string p = childPath(path, key);
        if (!v->is_array()) {
            issue(p, "expected an array of numbers, got " + describe(*v));
            return;
        }
        std::vector<double> values;
        for (std::size_t i = 0; i < v->size(); ++i) {
            const Json &e = (*v)[i];
            if (!e.is_number())
                issue(itemPath(p, i), "expected a number, got " + describe(e));
            else
                values.push_back(e.get<double>());
        }
        if (values.size() == v->size())
            out = std::move(values);
    }

    void integers(const Json &obj, const std::string &path, const char *key, std::vector<int> &out)
    {
        const Json *v = find(obj, key);
        if (!v)
            return;
        const std::string p = childPath(path, key);
        if (!v->is_array()) {
            issue(p, "expected an array of integers, got " + describe(*v));
            return;
        }
        std::vector<int> values;
        for (std::size_t i = 0; i < v->size(); ++i) {
            std::int64_t x = 0;
            if (!asInt64((*v)[i], x))
                issue(itemPath(p, i), "expected an integer, got " + describe((*v)[i]));
            else if (x < INT_MIN || x > INT_MAX)
                issue(itemPath(p, i), "out of range, got " + std::to_string(x));
            else
                values.push_back(static_cast<int>(x));
        }
        if (values.size() == v->size())
            out = std::move(values);
    }

    std::vector<SpecIssue> &m_issues;
    int m_stage = -1;
};

/// Thrown by DuplicateKeyFinder to stop parsing a document nested deeper than any spec.
struct TooDeep
{};

/// Tracks JSON paths while nlohmann parses, to report duplicate keys (which the DOM would
/// silently merge), and stops documents nested absurdly deep (a spec is about 5 levels).
class DuplicateKeyFinder
{
public:
    static constexpr std::size_t kMaxDepth = 64;

    explicit DuplicateKeyFinder(std::vector<SpecIssue> &issues)
        : m_issues(issues)
    {}

    bool operator()(int, Json::parse_event_t event, Json &parsed)
    {
        using E = Json::parse_event_t;
        switch (event) {
        case E::object_start:
        case E::array_start:
            if (m_frames.size() >= kMaxDepth)
                throw TooDeep{};
            {
                std::string segment = next();
                m_frames.push_back(Frame{event == E::array_start, -1, {}, {}, std::move(segment)});
            }
            break;
        case E::key:
            if (!m_frames.empty()) {
                Frame &f = m_frames.back();
                f.key = parsed.is_string() ? parsed.get<std::string>() : std::string();
                if (!f.keys.insert(f.key).second)
                    m_issues.push_back(SpecIssue{childPath(path(), f.key),
                                                 "duplicate key (each key may appear once)", -1});
            }
            break;
        case E::value: next(); break;
        case E::object_end:
        case E::array_end:
            if (!m_frames.empty())
                m_frames.pop_back();
            break;
        }
        return true;
    }

private:
    struct Frame
    {
        bool array = false;
        int index = -1;
        std::string key;
        std::set<std::string> keys;
        std::string segment; ///< this container's key or [index] within its parent
    };

    /// Segment of the value that starts now (advances the enclosing array's index).
    std::string next()
    {
        if (m_frames.empty())
            return {};
        Frame &f = m_frames.back();
        if (f.array)
            return "[" + std::to_string(++f.index) + "]";
        return f.key;
    }

    /// Path of the innermost open container.
    std::string path() const
    {
        std::string out;
        for (const Frame &f : m_frames) {
            if (f.segment.empty() || f.segment.front() == '[')
                out += f.segment;
            else
                out = childPath(out, f.segment);
        }
        return out;
    }

    std::vector<SpecIssue> &m_issues;
    std::vector<Frame> m_frames;
};

/// "not valid JSON at line 3, column 7: <nlohmann's reason>".
std::string parseErrorText(std::string_view text, const nlohmann::json::parse_error &e)
{
    const std::size_t at = std::min<std::size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
    int line = 1;
    std::size_t lineStart = 0;
    for (std::size_t i = 0; i < at && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            lineStart = i + 1;
        }
    }
    const std::size_t column = at - lineStart + 1;
    std::string reason = e.what();
    const auto head = reason.find("parse error");
    if (head != std::string::npos) {
        const auto colon = reason.find(": ", head);
        if (colon != std::string::npos)
            reason = reason.substr(colon + 2);
    }
    return "not valid JSON at line " + std::to_string(line) + ", column " + std::to_string(column)
           + ": " + reason;
}

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

// ---- semantic checks ---------------------------------------------------------------------

std::int64_t mulSat(std::int64_t a, std::int64_t b)
{
    std::int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r))
        return std::numeric_limits<std::int64_t>::max();
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
        return std::numeric_limits<std::int64_t>::max();
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

class Checker
{
public:
    Checker(const Spec &spec, std::vector<SpecIssue> &issues)
        : m_spec(spec)
        , m_issues(issues)
    {}

    /// Range checks of every field; returns false for the parts that make shapes unknowable.
    void checkRanges()
    {
        const InputSpec &in = m_spec.input;
        const std::size_t before = m_issues.size();
        range("input.channels", in.channels, 1, kMaxChannels);
        range("input.height", in.height, 1, kMaxSide);
        range("input.width", in.width, 1, kMaxSide);
        range("input.classes", in.classes, 2, kMaxClasses);
        if (in.downsample != Downsample::None && in.downsample != Downsample::Psi)
            issue("input.downsample", std::string("must be \"none\" or \"psi\", got \"")
                                          + toString(in.downsample) + "\"");
        m_inputOk = m_issues.size() == before;

        if (m_spec.stages.empty())
            issue("stages", "must have at least one stage");
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

    /// Shape inference with its issues; fills `costs` for the stages it could infer.
    void inferShapes(std::vector<StageCost> *costs)
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
        for (std::size_t i = 0; i < m_spec.stages.size(); ++i) {
            if (!m_stageOk[i])
                return;
            m_stage = static_cast<int>(i);
            StageCost cost;
            if (!stageCost(m_spec.stages[i], itemPath("stages", i), s, cost))
                return;
            if (costs)
                costs->push_back(cost);
            s = cost.out;
        }
        m_stage = -1;
    }

private:
    void issue(const std::string &path, std::string message)
    {
        m_issues.push_back(SpecIssue{path, std::move(message), m_stage});
    }

    template<typename T>
    void range(const std::string &path, T v, T lo, T hi)
    {
        if (v < lo) {
            issue(path, (lo == 1 ? std::string("must be > 0") : "must be >= " + std::to_string(lo))
                            + ", got " + std::to_string(v));
        } else if (v > hi) {
            issue(path, "must be at most " + std::to_string(hi) + ", got " + std::to_string(v));
        }
    }

    void checkStage(const StageSpec &st, const std::string &path)
    {
        range(path + ".width", st.width, 1, kMaxWidth);
        if (st.kernel < 1 || st.kernel > 11 || st.kernel % 2 == 0)
            issue(path + ".kernel",
                  "must be an odd number from 1 to 11, got " + std::to_string(st.kernel));
        const HeadSpec &h = st.head;
        const std::string hp = path + ".head";
        if (h.k < 1 || h.k > 3)
            issue(hp + ".k", "must be 1, 2 or 3, got " + std::to_string(h.k));
        range(hp + ".width", h.width, 1, kMaxWidth);
        range(hp + ".pooled", h.pooled, 1, kMaxSide);
        if (h.padding < 0 || h.padding > 1)
            issue(hp + ".padding", "must be 0 or 1, got " + std::to_string(h.padding));
        if (!(h.dropout >= 0.0 && h.dropout < 1.0))
            issue(hp + ".dropout", "must be in [0, 1), got " + numberText(h.dropout));
    }

    void checkLr(const LrSchedule &lr, const std::string &path)
    {
        if (!(std::isfinite(lr.initial) && lr.initial > 0.0))
            issue(path + ".initial", "must be > 0, got " + numberText(lr.initial));
        if (!(std::isfinite(lr.factor) && lr.factor > 1.0))
            issue(path + ".factor",
                  "must be > 1 (the LR is divided by it), got " + numberText(lr.factor));
        range(path + ".every", lr.every, 0, kMaxEpochs);
        for (std::size_t i = 0; i < lr.milestones.size(); ++i) {
            const int m = lr.milestones[i];
            if (m < 1)
                issue(itemPath(path + ".milestones", i),
                      "must be >= 1 (the epoch at which the new LR starts), got "
                          + std::to_string(m));
            else if (i > 0 && m <= lr.milestones[i - 1])
                issue(itemPath(path + ".milestones", i),
                      "milestones must be increasing, got " + std::to_string(m) + " after "
                          + std::to_string(lr.milestones[i - 1]));
        }
        if (lr.every > 0 && !lr.milestones.empty())
            issue(path, "set either \"every\" or \"milestones\", not both");
    }

    void checkRecipe(const RecipeSpec &r, const std::string &path)
    {
        bool knownDataset = false;
        for (const char *n : kDatasetNames)
            knownDataset = knownDataset || r.dataset.name == n;
        if (!knownDataset)
            issue(path + ".dataset.name", "expected one of " + quotedList(kDatasetNames)
                                              + "; got \"" + r.dataset.name + "\"");
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
        if (!(std::isfinite(o.weightDecay) && o.weightDecay >= 0.0))
            issue(path + ".optimizer.weight_decay",
                  "must be >= 0, got " + numberText(o.weightDecay));
        if (o.nesterov && !(o.momentum > 0.0))
            issue(path + ".optimizer.nesterov", "Nesterov momentum needs momentum > 0");

        checkLr(r.lr, path + ".lr");

        const AugmentSpec &a = r.augment;
        range(path + ".augment.padding", a.padding, 0, 1024);
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
            for (std::size_t i = 0; i < n.mean.size(); ++i) {
                if (!std::isfinite(n.mean[i]))
                    issue(itemPath(path + ".normalize.mean", i), "must be a finite number");
            }
            for (std::size_t i = 0; i < n.std.size(); ++i) {
                if (!(std::isfinite(n.std[i]) && n.std[i] > 0.0))
                    issue(itemPath(path + ".normalize.std", i),
                          "must be > 0, got " + numberText(n.std[i]));
            }
            if (n.fromData)
                issue(path + ".normalize.from_data", "set either mean/std or from_data, not both");
        }

        range(path + ".e2e.epochs", r.e2e.epochs, 0, kMaxEpochs);
        checkLr(r.e2e.lr, path + ".e2e.lr");

        bool knownPrecision = false;
        for (const char *p : kPrecisionNames)
            knownPrecision = knownPrecision || r.precision == p;
        if (!knownPrecision)
            issue(path + ".precision", "expected one of " + quotedList(kPrecisionNames) + "; got \""
                                           + r.precision + "\"");
    }

    /// Block and head of one stage on input `in`; false (with an issue) when impossible.
    bool stageCost(const StageSpec &st, const std::string &path, Shape in, StageCost &cost)
    {
        std::string origin = "the output of stage " + std::to_string(m_stage - 1);
        if (m_stage == 0)
            origin
                = m_spec.input.downsample == Downsample::Psi ? "the input after psi" : "the input";
        cost.in = in;
        Shape convIn = in;
        int outH = in.h, outW = in.w;
        const int k = st.kernel;
        switch (st.downsample) {
        case Downsample::None: break;
        case Downsample::Psi:
            if (in.h % 2 != 0 || in.w % 2 != 0) {
                issue(path + ".downsample", "psi needs an even height and width, got "
                                                + shapeText(in) + " (" + origin + ")");
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
                                                + " (2x2, stride 2) would take " + shapeText(in)
                                                + " (" + origin + ") below 1 pixel");
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
            cost.blockParams += st.width;
        if (st.bn)
            cost.blockParams += 2 * static_cast<std::int64_t>(st.width);
        cost.blockMacs = mulSat({outH, outW, st.width, convIn.c, k, k});
        cost.activationBytes = mulSat({cost.out.c, cost.out.h, cost.out.w, 4});
        return headCost(st.head, path + ".head", cost);
    }

    bool headCost(const HeadSpec &h, const std::string &path, StageCost &cost)
    {
        const std::int64_t classes = m_spec.input.classes;
        Shape s = cost.out;
        if (h.maxpoolFirst) {
            if (s.h < 2 || s.w < 2) {
                issue(path + ".maxpool_first", "a 2x2 max-pool would take the " + shapeText(s)
                                                   + " block output below 1 pixel");
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
                    params += 2 * static_cast<std::int64_t>(h.width);
                macs = addSat(macs, mulSat({nh, nw, h.width, s.c, 9}));
                s = Shape{h.width, nh, nw};
            }
        }
        if (!checkPooling(h, path, s))
            return false;
        const std::int64_t features = mulSat({s.c, h.pooled, h.pooled});
        if (h.kind == HeadKind::Conv) {
            if (h.bn)
                params += 2 * static_cast<std::int64_t>(s.c);
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

    bool checkPooling(const HeadSpec &h, const std::string &path, const Shape &s)
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

    const Spec &m_spec;
    std::vector<SpecIssue> &m_issues;
    int m_stage = -1;
    bool m_inputOk = true;
    std::vector<bool> m_stageOk;
};

// ---- serialization -----------------------------------------------------------------------

Json lrJson(const LrSchedule &lr)
{
    Json j;
    j["initial"] = lr.initial;
    j["factor"] = lr.factor;
    j["every"] = lr.every;
    j["milestones"] = lr.milestones;
    j["reset_optimizer"] = lr.resetOptimizer;
    return j;
}

Json recipeJson(const RecipeSpec &r)
{
    Json j;
    j["dataset"] = Json{{"name", r.dataset.name},
                        {"path", r.dataset.path},
                        {"train_limit", r.dataset.trainLimit},
                        {"test_limit", r.dataset.testLimit}};
    j["epochs_per_stage"] = r.epochsPerStage;
    j["batch_size"] = r.batchSize;
    j["test_batch_size"] = r.testBatchSize;
    j["optimizer"] = Json{{"momentum", r.optimizer.momentum},
                          {"weight_decay", r.optimizer.weightDecay},
                          {"nesterov", r.optimizer.nesterov}};
    j["lr"] = lrJson(r.lr);
    j["augment"] = Json{{"enabled", r.augment.enabled},
                        {"padding", r.augment.padding},
                        {"flip", r.augment.flip},
                        {"random_resized_crop", r.augment.randomResizedCrop},
                        {"eval_resize", r.augment.evalResize}};
    j["normalize"] = Json{
        {"mean", r.normalize.mean}, {"std", r.normalize.std}, {"from_data", r.normalize.fromData}};
    j["ensemble"] = toString(r.ensemble);
    j["e2e"] = Json{{"epochs", r.e2e.epochs}, {"lr", lrJson(r.e2e.lr)}};
    j["precision"] = r.precision;
    j["seed"] = r.seed;
    return j;
}

std::string dumpJson(const Json &j)
{
    // Replace invalid UTF-8 (a name typed in by hand) instead of throwing.
    return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

} // namespace

const char *toString(Downsample d)
{
    return enumName(kDownsampleNames, d);
}

const char *toString(HeadKind k)
{
    return enumName(kHeadKindNames, k);
}

const char *toString(HeadPool p)
{
    return enumName(kHeadPoolNames, p);
}

const char *toString(EnsembleMode m)
{
    return enumName(kEnsembleNames, m);
}

std::vector<SpecIssue> parseSpecDetailed(std::string_view json, Spec &spec)
{
    spec = Spec{};
    std::vector<SpecIssue> issues;
    try {
        Json doc;
        try {
            DuplicateKeyFinder duplicates(issues);
            doc = Json::parse(json.begin(), json.end(), std::ref(duplicates));
        } catch (const nlohmann::json::parse_error &e) {
            issues.push_back(SpecIssue{"", parseErrorText(json, e), -1});
            return issues;
        } catch (const TooDeep &) {
            issues.assign(1, SpecIssue{"",
                                       "not a layerwise spec: nested more than "
                                           + std::to_string(DuplicateKeyFinder::kMaxDepth)
                                           + " levels deep",
                                       -1});
            return issues;
        } catch (const nlohmann::json::exception &e) {
            // e.g. a number too large for a double ("1e400")
            std::string what = e.what();
            if (const auto bracket = what.find("] "); bracket != std::string::npos)
                what = what.substr(bracket + 2);
            issues.assign(1, SpecIssue{"", "not valid JSON: " + what, -1});
            return issues;
        }
        Reader(issues).readSpec(doc, spec);
        // Shapes only when the parts they depend on were read cleanly: otherwise defaults
        // standing in for unreadable values would produce misleading shape errors.
        bool shapesReadable = true;
        for (const auto &i : issues) {
            if (i.path.empty() || i.path.rfind("input", 0) == 0 || i.path.rfind("stages", 0) == 0)
                shapesReadable = false;
        }
        std::vector<SpecIssue> checks;
        Checker checker(spec, checks);
        checker.checkRanges();
        if (shapesReadable)
            checker.inferShapes(nullptr);
        // A value that could not be read is reported once, not again as out of range.
        std::set<std::string> reported;
        for (const auto &i : issues)
            reported.insert(i.path);
        for (auto &i : checks) {
            if (!reported.count(i.path))
                issues.push_back(std::move(i));
        }
    } catch (const std::exception &e) {
        issues.push_back(SpecIssue{"", std::string("cannot read the spec: ") + e.what(), -1});
    }
    return issues;
}

Result<Spec> parseSpec(std::string_view json)
{
    Spec spec;
    const auto issues = parseSpecDetailed(json, spec);
    if (!issues.empty())
        return fail(joinIssues(issues, ""));
    return spec;
}

Result<Spec> loadSpecFile(const std::string &path)
{
    auto text = readFile(path, kMaxSpecBytes);
    if (!text)
        return text.error();
    Spec spec;
    const auto issues = parseSpecDetailed(*text, spec);
    if (!issues.empty())
        return fail(joinIssues(issues, path + ": "));
    return spec;
}

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

std::string serializeSpec(const Spec &spec)
{
    try {
        Json j;
        j["format"] = kFormatName;
        j["version"] = Spec::kFormatVersion;
        j["name"] = spec.name;
        j["description"] = spec.description;
        j["input"] = Json{{"channels", spec.input.channels},
                          {"height", spec.input.height},
                          {"width", spec.input.width},
                          {"classes", spec.input.classes},
                          {"downsample", toString(spec.input.downsample)}};
        Json stages = Json::array();
        for (const auto &st : spec.stages) {
            const HeadSpec &h = st.head;
            Json head{{"kind", toString(h.kind)},
                      {"k", h.k},
                      {"width", h.width},
                      {"pooled", h.pooled},
                      {"pool", toString(h.pool)},
                      {"padding", h.padding},
                      {"bn", h.bn},
                      {"dropout", h.dropout},
                      {"maxpool_first", h.maxpoolFirst}};
            stages.push_back(Json{{"width", st.width},
                                  {"kernel", st.kernel},
                                  {"downsample", toString(st.downsample)},
                                  {"bn", st.bn},
                                  {"bias", st.bias},
                                  {"head", std::move(head)}});
        }
        j["stages"] = std::move(stages);
        j["recipe"] = recipeJson(spec.recipe);
        return dumpJson(j);
    } catch (const std::exception &) {
        return {}; // only bad_alloc can get here
    }
}

std::string serializeRecipe(const RecipeSpec &recipe)
{
    try {
        return dumpJson(recipeJson(recipe));
    } catch (const std::exception &) {
        return {};
    }
}

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
